"""Render a contact sheet of cLPR poses with the project's own renderer.

    python tools/contact_sheet.py --out docs/contact_sheet.png

Poses are spread evenly over the grid (``--step``), drawn at ``--size`` px with the GPU
renderer on a headless context, and laid out ``--columns`` wide with a thin gap.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from gpu_render.render.context import Headless, NoOpenGLError
from gpu_render.scene.clpr_labels import translation
from gpu_render.rotations.euler import clpr_euler, clpr_pose_count, euler_to_matrix
from gpu_render.render.clpr_renderer import Renderer
from gpu_render.dataset.writer import atomic_write_bytes

GAP_COLOUR = (255, 255, 255)


def sheet(images: np.ndarray, columns: int, gap: int) -> np.ndarray:
    """Tile (N, S, S, 3) uint8 images into one (rows*(S+gap)+gap, columns*(S+gap)+gap, 3) image."""
    n, s = len(images), images.shape[1]
    rows = -(-n // columns)
    out = np.empty((rows * (s + gap) + gap, columns * (s + gap) + gap, 3), dtype=np.uint8)
    out[...] = GAP_COLOUR
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        y, x = gap + r * (s + gap), gap + c * (s + gap)
        out[y : y + s, x : x + s] = image
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("docs/contact_sheet.png"))
    p.add_argument("--step", type=float, default=0.1)
    p.add_argument("--count", type=int, default=24)
    p.add_argument("--columns", type=int, default=8)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--antialias", action="store_true")
    a = p.parse_args(argv)
    if a.count < 1 or a.columns < 1 or not 8 <= a.size <= 4096 or not a.step > 0:
        print("contact_sheet: error: --count, --columns >= 1, --size in 8..4096, --step > 0", file=sys.stderr)
        return 2
    total = clpr_pose_count(a.step)
    index = np.linspace(0, total - 1, a.count).round().astype(int)
    m = euler_to_matrix(clpr_euler(a.step)[index])
    try:
        with Headless() as gl, Renderer(gl.ctx, a.size, antialias=a.antialias) as r:
            images = r.render(m, translation(m))
    except NoOpenGLError as exc:
        print(f"contact_sheet: error: {exc}", file=sys.stderr)
        return 2
    buf = io.BytesIO()
    Image.fromarray(sheet(images, a.columns, gap=2)).save(buf, format="PNG", optimize=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(a.out, buf.getvalue())
    print(f"wrote {a.out}: poses {', '.join(map(str, index[:4]))}, ... of {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
