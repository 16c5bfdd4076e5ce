#!/bin/sh
# The Debian packages the test suite needs beyond Python's, installed when missing:
#   xvfb, xdotool                        a virtual X display and an X event driver (preview window tests)
#   libegl1 libegl-mesa0 libgl1-mesa-dri EGL and Mesa's OpenGL drivers (llvmpipe on a machine without a GPU)
#   chromium                             a headless browser (/usr/bin/chromium) for the service's /docs page
# A package counts as present when dpkg lists it installed. Nothing is done when all are;
# otherwise the package lists are updated once and only the missing ones are installed.
# Uses sudo when not root. On a system without dpkg and apt-get it only says what to install.
set -eu
PACKAGES="xvfb xdotool libegl1 libegl-mesa0 libgl1-mesa-dri chromium"

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install_system_deps.sh: not a Debian-like system; install the equivalents of: $PACKAGES" >&2
  exit 0
fi

missing=""
for p in $PACKAGES; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

as_root=""
[ "$(id -u)" -eq 0 ] || as_root="sudo"
echo "installing:$missing" >&2
wait_lock="-o DPkg::Lock::Timeout=600"  # another apt-get at work (unattended upgrades): wait for it
# shellcheck disable=SC2086
$as_root apt-get $wait_lock update -qq
# shellcheck disable=SC2086  # $wait_lock and $missing are word lists
$as_root env DEBIAN_FRONTEND=noninteractive apt-get $wait_lock install -y -qq --no-install-recommends $missing >/dev/null
