"""What the scene renderers feed the GPU: per-instance pose data and shared vertices. numpy only.

Instances: ``rotation`` (3, 3) float32 R and ``translation`` (3,) float32 t per pose
(``x_cam = R @ x_obj + t``, SCENES.md), and for looks that draw per image the image's
``index`` in the dataset (kept on the CPU; the GPU reads only R and t).
"""

from __future__ import annotations

import numpy as np

from gpu_render.scene.objects import SceneObject

INSTANCE_DTYPE = np.dtype([("rotation", "<f4", (3, 3)), ("translation", "<f4", 3)])
#: Instance data with each image's index in the build (what per-image looks draw from).
INDEXED_DTYPE = np.dtype([("rotation", "<f4", (3, 3)), ("translation", "<f4", 3), ("index", "<i8")])


def scene_instances(rotation: np.ndarray, translation: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
    """Per-instance data: rotation (N, 3, 3) float64 R; translation (N, 3) or (3,) float64 t;
    index: (N,) int, the images' indices in the build, for looks that draw per image.

    Returns (N,) structured array of INSTANCE_DTYPE (float32), or of INDEXED_DTYPE with an
    index; shared by every size.
    """
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.ndim != 3 or rotation.shape[1:] != (3, 3):
        raise ValueError(f"rotation must have shape (N, 3, 3), got {rotation.shape}")
    out = np.empty(len(rotation), dtype=INSTANCE_DTYPE if index is None else INDEXED_DTYPE)
    out["rotation"] = rotation
    out["translation"] = np.broadcast_to(np.asarray(translation, dtype=np.float64), (len(rotation), 3))
    if index is not None:
        out["index"] = index
    return out


def gpu_instances(instances: np.ndarray) -> np.ndarray:
    """The INSTANCE_DTYPE part of instance data (which may also carry image indices)."""
    if instances.dtype == INSTANCE_DTYPE:
        return np.ascontiguousarray(instances)
    out = np.empty(len(instances), dtype=INSTANCE_DTYPE)
    out["rotation"] = instances["rotation"]
    out["translation"] = instances["translation"]
    return out


def indexed_vertices(obj: SceneObject) -> tuple[np.ndarray, np.ndarray]:
    """The object's triangle corners as shared vertices and an index list.

    Returns (vertices (V, 6) float32: position then normal, object frame; indices (3T,) uint32).
    Corners with the same position and normal become one vertex, so the vertex shader runs
    once per vertex of a smooth surface instead of once per triangle corner (a sphere of
    20480 triangles has 10242 vertices, against 61440 corners). Vertices are numbered in the
    order the triangles first use them, so consecutive triangles index nearby vertices and
    the draw's vertex cache reuses its work. The triangles keep their order and corners.
    """
    corners = np.concatenate([obj.positions.reshape(-1, 3), obj.normals.reshape(-1, 3)], axis=1).astype(np.float32)
    unique, first, inverse = np.unique(corners, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # unique rows by first use
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return np.ascontiguousarray(unique[order]), rank[inverse.reshape(-1)].astype(np.uint32)


def look_vertices(obj: SceneObject) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int]]]:
    """Shared vertices of an object with its surface, triangles grouped by texture.

    Returns (vertices (V, 11) float32: position, normal (object frame), uv, sRGB colour;
    indices (3T,) uint32; groups [(texture index or -1, first index, index count)]).
    """
    t = obj.triangle_count
    surface = obj.surface
    uv = np.zeros((t, 3, 2), np.float32) if surface is None else surface.uv
    colour = np.ones((t, 3, 3), np.float32) if surface is None else surface.colour
    texture = np.full(t, -1, np.int32) if surface is None else surface.texture
    order = np.argsort(texture, kind="stable")
    corners = np.concatenate(
        [
            obj.positions[order].reshape(-1, 3),
            obj.normals[order].reshape(-1, 3),
            uv[order].reshape(-1, 2),
            colour[order].reshape(-1, 3),
        ],
        axis=1,
    ).astype(np.float32)
    unique, first, inverse = np.unique(corners, axis=0, return_index=True, return_inverse=True)
    by_use = np.argsort(first, kind="stable")
    rank = np.empty_like(by_use)
    rank[by_use] = np.arange(len(by_use))
    indices = rank[inverse.reshape(-1)].astype(np.uint32)
    groups = []
    sorted_texture = texture[order]
    for k in np.unique(sorted_texture):
        tris = np.flatnonzero(sorted_texture == k)
        groups.append((int(k), int(tris[0]) * 3, len(tris) * 3))
    return np.ascontiguousarray(unique[by_use]), indices, groups
