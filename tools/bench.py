"""Benchmark the build, stage by stage, then end to end; print a table and write JSON.

    python tools/bench.py --step 0.3 --sizes 32,64,128,256 --format jpg --json bench.json

Stages, each timed on its own over the same poses:
  labels         the pose grid, matrices and the (N, 8, 6) labels
  render S       GPU render plus readback into a reused array, per size
  encode F       encoding every image, one thread, per format (jpg: simplejpeg, png: Pillow)
  floor          single-thread Pillow JPEG (quality 100, 4:4:4) of the same images
  write F        writing the encoded files (temporary name + rename), one thread
  build          `python -m gpu_render.build` in a fresh process: wall time, CPU time, peak RSS
Medians of --repeat runs are reported, the build's included.

Every run writes into a folder of its own, and all of them are deleted only when the bench
ends. On an ext4 file system without a journal (this project's CPU machine), creating a file
scans past every inode deleted in the last few minutes nearby, so deleting one run's
output before the next would slow the next one's file creation several-fold.

Scene mode (``--mode scene``): the scene renderer against pyrender, in tools/bench_scene.py.
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

import numpy as np
from bench_common import pillow_floor, report_head, timed, write_report

from gpu_render import __version__
from gpu_render.cli.arg_types import sizes_type, step_type
from gpu_render.cli.options import BuildOptions
from gpu_render.dataset.encode import ENCODERS
from gpu_render.dataset.writer import atomic_write_bytes, image_name
from gpu_render.render.clpr_renderer import Renderer, default_batch
from gpu_render.render.context import Headless
from gpu_render.rotations.sources import PoseSource
from gpu_render.scene.plan import PosePlan


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--step", type=step_type, default=0.3)
    p.add_argument("--sizes", type=sizes_type, default=(32, 64, 128, 256))
    p.add_argument(
        "--format", choices=("jpg", "png", "npy", "wds"), default="jpg", help="format of the end-to-end build"
    )
    p.add_argument("--batch", type=int, default=BuildOptions.batch)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--repeat", type=int, default=3, help="runs per stage; the median is reported")
    p.add_argument("--device", type=int, default=0)
    p.add_argument(
        "--stages", default="labels,render,encode,floor,write,build", help="comma-separated subset of the stages to run"
    )
    p.add_argument("--tmp", type=Path, default=None, help="scratch folder (default: a new one in the system temp)")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument(
        "--mode",
        choices=("build", "scene"),
        default="build",
        help="build: the stages above (default); scene: the scene renderer against pyrender",
    )
    scene = p.add_argument_group("scene mode")
    scene.add_argument(
        "--objects",
        default="icosa,mesh20k",
        help="comma-separated: built-in solids, mesh20k (generated, 20480 triangles) or mesh file paths",
    )
    scene.add_argument("--scene-size", type=int, default=224, help="image side, px (default 224)")
    scene.add_argument("--poses", type=int, default=256, help="random poses rendered per run by ours (default 256)")
    scene.add_argument(
        "--pyrender-poses", type=int, default=None, help="the first N of them for pyrender (default: all)"
    )
    scene.add_argument(
        "--scene-batch", type=int, default=None, help="poses per draw call (default: a full atlas column)"
    )
    scene.add_argument("--seed", type=int, default=0, help="seed of the random poses")
    scene.add_argument("--images", type=Path, default=None, help="save pose 0 from each renderer here, as PNG")
    scene.add_argument("--no-pyrender", action="store_true", help="time our side only")
    scene.add_argument(
        "--pyrender-platform",
        default="egl,osmesa",
        help="PYOPENGL_PLATFORM values to try in order (default egl,osmesa)",
    )
    p.add_argument("--pyrender-worker", type=Path, default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.pyrender_worker is not None:
        from bench_pyrender import pyrender_worker  # pyrender's process: none of the imports below

        return pyrender_worker(a.pyrender_worker)
    if a.mode == "scene":
        if a.scene_size < 1 or a.poses < 1 or (a.pyrender_poses or 1) < 1 or a.repeat < 1:
            p.error("--scene-size, --poses, --pyrender-poses and --repeat must be positive")
        from bench_scene import scene_main

        return scene_main(a, argv)
    stages = set(a.stages.split(","))
    options = BuildOptions(
        source=PoseSource("clpr", step=a.step),
        sizes=a.sizes,
        format=a.format,
        batch=a.batch,
        workers=a.workers,
        device=a.device,
    )
    n = options.pose_count
    results: dict[str, dict[str, float]] = {}

    def record(name: str, runs: list[float], images: int | None = None) -> None:
        med = statistics.median(runs)
        results[name] = {"seconds": med, "poses_per_s": n / med, "runs": runs}
        if images:
            results[name]["images"] = images
        print(f"  {name:<14} {med:8.3f} s  {n / med:10.0f} poses/s", flush=True)

    print(
        f"gpu_render {__version__} bench: {n} poses, sizes {','.join(map(str, a.sizes))}, "
        f"batch {a.batch}, {a.workers} workers",
        flush=True,
    )
    plan = PosePlan.from_source(options.source, options.pose_count)
    if "labels" in stages:
        record("labels", [timed(lambda: PosePlan.from_source(options.source, n)) for _ in range(a.repeat)])

    scratch = Path(tempfile.mkdtemp(prefix="gpu_render-bench-", dir=a.tmp))
    try:
        with Headless(a.device) as gl:
            renderer_name = gl.renderer_name
            renderers = {s: Renderer(gl.ctx, s, batch=min(a.batch, default_batch(s))) for s in a.sizes}
            buffers = {s: np.empty((a.batch, s, s, 3), dtype=np.uint8) for s in a.sizes}
            chunks = [(k, min(n, k + a.batch)) for k in range(0, n, a.batch)]

            def render_all(size: int, each=None) -> None:
                for start, stop in chunks:
                    out = renderers[size].render(
                        plan.matrix[start:stop], plan.translation[start:stop], out=buffers[size][: stop - start]
                    )
                    if each is not None:
                        each(size, start, out)

            if "render" in stages:
                for s in a.sizes:
                    render_all(s)  # warm up
                    record(f"render {s}", [timed(lambda s=s: render_all(s)) for _ in range(a.repeat)])

            # Encoding, the floor and writing are timed on rendered chunks, excluding the render.
            def stage_over_images(work) -> float:
                spent = [0.0]

                def each(size: int, start: int, images: np.ndarray) -> None:
                    t0 = time.perf_counter()
                    work(size, start, images)
                    spent[0] += time.perf_counter() - t0

                for s in a.sizes:
                    render_all(s, each)
                return spent[0]

            total_images = n * len(a.sizes)
            if "encode" in stages:
                for fmt, encode in ENCODERS.items():

                    def enc(size: int, start: int, images: np.ndarray, encode=encode) -> None:
                        for im in images:
                            encode(im)

                    record(f"encode {fmt}", [stage_over_images(enc) for _ in range(a.repeat)], total_images)
            if "floor" in stages:

                def floor(size: int, start: int, images: np.ndarray) -> None:
                    for im in images:
                        pillow_floor(im)

                record("floor (Pillow)", [stage_over_images(floor) for _ in range(a.repeat)], total_images)
            if "write" in stages:
                fmt = a.format if a.format in ENCODERS else "jpg"
                runs = []
                for r in range(a.repeat):
                    root = scratch / f"write{r}"  # kept until the bench ends (see the module docstring)
                    for s in a.sizes:
                        (root / str(s)).mkdir(parents=True)
                    encoded: dict[tuple[int, int], list[bytes]] = {}

                    def enc_only(size: int, start: int, images: np.ndarray) -> None:
                        encoded[(size, start)] = [ENCODERS[fmt](im) for im in images]  # noqa: B023

                    stage_over_images(enc_only)

                    def write_all(root=root) -> None:  # as ImageSink.write does, less the encoding
                        for (size, start), files in encoded.items():  # noqa: B023 - runs within this iteration
                            folder = os.path.join(root, str(size))
                            for i, data in enumerate(files):
                                atomic_write_bytes(os.path.join(folder, image_name(start + i, fmt)), data)

                    runs.append(timed(write_all))
                record(f"write {fmt}", runs, total_images)
            for r in renderers.values():
                r.close()

        if "build" in stages:
            name = f"build {a.format}"
            walls, cpus, runs = [], [], []
            for r in range(a.repeat):
                out = scratch / f"build{r}"
                cmd = [
                    sys.executable,
                    "-m",
                    "gpu_render.build",
                    "--step",
                    repr(a.step),
                    "--sizes",
                    ",".join(map(str, a.sizes)),
                    "--format",
                    a.format,
                    "--batch",
                    str(a.batch),
                    "--workers",
                    str(a.workers),
                    "--device",
                    str(a.device),
                    "--out",
                    str(out),
                ]
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True)
                walls.append(time.perf_counter() - t0)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if proc.returncode != 0:
                    print(proc.stderr, file=sys.stderr)
                    return 1
                cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
                runs.append(json.loads((out / "manifest.json").read_text())["seconds"])
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB -> MiB on Linux
            record(name, runs)
            results[name].update(
                {
                    "wall_with_startup": statistics.median(walls),
                    "cpu_seconds": statistics.median(cpus),
                    "cpu_runs": cpus,
                    "peak_rss_mib": peak,
                }
            )
            print(
                f"  {'':<14} wall {statistics.median(walls):.3f} s with process start-up; "
                f"CPU {statistics.median(cpus):.2f} s; peak RSS {peak:.0f} MiB",
                flush=True,
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    if "floor (Pillow)" in results and f"build {a.format}" in results:
        ratio = results[f"build {a.format}"]["seconds"] / results["floor (Pillow)"]["seconds"]
        results["ratio build/floor"] = {"value": ratio}
        print(f"  build / floor  {ratio:8.3f}", flush=True)
    command = " ".join([Path(sys.argv[0]).name if argv is None else "tools/bench.py", *(argv or sys.argv[1:])])
    report = {
        **report_head(renderer_name, command),
        "poses": n,
        "sizes": list(a.sizes),
        "batch": a.batch,
        "workers": a.workers,
        "results": results,
    }
    write_report(a.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
