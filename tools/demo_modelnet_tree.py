"""Write a small ModelNet10-style tree of stand-in meshes made with trimesh (real ModelNet10
meshes are not shipped here): ``DIR/{category}/{train,test}/{category}_{NNNN}.off``.

    python tools/demo_modelnet_tree.py /tmp/ModelNet10-demo
    python -m gpu_render.build --preset modelnet10-so3 --meshes /tmp/ModelNet10-demo \\
        --categories bed,chair,monitor,table --views 6,2 --out /tmp/ModelNet10-SO3-demo

Each of the ten categories is a few boxes (and cylinders) arranged like the furniture it names,
varied per model: two training models and one test model each, so the build's default (all ten
categories) runs on it. bed, chair, monitor and table come first and are the same meshes
whatever follows them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import trimesh

#: ModelNet10's categories, the first four in the order of the first version of this tool (each
#: draws from one generator in turn, so keeping them first keeps their meshes).
CATEGORIES = ("bed", "chair", "monitor", "table", "bathtub", "desk", "dresser", "night_stand", "sofa", "toilet")


def box(extents: tuple[float, float, float], at: tuple[float, float, float]) -> trimesh.Trimesh:
    return trimesh.creation.box(extents=extents).apply_translation(at)


def legs(w: float, d: float, h: float, t: float = 0.08) -> list[trimesh.Trimesh]:
    return [box((t, t, h), (sx * (w / 2 - t), sy * (d / 2 - t), h / 2)) for sx in (-1, 1) for sy in (-1, 1)]


def furniture(category: str, rng: np.random.Generator) -> trimesh.Trimesh:
    """Boxes in the shape of ``category`` (one of ModelNet10's ten), proportions from ``rng``."""
    w, d = rng.uniform(0.8, 1.2), rng.uniform(0.6, 1.0)
    if category == "chair":
        h = rng.uniform(0.4, 0.5)
        parts = [
            *legs(w * 0.5, d * 0.5, h),
            box((w * 0.5, d * 0.5, 0.06), (0, 0, h)),
            box((w * 0.5, 0.06, h * 1.2), (0, d * 0.25, h * 1.6)),
        ]
    elif category == "table":
        h = rng.uniform(0.6, 0.8)
        parts = [*legs(w, d, h), box((w, d, 0.06), (0, 0, h))]
    elif category == "bed":
        parts = [
            box((w, d * 2, 0.3), (0, 0, 0.15)),
            box((w, 0.08, 0.7), (0, -d, 0.35)),
            box((w * 0.8, 0.3, 0.1), (0, -d * 0.7, 0.35)),
        ]
    elif category == "monitor":
        parts = [
            box((w, 0.06, w * 0.6), (0, 0, 0.5 + w * 0.3)),
            box((0.08, 0.08, 0.5), (0, 0.05, 0.25)),
            box((0.4, 0.3, 0.04), (0, 0.05, 0.02)),
        ]
    elif category == "bathtub":
        h, t = 0.5, 0.06
        parts = [
            box((w * 1.6, d, 0.06), (0, 0, 0.03)),
            box((w * 1.6, t, h), (0, d / 2, h / 2)),
            box((w * 1.6, t, h), (0, -d / 2, h / 2)),
            box((t, d, h), (w * 0.8, 0, h / 2)),
            box((t, d, h * 1.3), (-w * 0.8, 0, h * 0.65)),
        ]
    elif category == "desk":
        h = rng.uniform(0.7, 0.8)
        parts = [
            *legs(w * 1.3, d, h),
            box((w * 1.3, d, 0.05), (0, 0, h)),
            box((w * 0.4, d * 0.9, h * 0.5), (w * 0.4, 0, h * 0.7)),
        ]
    elif category == "dresser":
        h = rng.uniform(0.9, 1.2)
        parts = [box((w, d * 0.6, h), (0, 0, h / 2))] + [
            box((w * 0.9, 0.03, h * 0.22), (0, d * 0.31, h * f)) for f in (0.2, 0.45, 0.7)
        ]
    elif category == "night_stand":
        h = rng.uniform(0.45, 0.6)
        parts = [
            *legs(w * 0.5, d * 0.5, h * 0.3),
            box((w * 0.5, d * 0.5, h * 0.7), (0, 0, h * 0.65)),
            box((w * 0.1, 0.03, 0.03), (0, d * 0.26, h * 0.8)),
        ]
    elif category == "sofa":
        parts = [
            box((w * 2, d, 0.35), (0, 0, 0.2)),
            box((w * 2, 0.2, 0.45), (0, d / 2, 0.6)),
            box((0.2, d, 0.3), (w, 0, 0.5)),
            box((0.2, d, 0.3), (-w, 0, 0.5)),
        ]
    elif category == "toilet":
        bowl = trimesh.creation.cylinder(radius=0.25 * w, height=0.4, sections=12).apply_translation((0, 0, 0.2))
        parts = [bowl, box((w * 0.6, 0.2, 0.45), (0, d * 0.4, 0.55)), box((w * 0.4, d * 0.3, 0.05), (0, 0, 0.42))]
    else:
        raise ValueError(f"no stand-in for category {category!r}")
    return trimesh.util.concatenate(parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    p.add_argument("dir", type=Path, metavar="DIR", help="where the tree is written (made if missing)")
    root = p.parse_args(argv).dir
    if root.exists() and not root.is_dir():
        p.error(f"{root} exists and is not a folder")
    rng = np.random.default_rng(0)
    for category in CATEGORIES:
        for split, numbers in (("train", (1, 2)), ("test", (3,))):
            folder = root / category / split
            folder.mkdir(parents=True, exist_ok=True)
            for n in numbers:
                furniture(category, rng).export(folder / f"{category}_{n:04d}.off")
    print(f"wrote a demo ModelNet10 tree into {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
