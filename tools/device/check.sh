#!/bin/bash
# The GPU checks, as one short script for a lent NVIDIA machine (the device tool's `run`):
#
#   sh tools/device/fetch.sh        # here, once: loaders, wheels and shared/ into ignored folders
#   run(command="bash tools/device/check.sh", carry=[".gl", ".whl", ".shared"], timeout_s=540)
#
# Steps, in order of what the open targets need most (each bounded by its own timeout, so one
# that hangs costs its own minutes only). Name some to run only those: `bash tools/device/check.sh
# readback builds`. What comes back under $OUT: check.log (every step's output, as it runs) and
# results.tar.gz (each step's JSON), rewritten after every step, so a run stopped at its limit
# still returns what it finished. Copy the figures into docs/PERFORMANCE.md with the date, the
# machine and these commands.
#
#   probe     GL_RENDERER through EGL; stops the script unless it names NVIDIA (ALLOW_CPU=1 goes on)
#   readback  tools/bench_readback.py: RGB, RGBA and a PBO ring at 64 and 256 px (issue 5's PBO item)
#   tests     the test suite on the GPU (parity with the CPU reference, the 2018 bytes, streams,
#             service), in parallel; not the Ray, window and wheel tests (no Ray, display or
#             network there)
#   builds    issue 5: render + readback at 256 px (>= 100000 poses/s), the step-0.3 JPEG build
#             against the Pillow floor, the full cLPR build (<= 30 s), npy at 64 px (<= 5 s)
#   wds       issue 12: the step-0.3 --format wds build against the floor (<= 0.6x)
#   symsol    issue 12: --preset symsol --views 2000,200 against its floor (<= 0.6x)
#   stream    issue 14: StreamingDataset against the jpg Dataset, 64 and 224 px (>= 1x)
#   serve     issue 14: the service table, and batching at 32 x 1 pose (>= 5x)
#   scene     issue 11: the scene renderer's poses/s at 224 px (pyrender is not on that machine)
#
# Time: never run on the GPU machine yet; estimated at about 7 minutes for every step there. With
# 15 minutes of device time (the machine's start included), run the steps the open issues need
# first, then the rest in a second call made at once (the machine stays warm for 30 s only):
#   run(command="bash tools/device/check.sh probe readback builds wds symsol", carry=[...], timeout_s=420)
#   run(command="bash tools/device/check.sh probe stream serve scene tests", carry=[...], timeout_s=420)
#
# QUICK=1 shrinks every step (for trying the script on a CPU machine with ALLOW_CPU=1 and
# PYVER=3.11 wheels); its figures are not the targets' figures.
set -u
cd "$(dirname "$0")/../.."
REPO=$PWD
OUT="${OUT:-/tmp/device-out}"
RES=$(mktemp -d /tmp/device-results.XXXXXX)  # fresh each run: only this run's results are packed
mkdir -p "$OUT" "$RES"
trap 'rm -rf "$RES" "${S:-}"' EXIT
LOG="$OUT/check.log"
PY="${PY:-python3}"
WORKERS="${WORKERS:-$(( $(nproc) - 1 ))}"
Q="${QUICK:-0}"
GLDIR="${GLDIR:-.gl}"     # the loader packages (fetch.sh)
WHLDIR="${WHLDIR:-.whl}"  # the wheels (fetch.sh)
STEPS="${*:-probe readback tests builds wds symsol stream serve scene}"
export PYTHONUNBUFFERED=1

say() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG"; }
pack() { tar -czf "$OUT/results.tar.gz" -C "$RES" . 2>/dev/null; }
# step NAME SECONDS COMMAND...: run one measurement, its output into the log, bounded in time.
step() {
  local name=$1 limit=$2; shift 2
  say "== $name (<= ${limit} s): $*"
  local t0=$SECONDS
  timeout -k 10 "$limit" "$@" >>"$LOG" 2>&1
  local rc=$?
  say "== $name: exit $rc after $(( SECONDS - t0 )) s"
  pack
  return 0
}
want() { case " $STEPS " in *" $1 "*) return 0;; esac; return 1; }

say "gpu_render device check: steps [$STEPS], $WORKERS encoder workers, QUICK=$Q, $(nproc) cores"

