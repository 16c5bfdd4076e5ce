"""One Render for CNN image's crop and labels, from its render, viewpoint and truncation.
Pure functions that join :mod:`gpu_render.scene.crop`, :mod:`gpu_render.scene.r4c_names` and
:mod:`gpu_render.scene.r4c_views`.

For image i with viewpoint row (a, e, θ, d) and truncation row (left, right, top, bottom):
render the model file with :func:`gpu_render.scene.r4c_views.view_poses`' pose (through
:func:`render_pose` for the scene's normalised object) at W x H with intrinsics K; crop the render
(:func:`crops_of_renders`); write the crop under its name; record :func:`image_labels`.
"""

from __future__ import annotations

import numpy as np

from gpu_render.scene.crop import alpha_extent, crop_boxes, crop_intrinsics
from gpu_render.scene.r4c_views import view_poses

#: poses.npz's arrays for a Render for CNN set, in the order :func:`image_labels` returns them.
LABEL_ARRAYS = (
    "names",
    "azimuth",
    "elevation",
    "theta",
    "distance",
    "matrix",
    "translation",
    "intrinsics",
    "crop",
    "truncation",
)


def render_pose(
    matrix: np.ndarray, translation: np.ndarray, centre: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """The pose of the scene's normalised object that draws the same image as a pose of the file.

    matrix: (N, 3, 3) R and translation: (N, 3) t of the file's coordinates
    (``x_cam = R x_file + t``). centre: (3,) c and scale: s of the object (SCENES.md, mesh files:
    ``x_obj = s (x_file - c)``). Returns (R, t') (N, 3, 3), (N, 3) float64 with
    ``t' = s (R c + t)``: the camera frame scaled by s, which a pinhole projects to the same pixels.
    """
    r = np.asarray(matrix, dtype=np.float64).reshape(-1, 3, 3)
    t = np.asarray(translation, dtype=np.float64).reshape(-1, 3)
    c = np.asarray(centre, dtype=np.float64).reshape(3)
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale}")
    return r.copy(), float(scale) * (r @ c + t)


def crops_of_renders(
    alpha: np.ndarray, truncation: np.ndarray, k: np.ndarray, size: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each render's crop box, as Render for CNN's ``crop_gray.m`` takes it from the render's
    alpha, and the intrinsics of the written crop.

    alpha: (N, H, W) any numeric dtype, 0 where the render holds no object. truncation: (N, 4)
    float64 (left, right, top, bottom). k: (3, 3) float64 K of the render, pixels. size: (W', H')
    when the crops are resized, else None. Returns (crop (N, 4) int64 (x0, y0, x1, y1) in render
    pixels, K (N, 3, 3) float64 of the written image). Raises ValueError for a render without
    its object.
    """
    a = np.asarray(alpha)
    if a.ndim != 3:
        raise ValueError(f"alpha must be (N, H, W), got shape {a.shape}")
    t = np.asarray(truncation, dtype=np.float64).reshape(-1, 4)
    if len(t) != len(a):
        raise ValueError(f"{len(a)} renders but {len(t)} truncation rows")
    extents = np.stack([alpha_extent(x) for x in a]) if len(a) else np.zeros((0, 4), dtype=np.int64)
    crop = crop_boxes(extents, t, a.shape[2], a.shape[1]) if len(a) else np.zeros((0, 4), dtype=np.int64)
    return crop, crop_intrinsics(k, crop, size) if len(a) else np.zeros((0, 3, 3))


def image_labels(
    paths: list[str], views: np.ndarray, intrinsics: np.ndarray, crop: np.ndarray, truncation: np.ndarray
) -> dict[str, np.ndarray]:
    """poses.npz's arrays for N images (:data:`LABEL_ARRAYS`).

    paths: each image's path relative to OUT (:func:`gpu_render.scene.r4c_names.image_path`).
    views: (N, 4) float64 exact viewpoints (azimuth, elevation, theta degrees, distance file
    units), which the names round. intrinsics: (N, 3, 3) K of each written image. crop: (N, 4)
    crop boxes in render pixels. truncation: (N, 4) the fractions drawn. Returns ``names`` (N,)
    str; ``azimuth``, ``elevation``, ``theta`` (degrees, PASCAL3D+'s θ, not the name's t),
    ``distance`` (N,) float64; ``matrix`` (N, 3, 3) and ``translation`` (N, 3) float64, the file's
    coordinates in the OpenCV camera frame (``x_cam = R x_file + t``); ``intrinsics`` (N, 3, 3)
    float64; ``crop`` (N, 4) int64; ``truncation`` (N, 4) float64.
    """
    v = np.asarray(views, dtype=np.float64).reshape(-1, 4)
    n = len(v)
    arrays = {
        "k": np.asarray(intrinsics, dtype=np.float64).reshape(-1, 3, 3),
        "crop": np.asarray(crop).reshape(-1, 4),
        "truncation": np.asarray(truncation, dtype=np.float64).reshape(-1, 4),
    }
    if len(paths) != n or any(len(x) != n for x in arrays.values()):
        raise ValueError("paths, views, intrinsics, crop and truncation must have one row per image")
    matrix, translation = view_poses(v)
    return {
        "names": np.array(paths, dtype=str).reshape(n),
        "azimuth": v[:, 0].copy(),
        "elevation": v[:, 1].copy(),
        "theta": v[:, 2].copy(),
        "distance": v[:, 3].copy(),
        "matrix": matrix,
        "translation": translation,
        "intrinsics": arrays["k"].copy(),
        "crop": arrays["crop"].astype(np.int64),
        "truncation": arrays["truncation"].copy(),
    }
