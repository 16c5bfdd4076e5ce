"""Write examples/duck.ply, the small mesh the README's examples draw: a duck-like toy of 432
triangles (body, head, beak, tail), made from trimesh's primitives. Its only symmetry is a
mirror, which no rotation reproduces, so every pose gives a different image.

    python examples/make_duck.py            # rewrites examples/duck.ply
    python examples/make_duck.py OUT.ply

Units are arbitrary (the build scales a mesh to its unit sphere); x points from tail to beak,
z up.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import trimesh

HERE = Path(__file__).resolve().parent


def duck() -> trimesh.Trimesh:
    """The duck: four closed parts, concatenated (each part is watertight, so the whole is)."""
    body = trimesh.creation.icosphere(subdivisions=2, radius=1.0)
    body.apply_scale((1.0, 0.62, 0.55))
    head = trimesh.creation.icosphere(subdivisions=1, radius=0.36).apply_translation((0.62, 0.0, 0.55))
    beak = trimesh.creation.cone(radius=0.13, height=0.34, sections=8)
    beak.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, (0, 1, 0)))  # +z to +x
    beak.apply_translation((0.9, 0.0, 0.5))
    tail = trimesh.creation.cone(radius=0.2, height=0.4, sections=8)
    tail.apply_transform(trimesh.transformations.rotation_matrix(-np.pi * 0.7, (0, 1, 0)))  # back and up
    tail.apply_translation((-0.85, 0.0, 0.15))
    return trimesh.util.concatenate([body, head, beak, tail])


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else HERE / "duck.ply"
    mesh = duck()
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(mesh.export(file_type="ply", encoding="ascii"))
    tmp.replace(out)
    print(f"wrote {out}: {len(mesh.vertices)} vertices, {len(mesh.faces)} triangles")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