# --- set-up: the GL loaders and the wheels the machine's image lacks --------------------------
# Unpacked over / only on the NVIDIA machine (it has no loaders; a Mesa machine has its own).
if ls "$GLDIR"/*.deb >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && [ -d /usr/local/nvidia ]; then
  for f in "$GLDIR"/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
if [ -e /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ]; then
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
if ls "$WHLDIR"/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHLDIR"/*.whl \
    >>"$LOG" 2>&1 || { say "wheel install failed (see above)"; pack; exit 1; }
  export PYTHONPATH="/tmp/site:$REPO"
else
  export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
fi
[ -d .shared/fixtures/clpr-original ] && export CLPR_FIXTURE="$REPO/.shared/fixtures/clpr-original"
(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; $PY --version) >>"$LOG" 2>&1

# --- probe ---------------------------------------------------------------------------------------
if want probe; then
  renderer=$($PY -c "from gpu_render.render.context import Headless
with Headless() as gl: print(gl.renderer_name)" 2>>"$LOG")
  say "GL_RENDERER: ${renderer:-none}"
  echo "${renderer:-none}" > "$RES/renderer.txt"
  pack
  case "$renderer" in
    *NVIDIA*) ;;
    *) if [ "${ALLOW_CPU:-0}" != 1 ]; then say "not an NVIDIA renderer: stopping (ALLOW_CPU=1 goes on)"; exit 1; fi;;
  esac
fi

S=$(mktemp -d /tmp/device-scratch.XXXXXX)

if [ "$Q" = 1 ]; then POSES=256; STEP=0.6; VIEWS=40,10; SPOSES=256; SECS=1; REP=1; else POSES=9261; STEP=0.3; VIEWS=2000,200; SPOSES=2048; SECS=2; REP=3; fi

want readback && step readback 60 $PY tools/bench_readback.py --sizes 64,256 --poses $POSES --repeat 5 --json "$RES/readback.json"

if want tests; then
  xdist=""; $PY -c "import xdist" 2>/dev/null && xdist="-n $(( $(nproc) < 12 ? $(nproc) : 12 ))"
  step tests 240 $PY -m pytest -q -p no:cacheprovider $xdist --ignore=tests/test_ray.py --ignore=tests/test_preview.py \
    --ignore=tests/test_wheel.py --junitxml="$RES/tests.xml" tests
fi

if want builds; then
  step build-step-jpg 120 $PY tools/bench.py --step $STEP --format jpg --workers $WORKERS --stages render,floor,build \
    --repeat $REP --tmp "$S" --json "$RES/step-jpg.json"
  if [ "$Q" = 1 ]; then full="--step 0.3"; else full=""; fi
  # bash's time: wall, user and system seconds of the whole command, process start-up included
  step build-full 150 bash -c "time $PY -m gpu_render.build $full --workers $WORKERS --out $S/full \
    && cp $S/full/manifest.json $RES/full-manifest.json"
  step verify-full 90 $PY -m gpu_render.verify --sample 20000 --reference 16 "$S/full"
  rm -rf "$S/full"
  step build-npy64 60 bash -c "time $PY -m gpu_render.build $full --format npy --sizes 64 --workers $WORKERS \
    --out $S/npy64; cp $S/npy64/manifest.json $RES/npy64-manifest.json; rm -rf $S/npy64"
fi

want wds && step wds 120 $PY tools/bench.py --step $STEP --format wds --workers $WORKERS --stages floor,build \
  --repeat $REP --tmp "$S" --json "$RES/step-wds.json"

want symsol && step symsol 150 $PY tools/bench_presets.py --views $VIEWS --workers $WORKERS --repeat 1 --tmp "$S" \
  --json "$RES/symsol.json"

want stream && step stream 150 $PY tools/bench_stream.py --objects cylO,icosa --sizes 64,224 --poses $SPOSES \
  --repeat $REP --json "$RES/stream.json"

if want serve; then
  step serve-32x1 90 $PY tools/bench_serve.py --object clpr-cube --size 224 --clients 32 --poses 1 --seconds $SECS \
    --repeat $REP --json "$RES/serve-32x1.json"
  step serve-table 150 $PY tools/bench_serve.py --object clpr-cube --size 224 --seconds 1 --repeat $REP \
    --json "$RES/serve-table.json"
fi

want scene && step scene 90 $PY tools/bench.py --mode scene --no-pyrender --objects icosa,mesh20k --poses 2048 \
  --repeat $REP --json "$RES/scene.json"

rm -rf "$S"
pack
say "done: $LOG and $OUT/results.tar.gz"
