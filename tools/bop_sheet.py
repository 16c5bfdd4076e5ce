"""A figure of one ``--layout bop`` image with its masks, made with the project's own build command.

    python tools/bop_sheet.py --out docs/bop_scene.png

Builds one image of three instances (``tet,cylO,mesh:examples/duck.ply``) at ``--size`` with
``python -m gpu_render.build --layout bop`` and lays out, left to right: the rgb image, the
visible masks (``mask_visib/``, one colour per instance), the whole masks (``mask/``, outlined in
the same colours, so the hidden parts show), and the depth (near bright).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

GAP = 2
COLOURS = np.array([(230, 80, 60), (70, 170, 240), (250, 210, 60), (120, 220, 120)], dtype=np.uint8)
REPO = Path(__file__).resolve().parents[1]


def outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` (H, W) bool with a 4-neighbour outside it: (H, W) bool."""
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return mask & ~inner


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--size", default="320x240", help="WxH, px")
    p.add_argument("--pose", type=int, default=3, help="which image of random:N to show")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bop"
        cmd = [sys.executable, "-m", "gpu_render.build", "--layout", "bop", "--per-image", "3"]
        cmd += ["--objects", f"tet,cylO,mesh:{REPO / 'examples' / 'duck.ply'}", "--sizes", a.size]
        cmd += ["--poses", f"random:{a.pose + 1}", "--image-format", "png", "--out", str(out)]
        subprocess.run(cmd, check=True, cwd=REPO)
        scene = out / "train_pbr" / "000000"
        name = f"{a.pose:06d}"
        rgb = np.asarray(Image.open(scene / "rgb" / f"{name}.png").convert("RGB"))
        depth = np.asarray(Image.open(scene / "depth" / f"{name}.png")).astype(np.float64)
        masks = sorted((scene / "mask").glob(f"{name}_*.png"))
        whole = [np.asarray(Image.open(m)) > 0 for m in masks]
        visib = [np.asarray(Image.open(scene / "mask_visib" / m.name)) > 0 for m in masks]
    visible = np.zeros_like(rgb)
    amodal = np.zeros_like(rgb)
    for g, (w, v) in enumerate(zip(whole, visib, strict=True)):
        visible[v] = COLOURS[g % len(COLOURS)]
        amodal[outline(w)] = COLOURS[g % len(COLOURS)]
    on = depth > 0
    shade = np.zeros(depth.shape, dtype=np.uint8)
    if on.any():
        lo, hi = depth[on].min(), depth[on].max()
        shade[on] = (255 - 200 * (depth[on] - lo) / max(hi - lo, 1e-9)).astype(np.uint8)
    panels = [rgb, visible, amodal, np.repeat(shade[..., None], 3, axis=2)]
    gap = np.full((rgb.shape[0], GAP, 3), 255, dtype=np.uint8)
    row = np.concatenate([x for panel in panels for x in (panel, gap)][:-1], axis=1)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(row).save(a.out)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
