"""Labels of scene builds (SCENES.md, Labels every scene build writes). Pure functions.

Poses are ``x_cam = R @ x_obj + t``: R (N, 3, 3) float64 column-vector rotations from the object
frame to the camera frame (x right, y down, z forward), t (3,) or (N, 3) camera frame, object
units. The camera sits at the camera frame's origin, i.e. at ``-R.T @ t`` in the object frame.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from gpu_render.rotations.quaternion import matrix_to_quaternion
from gpu_render.scene.camera import Pinhole
from gpu_render.scene.marks import Mark, SphereXMark
from gpu_render.scene.objects import SceneObject
from gpu_render.scene.viewpoint import VIEWPORT, viewpoint_from_rotation

#: Poses handled at once, to bound the (chunk, G) work arrays.
CHUNK = 4096
#: A group element fixes the mark when it moves its centre and normal by less than this.
FIX_TOL = 1e-9


def mark_visible(mark: Mark, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Whether the mark faces the camera: ``dot(R n, R c + t) < 0`` with c, n the mark's centre
    and outward normal (the viewing ray from the camera, judged at the mark's centre).

    rotation: (N, 3, 3) R; translation: (3,) or (N, 3) t. Returns (N,) bool.
    """
    r = np.asarray(rotation, dtype=np.float64)
    centre = np.asarray(mark.centre, dtype=np.float64)[None]
    return _facing(r, translation, centre, np.asarray(mark.normal, dtype=np.float64)[None])[:, 0]


