"""BOP's ``models/`` folder from arrays: ``obj_{obj_id:06d}.ply`` in mm and ``models_info.json``
(FORMATS.md, BOP). The triangles and entries come from :mod:`gpu_render.scene.bop_model`.

The PLY is binary little-endian, as bop_toolkit's ``load_ply`` reads it: ``element vertex V`` with
float ``x y z nx ny nz`` (mm; unit normals), then ``element face F`` with ``property list uchar
int vertex_indices``. Corners that share a position and a normal share a vertex, so flat faces
keep their edges sharp and curved surfaces stay smooth.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gpu_render.dataset.atomic import atomic_write_bytes
from gpu_render.dataset.bop_files import bop_json_bytes

_VERTEX = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4")])
_VERTEX_FIELDS = ("x", "y", "z", "nx", "ny", "nz")
_FACE = np.dtype([("n", "u1"), ("i", "<i4"), ("j", "<i4"), ("k", "<i4")])


def indexed(triangles_mm: np.ndarray, normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangle corners (T, 3, 3) and their normals (T, 3, 3) as (vertices (V, 6) float32 of
    position and normal, faces (T, 3) int32); equal (position, normal) pairs are merged, vertices
    in sorted order (deterministic)."""
    corners = np.concatenate(
        [np.asarray(triangles_mm, dtype=np.float32), np.asarray(normals, dtype=np.float32)], axis=2
    ).reshape(-1, 6)
    vertices, inverse = np.unique(corners, axis=0, return_inverse=True)
    return vertices, inverse.reshape(-1, 3).astype(np.int32)


def ply_bytes(triangles_mm: np.ndarray, normals: np.ndarray) -> bytes:
    """A binary PLY of triangles (T, 3, 3) mm with per-corner unit normals (T, 3, 3)."""
    vertices, faces = indexed(triangles_mm, normals)
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment gpu_render BOP model, mm\n"
        f"element vertex {len(vertices)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property float nx\nproperty float ny\nproperty float nz\n"
        f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    v = np.empty(len(vertices), dtype=_VERTEX)
    for i, name in enumerate(_VERTEX_FIELDS):
        v[name] = vertices[:, i]
    f = np.empty(len(faces), dtype=_FACE)
    f["n"], f["i"], f["j"], f["k"] = 3, faces[:, 0], faces[:, 1], faces[:, 2]
    return header.encode("ascii") + v.tobytes() + f.tobytes()


def model_path(models_dir: Path, obj_id: int) -> Path:
    """``{models_dir}/obj_{obj_id:06d}.ply``."""
    return Path(models_dir) / f"obj_{obj_id:06d}.ply"


def write_model(models_dir: Path, obj_id: int, triangles_mm: np.ndarray, normals: np.ndarray) -> None:
    """Write one model's PLY (the folder must exist)."""
    atomic_write_bytes(model_path(models_dir, obj_id), ply_bytes(triangles_mm, normals))


def write_models_info(models_dir: Path, infos: Mapping[int, Mapping[str, Any]]) -> None:
    """Write ``models_info.json``: obj_id -> entry, in increasing obj_id."""
    ordered = {int(k): dict(infos[k]) for k in sorted(infos)}
    atomic_write_bytes(Path(models_dir) / "models_info.json", bop_json_bytes(ordered))
