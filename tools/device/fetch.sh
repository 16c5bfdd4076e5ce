#!/bin/sh
# Prepare what tools/device/check.sh needs on a lent NVIDIA machine, which reaches no network:
#   .gl/      the EGL/GL loader packages (Debian .deb, amd64), unpacked there over /
#   .whl/     CPython 3.12 x86-64 wheels of this project's dependencies that the machine's
#             image lacks (it has numpy, Pillow, torch, pytest, hypothesis, httpx, ...)
#   .shared/  a copy of the shared specs and the 2018 fixture (../shared does not travel)
# Run once, here, in the repository root; all three are ignored by git and travel with `carry`.
# Then (device tool): run(command="sh tools/device/check.sh", carry=[".gl", ".whl", ".shared"]).
# PYVER=3.11 fetches wheels for this machine's Python instead, to try check.sh here on llvmpipe.
set -eu
cd "$(dirname "$0")/../.."
PYVER="${PYVER:-3.12}"
PIP="${PIP:-python3 -m pip}"

for d in .gl .whl .shared; do
  grep -qx "/$d/" .git/info/exclude 2>/dev/null || echo "/$d/" >> .git/info/exclude
done

# The loaders, as the device tool's README gives them (the machine has the NVIDIA driver only).
if ! ls .gl/*.deb >/dev/null 2>&1; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update -qq
  (cd .gl && apt-get $o download libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

# One version of each (pinned to what the project is tested with), no dependencies pulled in:
# each one the image lacks is named here.
WHEELS="moderngl==5.13.0 glcontext==3.1.0 glfw==2.11.0 simplejpeg==1.9.0 trimesh==5.2.0 lmdb==3.0.0
webdataset==1.0.2 braceexpand==0.1.7 fastapi==0.165.0 starlette==1.10.0 pydantic==2.14.4
pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 uvicorn==0.54.0 httptools==0.9.0"
rm -rf .whl && mkdir .whl
for w in $WHEELS; do
  $PIP download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform manylinux_2_5_x86_64 \
    --platform manylinux_2_34_x86_64 --platform manylinux_2_31_x86_64 -d .whl "$w"
done

# The specs and the 2018 fixture; check.sh points the tests at them with CLPR_FIXTURE.
src="${SHARED:-../shared}"
rm -rf .shared && cp -r "$src" .shared

du -sh .gl .whl .shared
echo "ready: run(command=\"sh tools/device/check.sh\", carry=[\".gl\", \".whl\", \".shared\"], timeout_s=540)"
