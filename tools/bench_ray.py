"""Per-worker throughput of ``--engine ray`` against a local build, on this machine.

Runs ``python -m gpu_render.build`` as a user would, each run into a fresh folder: once with
``--engine local`` and once per ``--worker-cpus`` value with ``--engine ray`` on a local Ray
instance (started by the build itself; its temp files go to a scratch folder). For Ray it
reports the whole run and the steady part after start-up (Ray started and every worker up,
``engine.startup_seconds`` in the manifest), in poses/s in all and per worker.

    python tools/bench_ray.py --step 0.3 --sizes 32,64,128,256 --worker-cpus 1,2 --json /tmp/ray.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def run(args: list[str], out: Path, env: dict[str, str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "gpu_render.build", *args, "--out", str(out)], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"bench_ray: build failed: {p.stderr.strip()}")
    manifest = json.loads((out / "manifest.json").read_text())
    engine = manifest.get("engine", {})
    poses = manifest["pose_count"]
    startup = engine.get("startup_seconds", 0.0)
    workers = engine.get("worker_count", 1)
    steady = manifest["seconds"] - startup
    return {
        "engine": engine.get("name"),
        "workers": workers,
        "poses": poses,
        "wall_s": round(wall, 3),
        "build_s": manifest["seconds"],
        "startup_s": startup,
        "steady_s": round(steady, 3),
        "poses_per_s": round(poses / manifest["seconds"], 1),
        "steady_poses_per_s": round(poses / steady, 1),
        "steady_poses_per_s_per_worker": round(poses / steady / workers, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--step", default="0.3")
    p.add_argument("--sizes", default="32,64,128,256")
    p.add_argument("--format", default="jpg")
    p.add_argument("--object", default=None, help="a SYMSOL solid instead of the cube (with --poses random:N)")
    p.add_argument("--poses", default=None)
    p.add_argument("--worker-cpus", default="1,2", help="comma-separated --worker-cpus values to run")
    p.add_argument("--repeat", type=int, default=1, help="runs of each; the median steady rate is reported")
    p.add_argument("--json", type=Path, default=None)
    ns = p.parse_args()
    what = ["--sizes", ns.sizes, "--format", ns.format]
    what += ["--object", ns.object, "--poses", ns.poses or "random:2000"] if ns.object else ["--step", ns.step]
    scratch = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_TMPDIR"] = str(scratch / "ray")
    configs = [("local", [])] + [
        (f"ray --worker-cpus {c}", ["--engine", "ray", "--worker-cpus", c]) for c in ns.worker_cpus.split(",")
    ]
    results = []
    try:
        for name, extra in configs:
            runs = [run([*what, *extra], scratch / f"o{i}-{len(results)}", env) for i in range(ns.repeat)]
            best = sorted(runs, key=lambda r: r["steady_poses_per_s"])[len(runs) // 2]
            best["config"] = name
            best["steady_runs"] = [r["steady_poses_per_s"] for r in runs]
            results.append(best)
            print(
                f"{name:>22}: {best['workers']} worker(s), {best['poses']} poses in {best['build_s']:.1f} s "
                f"({best['poses_per_s']:.0f} poses/s; start-up {best['startup_s']:.1f} s; steady "
                f"{best['steady_poses_per_s']:.0f} poses/s = {best['steady_poses_per_s_per_worker']:.0f} per worker; "
                f"median of {statistics.median(best['steady_runs']):.0f})"
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if ns.json:
        ns.json.write_text(
            json.dumps(
                {"args": vars(ns) | {"json": str(ns.json)}, "cpus": os.cpu_count(), "results": results}, indent=2
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
