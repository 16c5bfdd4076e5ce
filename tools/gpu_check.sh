#!/usr/bin/env bash
# The GPU figures of docs/PERFORMANCE.md, measured on any Linux machine with an NVIDIA GPU, from a
# checkout of this repository:
#
#   bash tools/gpu_check.sh [RESULTS]     # RESULTS: a new or empty folder, default ./gpu-check
#
# It needs python3 (>= 3.10, with venv), the NVIDIA driver and an EGL loader (Debian/Ubuntu:
# `apt-get install libegl1`). Then, in order:
#
#   install   uses ./.venv when it already holds the project and its [test,serve] extras;
#             otherwise makes ./.venv (when missing) and runs pip install '.[test,serve]' into it
#   probe     creates an EGL context with moderngl and stops unless GL_RENDERER names NVIDIA (on
#             Mesa's llvmpipe the figures would be CPU figures; ALLOW_ANY_RENDERER=1 goes on anyway)
#   readback  tools/bench_readback.py: RGB, RGBA and a PBO ring at 64 and 256 px
#   tests     the test suite on the GPU (parity with the CPU reference, the 2018 bytes, streams,
#             service); not the Ray, window and wheel tests, which need root mounts, a display
#             and the network rather than a GPU (the README's test command runs them)
#   builds    render + readback at 256 px (target >= 100000 poses/s), the step-0.3 JPEG build
#             against the Pillow floor, the full cLPR build (<= 30 s) and its verify, npy at
#             64 px over the full grid (<= 5 s)
#   wds       the step-0.3 --format wds build against the floor (<= 0.6x)
#   symsol    --preset symsol --views 2000,200 against its floor (<= 0.6x)
#   stream    StreamingDataset against the jpg Dataset, 64 and 224 px (>= 1x)
#   serve     the service's table, and batching at 32 clients x 1 pose (>= 5x)
#   scene     the scene renderer's poses/s at 224 px (pyrender is not installed)
#
# Each step is bounded by its own timeout, so one that hangs costs only its own minutes: about
# 7 minutes in all are expected on a 16-core machine with one GPU, 29 at most. RESULTS receives gpu-check.log (every step's output,
# as it runs), machine.txt (date, commit, GPU, driver, Python), renderer.txt, steps.tsv (each
# step's exit status and seconds) and each step's JSON (or JUnit XML for the tests). Copy the
# figures into docs/PERFORMANCE.md with the date, the machine and this command. The exit status
# is 0 when every step passed, 1 when the probe or a step failed, 2 for bad input.
#
# Environment:
#   STEPS="readback builds"  run only these steps (the probe always runs first)
#   QUICK=1                  shrink every step to seconds: for trying the script itself; its
#                            figures are not the targets' figures
#   WORKERS=N                encoder processes of the builds (default: cores - 1)
#   ALLOW_ANY_RENDERER=1     go on when GL_RENDERER does not name NVIDIA
#   GPU_CHECK_PYTHON=PATH    use this interpreter as it is: no venv, no install
#   TMPDIR                   where the builds write their scratch output (a full JPEG build
#                            writes a million small files: prefer a local disk or tmpfs)
#
# Offline machines: the install step takes its packages from ./wheels when that folder holds
# wheels (pip --no-index), or from PIP_FIND_LINKS alongside the index (add PIP_NO_INDEX=1 for
# that folder alone). Prepare ./wheels on a machine with network access, the same CPU
# architecture and the same Python minor version, in the checkout's root:
#
#   python3 -m pip download -d wheels '.[test,serve]' hatchling
#
# (hatchling builds this project; pip download fetches every other dependency, torch included).
# Then copy the checkout, wheels/ with it, to the GPU machine and run this script there.
set -uo pipefail

usage_error() { echo "gpu_check.sh: $*" >&2; exit 2; }

ALL_STEPS="readback tests builds wds symsol stream serve scene"
STEPS="${STEPS:-$ALL_STEPS}"
for s in $STEPS; do
  case " $ALL_STEPS " in *" $s "*) ;; *) usage_error "unknown step '$s' in STEPS (steps: $ALL_STEPS)";; esac
