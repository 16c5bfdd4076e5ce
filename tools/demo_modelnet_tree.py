"""Write a small ModelNet10-style tree of stand-in meshes made with trimesh (real ModelNet10
meshes are not shipped here): ``DIR/{category}/{train,test}/{category}_{NNNN}.off``.

    python tools/demo_modelnet_tree.py /tmp/ModelNet10-demo
    python -m gpu_render.build --preset modelnet10-so3 --meshes /tmp/ModelNet10-demo \\
        --categories bed,chair,monitor,table --views 6,2 --out /tmp/ModelNet10-SO3-demo

Each category is a few boxes arranged like the furniture it names, varied per model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import trimesh


def box(extents: tuple[float, float, float], at: tuple[float, float, float]) -> trimesh.Trimesh:
    return trimesh.creation.box(extents=extents).apply_translation(at)


def legs(w: float, d: float, h: float, t: float = 0.08) -> list[trimesh.Trimesh]:
    return [box((t, t, h), (sx * (w / 2 - t), sy * (d / 2 - t), h / 2)) for sx in (-1, 1) for sy in (-1, 1)]


def furniture(category: str, rng: np.random.Generator) -> trimesh.Trimesh:
    """Boxes in the shape of ``category`` (bed, chair, monitor, table), proportions from ``rng``."""
    w, d = rng.uniform(0.8, 1.2), rng.uniform(0.6, 1.0)
    if category == "chair":
        h = rng.uniform(0.4, 0.5)
        parts = legs(w * 0.5, d * 0.5, h) + [box((w * 0.5, d * 0.5, 0.06), (0, 0, h)),
                                              box((w * 0.5, 0.06, h * 1.2), (0, d * 0.25, h * 1.6))]
    elif category == "table":
        h = rng.uniform(0.6, 0.8)
        parts = legs(w, d, h) + [box((w, d, 0.06), (0, 0, h))]
    elif category == "bed":
        parts = [box((w, d * 2, 0.3), (0, 0, 0.15)), box((w, 0.08, 0.7), (0, -d, 0.35)),
                 box((w * 0.8, 0.3, 0.1), (0, -d * 0.7, 0.35))]
    else:  # monitor
        parts = [box((w, 0.06, w * 0.6), (0, 0, 0.5 + w * 0.3)), box((0.08, 0.08, 0.5), (0, 0.05, 0.25)),
                 box((0.4, 0.3, 0.04), (0, 0.05, 0.02))]
    return trimesh.util.concatenate(parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    p.add_argument("dir", type=Path, metavar="DIR", help="where the tree is written (made if missing)")
    root = p.parse_args(argv).dir
    if root.exists() and not root.is_dir():
        p.error(f"{root} exists and is not a folder")
    rng = np.random.default_rng(0)
    for category in ("bed", "chair", "monitor", "table"):
        for split, numbers in (("train", (1, 2)), ("test", (3,))):
            folder = root / category / split
            folder.mkdir(parents=True, exist_ok=True)
            for n in numbers:
                furniture(category, rng).export(folder / f"{category}_{n:04d}.off")
    print(f"wrote a demo ModelNet10 tree into {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
