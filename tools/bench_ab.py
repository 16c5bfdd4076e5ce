"""Interleaved A/B of whole builds: two versions of the code, the same command, turn about.

    git worktree add /tmp/before <commit>      # or git clone, then git checkout <commit>
    python tools/bench_ab.py --a /tmp/before --b . --runs 5 -- --step 0.3 --workers 2
    python tools/bench_ab.py --a /tmp/before --b . --runs 5 -- --preset symsol --views 200,20 --sizes 64

Each run is ``python -m gpu_render.build ARGS --out DIR`` in a fresh process, with ``PYTHONPATH``
set to the side's checkout and the same interpreter for both sides; the order alternates
(A B B A A B ...) so a trend in the machine's load falls on both sides alike. Each OUT is its
own new folder, deleted when the bench ends (deleting it at once slows the next build's file
creation on an ext4 without a journal: docs/PERFORMANCE.md). The report gives each side's median
wall time and median CPU seconds of all the build's processes (getrusage of the children), and
B over A. Under load, CPU seconds are the steadier measure of work.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import report_head, write_report


def run_once(checkout: Path, args: list[str], out: Path) -> tuple[float, float]:
    """Build once with the code in ``checkout``; returns (wall s, CPU s of every child process)."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "gpu_render.build", *args, "--out", str(out)],
        env=env,
        cwd=checkout,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"bench_ab: the build with {checkout} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def side(runs: list[tuple[float, float]]) -> dict[str, object]:
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    return {
        "wall_median_s": round(statistics.median(walls), 3),
        "cpu_median_s": round(statistics.median(cpus), 3),
        "walls_s": [round(w, 3) for w in walls],
        "cpus_s": [round(c, 3) for c in cpus],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--a", type=Path, required=True, help="checkout of the code before (the baseline)")
    p.add_argument("--b", type=Path, required=True, help="checkout of the code after")
    p.add_argument("--runs", type=int, default=5, help="builds per side (default 5)")
    p.add_argument("--tmp", type=Path, default=None, help="scratch folder (default: a new one in the system temp)")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument("build_args", nargs=argparse.REMAINDER, help="-- then the build's arguments, without --out")
    a = p.parse_args()
    args = a.build_args[1:] if a.build_args[:1] == ["--"] else a.build_args
    if a.runs < 1:
        p.error("--runs must be at least 1")
    scratch = Path(tempfile.mkdtemp(prefix="bench-ab-", dir=a.tmp))
    runs: dict[str, list[tuple[float, float]]] = {"a": [], "b": []}
    try:
        for i in range(a.runs):
            order = ("a", "b") if i % 2 == 0 else ("b", "a")
            for name in order:
                checkout = a.a if name == "a" else a.b
                runs[name].append(run_once(checkout.resolve(), args, scratch / f"{name}-{i}"))
                print(f"run {i + 1} {name}: {runs[name][-1][0]:.2f} s wall, {runs[name][-1][1]:.2f} CPU-s", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result = {"a": {"checkout": str(a.a), **side(runs["a"])}, "b": {"checkout": str(a.b), **side(runs["b"])}}
    ratio_wall = result["b"]["wall_median_s"] / result["a"]["wall_median_s"]  # type: ignore[operator]
    ratio_cpu = result["b"]["cpu_median_s"] / result["a"]["cpu_median_s"]  # type: ignore[operator]
    print(json.dumps(result, indent=1))
    print(f"B/A: wall {ratio_wall:.2f}, CPU {ratio_cpu:.2f} (medians of {a.runs} interleaved runs a side)")
    head = report_head("as each build reports it", " ".join(sys.argv))
    write_report(a.json, {**head, "build_args": args, **result, "ratio_wall": ratio_wall, "ratio_cpu": ratio_cpu})


if __name__ == "__main__":
    main()