def _facing(r: np.ndarray, translation: np.ndarray, centres: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """(N, K) bool: mark copy k (centre (K, 3), normal (K, 3), object frame) faces the camera
    in pose n. Uses ``dot(R n, R c + t) = n.c + n.(R^T t)`` (R is a rotation)."""
    t = np.broadcast_to(np.asarray(translation, dtype=np.float64), (len(r), 3))
    t_obj = np.einsum("nji,nj->ni", r, t)  # R^T t: (N, 3)
    return (np.einsum("ki,ki->k", normals, centres)[None, :] + t_obj @ normals.T) < 0


def visual_equivalents(
    obj: SceneObject, rotation: np.ndarray, translation: np.ndarray, dtype: type[np.floating] = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """For each pose R, the R @ G_k (G_k in ``obj.symmetry``) whose image equals R's image.

    R @ G_k is equivalent when G_k fixes the mark (G_k c = c and G_k n = n) or when the mark
    faces away from the camera both in pose R and in pose R @ G_k. k runs upwards, so each set
    starts with R itself (k = 0, the identity).

    obj: an object with a mark. rotation: (N, 3, 3); translation: (3,) or (N, 3).
    Returns (flat (M, 3, 3) of ``dtype``, column-vector rotations object to camera frame;
    offsets (N + 1,) int64): pose i's set is ``flat[offsets[i]:offsets[i + 1]]``.
    """
    if obj.mark is None:
        raise ValueError(f"{obj.name} has no mark, so every group element is equivalent")
    r = np.asarray(rotation, dtype=np.float64)
    g = np.asarray(obj.symmetry, dtype=np.float64)
    c = np.asarray(obj.mark.centre, dtype=np.float64)
    n = np.asarray(obj.mark.normal, dtype=np.float64)
    centres, normals = g @ c, g @ n  # the mark's image under each G_k: (G, 3)
    fixes = (np.max(np.abs(centres - c), axis=1) <= FIX_TOL) & (np.max(np.abs(normals - n), axis=1) <= FIX_TOL)
    t = np.broadcast_to(np.asarray(translation, dtype=np.float64), (len(r), 3))

    masks = []
    for start in range(0, len(r), CHUNK):
        away = ~_facing(r[start : start + CHUNK], t[start : start + CHUNK], centres, normals)
        masks.append(fixes[None, :] | (away[:, :1] & away))
    mask = np.concatenate(masks) if masks else np.zeros((0, len(g)), dtype=bool)

    offsets = np.zeros(len(r) + 1, dtype=np.int64)
    np.cumsum(mask.sum(axis=1), out=offsets[1:])
    flat = np.empty((int(offsets[-1]), 3, 3), dtype=dtype)
    # Poses share few distinct sets of k (tetX: which faces are turned away; cylO: 1, 360 or
    # 720); each set's products are made for many poses at once, in the output's dtype.
    rd, gd = r.astype(dtype), g.astype(dtype)
    for poses in _same_rows(mask):
        ks = np.flatnonzero(mask[poses[0]])
        step = max(1, (1 << 19) // len(ks))
        for start in range(0, len(poses), step):
            chunk = poses[start : start + step]
            block = np.matmul(rd[chunk][:, None], gd[ks][None])  # (n, K, 3, 3)
            if len(ks) < 64:
                flat[offsets[chunk][:, None] + np.arange(len(ks))] = block
            else:  # long runs: slice copies beat a fancy-index scatter
                for i, first in enumerate(offsets[chunk]):
                    flat[first : first + len(ks)] = block[i]
    return flat, offsets


def _same_rows(mask: np.ndarray) -> list[np.ndarray]:
    """Row indices of the (N, G) bool ``mask`` grouped by identical rows: a list of (n,) int64.
    Rows are hashed (fast), and a hash group whose rows differ is split exactly."""
    if len(mask) == 0:
        return []
    packed = np.packbits(mask, axis=1)
    weights = (np.arange(1, packed.shape[1] + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)) | np.uint64(1)
    keys = (packed.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)  # wraps mod 2**64
    _, inverse = np.unique(keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(inverse.max() + 2))
    groups = []
    for u in range(len(bounds) - 1):
        rows = order[bounds[u] : bounds[u + 1]]
        if np.all(packed[rows] == packed[rows[0]]):
            groups.append(rows)
        else:  # a hash collision: split by the rows themselves
            _, sub = np.unique(packed[rows], axis=0, return_inverse=True)
            groups.extend(rows[sub.ravel() == v] for v in range(sub.max() + 1))
    return groups


def rotations_equivalent(obj: SceneObject, rotation: np.ndarray, dtype: type[np.floating] = np.float32) -> np.ndarray:
    """R @ G_k for every pose and every element of ``obj.symmetry``: (N, G, 3, 3) of ``dtype``,
    element 0 R itself."""
    r = np.asarray(rotation, dtype=np.float64)
    g = np.asarray(obj.symmetry, dtype=np.float64)
    out = np.empty((len(r), len(g), 3, 3), dtype=dtype)
    step = max(1, CHUNK * 64 // len(g))
    for start in range(0, len(r), step):
        out[start : start + step] = np.matmul(r[start : start + step, None], g[None])
    return out


def scene_labels(
    obj: SceneObject, camera: Pinhole, rotation: np.ndarray, sizes: Iterable[int]
) -> dict[str, np.ndarray]:
    """The arrays of poses.npz for poses R of ``obj`` seen by ``camera``.

    rotation: (N, 3, 3) R. sizes: the image sizes S. Returns:
    ``matrix`` (N, 3, 3) float64; ``quaternion`` (N, 4) float64 (w, x, y, z), w >= 0;
    ``translation`` (N, 3) float64 t = (0, 0, d); ``intrinsics_{S}`` (3, 3) float64 K per size;
    featureless objects: ``rotations_equivalent`` (N, G, 3, 3) float32;
    objects with a mark: ``mark_visible`` (N,) bool, and when their group is not trivial (tetX,
    cylO; not sphereX) ``visual_equivalents`` (M, 3, 3) float32 and ``visual_offsets``
    (N + 1,) int64; mesh files: ``object_centre`` (3,) float64 (file units) and
    ``object_scale`` () float64 (``x_obj = scale * (x_file - centre)``);
    always, the PASCAL3D+ / ImageNet3D viewpoint (FORMATS.md; gpu_render.scene.viewpoint):
    ``azimuth``, ``elevation``, ``theta`` (N,) float64 radians, ``distance`` (N,) float64 = d,
    ``viewport`` () float64 = 3000 and per size ``focal_{S}`` () float64 = f / 3000,
    ``px_{S}``, ``py_{S}`` () float64 = S / 2.
    """
    r = np.asarray(rotation, dtype=np.float64)
    if r.ndim != 3 or r.shape[1:] != (3, 3):
        raise ValueError(f"rotation must be (N, 3, 3), got shape {r.shape}")
    t = np.broadcast_to(camera.translation, (len(r), 3)).copy()
    labels: dict[str, np.ndarray] = {
        "matrix": r.copy(),
        "quaternion": matrix_to_quaternion(r) if len(r) else np.zeros((0, 4)),
        "translation": t,
    }
    azimuth, elevation, theta = viewpoint_from_rotation(r)
    labels.update(
        azimuth=azimuth,
        elevation=elevation,
        theta=theta,
        distance=t[:, 2].copy(),
        viewport=np.asarray(VIEWPORT, dtype=np.float64),
    )
    for size in sizes:
        k = camera.intrinsics(int(size))
        labels[f"intrinsics_{int(size)}"] = k
        labels[f"focal_{int(size)}"] = np.asarray(k[0, 0] / VIEWPORT, dtype=np.float64)
        labels[f"px_{int(size)}"] = np.asarray(k[0, 2], dtype=np.float64)
        labels[f"py_{int(size)}"] = np.asarray(k[1, 2], dtype=np.float64)
    if obj.featureless:
        labels["rotations_equivalent"] = rotations_equivalent(obj, r)
    if obj.mark is not None:
        labels["mark_visible"] = mark_visible(obj.mark, r, t)
        if len(obj.symmetry) > 1 and not isinstance(obj.mark, SphereXMark):
            flat, offsets = visual_equivalents(obj, r, t, dtype=np.float32)
            labels["visual_equivalents"] = flat
            labels["visual_offsets"] = offsets
    if obj.is_mesh_file:
        labels["object_centre"] = np.asarray(obj.centre, dtype=np.float64).copy()
        labels["object_scale"] = np.asarray(obj.scale, dtype=np.float64)
    return labels
