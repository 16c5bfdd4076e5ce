"""Readback paths of the cLPR renderer, side by side: what a GPU machine should adopt.

    python tools/bench_readback.py --sizes 64,256 --poses 9261 --repeat 5 --json out.json

For each size, the same poses (the step-0.3 grid, cycled to ``--poses``) are drawn a full atlas
column at a time and read back three ways, interleaved run by run:

- ``rgb``: what builds do now (:meth:`Renderer.render`): ``glReadPixels`` RGB into a reused
  staging array, then the one flipping copy into the output.
- ``rgba``: ``glReadPixels`` RGBA into a staging array and the same flipping copy of the four
  channels; what an encoder fed RGBX would receive (simplejpeg encodes RGBX to the same bytes).
- ``pbo``: a ring of ``--ring`` pixel-pack buffers: each batch's RGB ``glReadPixels`` goes into
  the next buffer of the ring and returns at once; the batch ``ring - 1`` draws earlier is
  then copied out of its buffer and flipped. On a GPU the copy to the buffer overlaps the next
  draw; on llvmpipe there is nothing to overlap (PERFORMANCE.md, item 6).

Each path's images are checked against ``rgb``'s (byte for byte; for ``rgba``, its first three
channels), so a faster path that reads the wrong rows cannot win. Reported: poses per second
(median of ``--repeat``), draw included. Run it on the machine whose path is to be chosen; the
ratios against ``rgb`` are what matter.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import moderngl
import numpy as np
from bench_common import report_head, write_report

from gpu_render import __version__
from gpu_render.cli.arg_types import sizes_type
from gpu_render.render.atlas import read_column
from gpu_render.render.clpr_renderer import Renderer, pose_instances
from gpu_render.render.context import Headless
from gpu_render.rotations.sources import PoseSource
from gpu_render.scene.plan import PosePlan

PATHS = ("rgb", "rgba", "pbo")


def run_path(path: str, renderer: Renderer, instances: np.ndarray, ring: int) -> tuple[float, np.ndarray]:
    """Draw and read back every pose one way; (seconds, images (N, S, S, 3 or 4) uint8)."""
    ctx, s, cap = renderer.ctx, renderer.size, renderer.layout.capacity
    n = len(instances)
    channels = 4 if path == "rgba" else 3
    out = np.empty((n, s, s, channels), dtype=np.uint8)
    batches = [(a, min(n, a + cap)) for a in range(0, n, cap)]
    t0 = time.perf_counter()
    if path == "rgb":
        renderer.render_instances(instances, out)
    elif path == "rgba":
        staging = np.empty((cap * s, s, 4), dtype=np.uint8)
        for a, b in batches:
            read_column(renderer.draw_atlas(instances[a:b]), renderer.layout, b - a, out[a:b], staging, components=4)
    else:
        buffers = [ctx.buffer(reserve=cap * s * s * 3) for _ in range(ring)]
        staging = np.empty((cap * s, s, 3), dtype=np.uint8)
        pending: list[tuple[int, int, moderngl.Buffer]] = []

        def drain() -> None:
            a, b, buf = pending.pop(0)
            h = (b - a) * s
            buf.read_into(staging[:h], size=h * s * 3)
            np.copyto(out[a:b].reshape(h, s, 3), staging[:h][::-1])

        try:
            for k, (a, b) in enumerate(batches):
                fbo = renderer.draw_atlas(instances[a:b])
                h = (b - a) * s
                buf = buffers[k % ring]
                fbo.read_into(buf, viewport=(0, renderer.layout.target[1] - h, s, h), components=3, alignment=1)
                pending.append((a, b, buf))
                if len(pending) == ring:
                    drain()
            while pending:
                drain()
        finally:
            for buf in buffers:
                buf.release()
    ctx.finish()
    return time.perf_counter() - t0, out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=sizes_type, default=(64, 256))
    p.add_argument("--poses", type=int, default=9261, help="poses per run (the step-0.3 grid, cycled)")
    p.add_argument("--ring", type=int, default=3, help="pixel-pack buffers in the ring (default 3)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--device", type=int, default=0, help="EGL device, as the build's --device")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    if a.poses < 1 or a.ring < 1 or a.repeat < 1:
        p.error("--poses, --ring and --repeat must be positive")
    source = PoseSource("clpr", step=0.3)
    grid = PosePlan.from_source(source)
    pick = np.arange(a.poses) % len(grid.matrix)
    instances = pose_instances(grid.matrix[pick], grid.translation[pick])
    results: dict[str, dict[str, object]] = {}
    with Headless(a.device) as gl:
        print(
            f"gpu_render {__version__} readback bench on {gl.renderer_name}: {a.poses} poses, "
            f"ring {a.ring}, {a.repeat} runs",
            flush=True,
        )
        for s in a.sizes:
            with Renderer(gl.ctx, s) as renderer:
                runs: dict[str, list[float]] = {name: [] for name in PATHS}
                reference = run_path("rgb", renderer, instances, a.ring)[1]  # also the warm-up
                for name in PATHS[1:]:
                    images = run_path(name, renderer, instances, a.ring)[1]
                    if not np.array_equal(images[..., :3], reference):
                        print(f"size {s}: the {name} path read different pixels than rgb", file=sys.stderr)
                        return 1
                for _ in range(a.repeat):
                    for name in PATHS:
                        runs[name].append(run_path(name, renderer, instances, a.ring)[0])
                rate: Callable[[str], float] = lambda name: a.poses / statistics.median(runs[name])  # noqa: E731, B023
                results[str(s)] = {
                    name: {"poses_per_s": rate(name), "runs_s": runs[name], "ratio_to_rgb": rate(name) / rate("rgb")}
                    for name in PATHS
                }
                print(
                    f"  {s:4d} px  " + "  ".join(f"{n} {rate(n):9.0f}/s ({rate(n) / rate('rgb'):.2f}x)" for n in PATHS),
                    flush=True,
                )
        renderer_name = gl.renderer_name
    write_report(
        a.json,
        {
            **report_head(renderer_name, " ".join(["bench_readback.py", *(argv or sys.argv[1:])])),
            "poses": a.poses,
            "ring": a.ring,
            "results": results,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