done
[ $# -le 1 ] || usage_error "one argument at most, the results folder (got $#)"
case "${1:-}" in
  -h|--help) sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0;;
  -*) usage_error "unknown option '$1' (usage: bash tools/gpu_check.sh [RESULTS])";;
esac
Q="${QUICK:-0}"
[ "$Q" = 0 ] || [ "$Q" = 1 ] || usage_error "QUICK must be 0 or 1, got '$Q'"
case "${WORKERS:-1}" in ''|*[!0-9]*|0) usage_error "WORKERS must be a positive integer, got '${WORKERS:-}'";; esac

RES="${1:-gpu-check}"
[ -e "$RES" ] && [ ! -d "$RES" ] && usage_error "results folder $RES is a file"
if [ -d "$RES" ] && [ -n "$(ls -A "$RES")" ]; then
  usage_error "results folder $RES already holds files: name a new or empty folder"
fi
mkdir -p "$RES" 2>/dev/null || usage_error "cannot create the results folder $RES"
RES=$(cd "$RES" && pwd)

cd "$(dirname "$0")/.."
REPO=$PWD
LOG="$RES/gpu-check.log"
: >"$LOG"
NPROC=$(nproc)
WORKERS="${WORKERS:-$(( NPROC > 1 ? NPROC - 1 : 1 ))}"
export PYTHONUNBUFFERED=1

say() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG"; }
failed=""
# step NAME SECONDS COMMAND...: run one measurement, its output into the log, bounded in time.
step() {
  local name=$1 limit=$2; shift 2
  say "== $name (<= ${limit} s): $*"
  local t0=$SECONDS
  timeout -k 10 "$limit" "$@" >>"$LOG" 2>&1
  local rc=$?
  say "== $name: exit $rc after $(( SECONDS - t0 )) s"
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(( SECONDS - t0 ))" >>"$RES/steps.tsv"
  [ "$rc" = 0 ] || failed="$failed $name"
}
want() { case " $STEPS " in *" $1 "*) return 0;; esac; return 1; }

say "gpu_render GPU check: steps [$STEPS], $WORKERS encoder workers, QUICK=$Q, $NPROC cores; results in $RES"

# --- install ---------------------------------------------------------------------------------
if [ -n "${GPU_CHECK_PYTHON:-}" ]; then
  PY=$GPU_CHECK_PYTHON
