"""Benchmark ``--preset symsol`` against the single-thread Pillow JPEG floor of its own images.

    python tools/bench_presets.py --views 2000,200 --repeat 3 --json /tmp/symsol-bench.json

The target: the build takes at most 0.6x the time that one thread of Pillow needs to
encode the build's own images as JPEG (quality 100, 4:4:4), the floor ``tools/bench.py``
measures for cLPR builds. Both are measured in the same run:

  render        GPU render plus readback of every image of the build, one shape after another
  encode png    this project's PNG encoder (Pillow, compress level 3), one thread, same images
  floor         Pillow JPEG q100 4:4:4, one thread, same images (render time excluded)
  build         ``python -m gpu_render.build --preset symsol ...`` in a fresh process, its own
                wall time (manifest ``seconds``), CPU time and peak RSS

Medians of ``--repeat`` runs; the ratio is median build over median floor. Every build
writes into its own folder, all deleted when the bench ends (see tools/bench.py for why).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
# the floor exactly as tools/bench.py measures it, and the same report head
from bench_common import pillow_floor, report_head, write_report

from gpu_render import __version__
from gpu_render.cli.preset_options import names_type, views_type
from gpu_render.dataset.encode import encode_png
from gpu_render.dataset.layouts.symsol import SYMSOL_SHAPES, SymsolSpec, shape_rotations, shape_splits
from gpu_render.render.context import Headless
from gpu_render.render.scene_renderer import SceneRenderer
from gpu_render.scene.solids import builtin_object

#: The target for ``--preset symsol --views 2000,200``: build / floor.
TARGET_RATIO = 0.6
CHUNK = 256


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--views", type=views_type, default=(2000, 200), metavar="TRAIN,TEST")
    p.add_argument("--shapes", type=names_type(SYMSOL_SHAPES, "shape"), default=SYMSOL_SHAPES)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--repeat", type=int, default=3, help="runs of each stage; medians are reported")
    p.add_argument("--tmp", type=Path, default=None, help="scratch folder (default: a new one in the system temp)")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    a = p.parse_args(argv)
    opts = SymsolSpec(shapes=a.shapes, views=a.views, size=a.size)
    parts = shape_splits(opts)
    n = sum(part.count for part in parts)
    results: dict[str, dict] = {}

    def record(name: str, runs: list[float]) -> None:
        med = statistics.median(runs)
        results[name] = {"seconds": med, "images_per_s": n / med, "runs": runs}
        print(
            f"  {name:<12} {med:8.3f} s  {n / med:8.0f} images/s   runs {' '.join(f'{r:.3f}' for r in runs)}",
            flush=True,
        )

    print(
        f"gpu_render {__version__} bench_presets: symsol, {n} images of {a.size} px "
        f"({len(a.shapes)} shapes x {a.views[0]}+{a.views[1]}), {a.workers} workers",
        flush=True,
    )
    with Headless() as gl:
        renderer_name = gl.renderer_name

        def over_images(work) -> tuple[float, float]:
            """Render every image chunk by chunk; returns (render seconds, seconds in ``work``)."""
            spent_render = spent = 0.0
            for part in parts:
                obj = builtin_object(part.shape)
                renderer = SceneRenderer(gl.ctx, obj, opts.camera, opts.look, a.size)
                r = shape_rotations(opts, part)
                for s in range(0, len(r), CHUNK):
                    t0 = time.perf_counter()
                    images = renderer.render(r[s : s + CHUNK], opts.camera.translation)
                    t1 = time.perf_counter()
                    work(images)
                    spent_render += t1 - t0
                    spent += time.perf_counter() - t1
                renderer.close()
            return spent_render, spent

        def floor(images: np.ndarray) -> None:
            for im in images:
                pillow_floor(im)

        def png(images: np.ndarray) -> None:
            for im in images:
                encode_png(im)

        renders, floors, pngs = [], [], []
        for _ in range(a.repeat):
            rt, ft = over_images(floor)
            renders.append(rt)
            floors.append(ft)
            pngs.append(over_images(png)[1])
        record("render", renders)
        record("encode png", pngs)
        record("floor", floors)

    scratch = Path(tempfile.mkdtemp(prefix="gpu_render-bench-presets-", dir=a.tmp))
    try:
        walls, cpus = [], []
        for r in range(a.repeat):
            out = scratch / f"symsol{r}"
            cmd = [
                sys.executable,
                "-m",
                "gpu_render.build",
                "--preset",
                "symsol",
                "--views",
                f"{a.views[0]},{a.views[1]}",
                "--shapes",
                ",".join(a.shapes),
                "--sizes",
                str(a.size),
                "--workers",
                str(a.workers),
                "--out",
                str(out),
            ]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            proc = subprocess.run(cmd, capture_output=True, text=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
            walls.append(json.loads((out / "manifest.json").read_text())["seconds"])
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        record("build", walls)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        results["build"].update({"cpu_seconds": statistics.median(cpus), "cpu_runs": cpus, "peak_rss_mib": peak})
        print(f"  {'':<12} CPU {statistics.median(cpus):.1f} s (all processes); peak RSS {peak:.0f} MiB", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ratio = results["build"]["seconds"] / results["floor"]["seconds"]
    results["ratio build/floor"] = {"value": ratio, "target": TARGET_RATIO, "met": ratio <= TARGET_RATIO}
    print(f"  build / floor {ratio:8.3f}  (target <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'not met'})")
    report = {
        **report_head(renderer_name, " ".join(["tools/bench_presets.py", *(sys.argv[1:] if argv is None else argv)])),
        "images": n,
        "size": a.size,
        "workers": a.workers,
        "results": results,
    }
    write_report(a.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
