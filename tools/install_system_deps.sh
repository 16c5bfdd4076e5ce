#!/bin/sh
# System packages the test suite needs beyond Python's: a virtual X display and an X event
# driver for the preview window tests. Mesa's EGL (llvmpipe) is expected on the machine already.
# Installs only what is missing; uses sudo when not root.
set -eu
missing=""
command -v Xvfb >/dev/null 2>&1 || missing="$missing xvfb"
command -v xdotool >/dev/null 2>&1 || missing="$missing xdotool"
[ -z "$missing" ] && exit 0
as_root=""
[ "$(id -u)" -eq 0 ] || as_root="sudo"
echo "installing:$missing" >&2
$as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends $missing >/dev/null