else
  [ -x .venv/bin/python ] || python3 -m venv .venv >>"$LOG" 2>&1 || {
    say "could not make .venv with python3 -m venv (Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }
  PY=$REPO/.venv/bin/python
  # Everything the steps import, the [serve] extra's faster HTTP path (uvloop, httptools) included.
  if "$PY" -c "import importlib.metadata as m; m.version('gpu_render')
import moderngl, simplejpeg, trimesh, lmdb, torch, webdataset, pytest, fastapi, uvicorn, httpx, uvloop, httptools" \
      >/dev/null 2>&1; then
    say "install: .venv already holds the project and its extras"
  else
    from=""
    if ls wheels/*.whl >/dev/null 2>&1; then from="--no-index --find-links $REPO/wheels"; fi
    say "install: pip install '.[test,serve]' into .venv${from:+ from ./wheels}${PIP_FIND_LINKS:+ (find-links: $PIP_FIND_LINKS)}"
    # shellcheck disable=SC2086  # $from is a list of options
    "$PY" -m pip install -q $from '.[test,serve]' >>"$LOG" 2>&1 || {
      say "install failed (see $LOG); without network, prepare ./wheels as this script's header says"; exit 1; }
  fi
fi
# The checkout's code is what is measured, whatever version the venv holds.
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"

# Containers that mount the driver under /usr/local/nvidia keep its EGL vendor file there.
if ! ls /usr/share/glvnd/egl_vendor.d/*nvidia*.json /etc/glvnd/egl_vendor.d/*nvidia*.json >/dev/null 2>&1 \
    && [ -e /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ]; then
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "host: $(uname -srm), $NPROC cores"
  echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi not found')"
  echo "python: $("$PY" --version 2>&1)"
} >"$RES/machine.txt"
cat "$RES/machine.txt" >>"$LOG"

# --- probe -------------------------------------------------------------------------------------
renderer=$("$PY" -c "import moderngl
ctx = moderngl.create_context(standalone=True, backend='egl')
print(ctx.info['GL_RENDERER'])" 2>>"$LOG")
echo "${renderer:-none}" >"$RES/renderer.txt"
say "GL_RENDERER: ${renderer:-none (no EGL context: see the log)}"
case "$renderer" in
  *NVIDIA*) ;;
  *)
    if [ "${ALLOW_ANY_RENDERER:-0}" != 1 ]; then
      say "stopping: GL_RENDERER '${renderer:-none}' is not an NVIDIA GPU, so no figure would be a GPU figure (check the NVIDIA driver and its EGL library, libEGL_nvidia; ALLOW_ANY_RENDERER=1 goes on anyway)"
      exit 1
    fi
    say "going on with a non-NVIDIA renderer (ALLOW_ANY_RENDERER=1)";;
esac

S=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
trap 'rm -rf "$S"' EXIT

if [ "$Q" = 1 ]; then POSES=256; STEP=0.6; VIEWS=40,10; SPOSES=256; SCPOSES=256; SECS=1; REP=1; FULL="--step 0.3"
else POSES=9261; STEP=0.3; VIEWS=2000,200; SPOSES=2048; SCPOSES=2048; SECS=2; REP=3; FULL=""; fi

want readback && step readback 60 "$PY" tools/bench_readback.py --sizes 64,256 --poses $POSES --repeat 5 \
  --json "$RES/readback.json"

if want tests; then
  xdist=""  # pytest-xdist, where installed, spreads the tests over the cores
  "$PY" -c "import xdist" 2>/dev/null && xdist="-n $(( NPROC < 12 ? NPROC : 12 ))"
  # shellcheck disable=SC2086  # $xdist is empty or two words
  step tests 480 "$PY" -m pytest -q -p no:cacheprovider $xdist --ignore=tests/test_ray.py \
    --ignore=tests/test_preview.py --ignore=tests/test_wheel.py --junitxml="$RES/tests.xml" tests
fi

if want builds; then
  step build-step-jpg 120 "$PY" tools/bench.py --step $STEP --format jpg --workers "$WORKERS" \
    --stages render,floor,build --repeat $REP --tmp "$S" --json "$RES/step-jpg.json"
  # bash's time: wall, user and system seconds of the whole command, process start-up included
  step build-full 150 bash -c "time '$PY' -m gpu_render.build $FULL --workers $WORKERS --out '$S/full' \
    && cp '$S/full/manifest.json' '$RES/full-manifest.json'"
  step verify-full 90 "$PY" -m gpu_render.verify --sample 20000 --reference 16 "$S/full"
  rm -rf "$S/full"
  step build-npy64 60 bash -c "time '$PY' -m gpu_render.build $FULL --format npy --sizes 64 --workers $WORKERS \
    --out '$S/npy64' && cp '$S/npy64/manifest.json' '$RES/npy64-manifest.json'"
  rm -rf "$S/npy64"
fi

want wds && step wds 120 "$PY" tools/bench.py --step $STEP --format wds --workers "$WORKERS" \
  --stages floor,build --repeat $REP --tmp "$S" --json "$RES/step-wds.json"

want symsol && step symsol 150 "$PY" tools/bench_presets.py --views $VIEWS --workers "$WORKERS" --repeat 1 \
  --tmp "$S" --json "$RES/symsol.json"

want stream && step stream 150 "$PY" tools/bench_stream.py --objects cylO,icosa --sizes 64,224 \
  --poses $SPOSES --repeat $REP --json "$RES/stream.json"

if want serve; then
  step serve-32x1 90 "$PY" tools/bench_serve.py --object clpr-cube --size 224 --clients 32 --poses 1 \
    --seconds $SECS --repeat $REP --json "$RES/serve-32x1.json"
  step serve-table 150 "$PY" tools/bench_serve.py --object clpr-cube --size 224 --seconds 1 --repeat $REP \
    --json "$RES/serve-table.json"
fi

want scene && step scene 90 "$PY" tools/bench.py --mode scene --no-pyrender --objects icosa,mesh20k \
  --poses $SCPOSES --repeat $REP --json "$RES/scene.json"

if [ -n "$failed" ]; then
  say "done, with failed steps:$failed (see $LOG); results in $RES"
  exit 1
fi
say "done: every step passed; log $LOG, results in $RES"
