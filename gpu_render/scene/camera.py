"""The pinhole camera of SCENES.md, and where it puts points and objects. Pure functions.

Camera frame: x right, y down, z forward (OpenCV). Pose: ``x_cam = R @ x_obj + t`` with
``t = (0, 0, d)``. Projection: ``(u, v, 1) ~ K @ x_cam``, pixel (col, row) covering
[col, col+1) x [row, row+1), so the image centre is (S/2, S/2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DEFAULT_FOV_DEG = 30.0
#: The unit sphere's silhouette spans this share of the image width at the default distance.
DEFAULT_FILL = 0.9


def default_distance(fov_deg: float) -> float:
    """d with ``tan(asin(1/d)) = 0.9 tan(fov/2)``: about 4.2656 at 30 degrees."""
    return 1.0 / math.sin(math.atan(DEFAULT_FILL * math.tan(math.radians(fov_deg) / 2)))


@dataclass(frozen=True)
class Pinhole:
    """fov_deg: full field of view, degrees, in (0, 180). distance: d, object units, > 1
    (the camera stays outside the unit sphere); None means :func:`default_distance`."""

    fov_deg: float = DEFAULT_FOV_DEG
    distance: float | None = None

    @property
    def d(self) -> float:
        return default_distance(self.fov_deg) if self.distance is None else float(self.distance)

    def focal(self, size: int) -> float:
        """f = (S/2) / tan(fov/2), pixels."""
        return (size / 2) / math.tan(math.radians(self.fov_deg) / 2)

    def intrinsics(self, size: int) -> np.ndarray:
        """K for an S x S image: (3, 3) float64, pixels."""
        f = self.focal(size)
        return np.array([[f, 0.0, size / 2], [0.0, f, size / 2], [0.0, 0.0, 1.0]])

    @property
    def translation(self) -> np.ndarray:
        """t = (0, 0, d): (3,) float64, object units, camera frame."""
        return np.array([0.0, 0.0, self.d])


def project(points: np.ndarray, rotation: np.ndarray, translation: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Pixel coordinates of object-frame points under poses.

    points: (P, 3) float64 object frame; rotation: (N, 3, 3) R; translation: (3,) or (N, 3) t;
    k: (3, 3) K. Returns (N, P, 2) float64 (u, v): pixels, x right, y down.
    """
    cam = np.einsum("nij,pj->npi", np.asarray(rotation, dtype=np.float64), np.asarray(points, dtype=np.float64))
    cam = cam + np.asarray(translation, dtype=np.float64).reshape(-1, 1, 3)
    uvw = cam @ np.asarray(k, dtype=np.float64).T
    return uvw[..., :2] / uvw[..., 2:3]


def unit_ball_inside_image(k: np.ndarray, translation: np.ndarray, size: int, margin: float = 1.0) -> bool:
    """Whether the unit ball (which holds every object) projects inside the S x S image for
    every pose, with ``margin`` px to spare.

    k: (3, 3) float64 intrinsics, pixels. translation: (N, 3) float64 t, camera frame, object
    units. Along x, ``x / z`` over the ball is the ball's projection on the xz-plane, a unit
    disc about (t_x, t_z) seen from the origin: its extreme rays lie at
    ``atan2(t_x, t_z) +- asin(1 / |(t_x, t_z)|)``; likewise along y. False when the camera is
    inside some ball's shadow (a ray at 90 degrees or more).
    """
    t = np.asarray(translation, dtype=np.float64).reshape(-1, 3)
    if len(t) == 0:
        return True
    for axis, (focal, centre) in enumerate(((k[0, 0], k[0, 2]), (k[1, 1], k[1, 2]))):
        r = np.hypot(t[:, axis], t[:, 2])
        if np.any(r <= 1.0 + 1e-9) or np.any(t[:, 2] <= 0):
            return False
        mid = np.arctan2(t[:, axis], t[:, 2])
        half = np.arcsin(1.0 / r)
        lo, hi = mid - half, mid + half
        if np.any(lo <= -np.pi / 2) or np.any(hi >= np.pi / 2):
            return False
        if np.any(focal * np.tan(lo) + centre < margin) or np.any(focal * np.tan(hi) + centre > size - margin):
            return False
    return True


#: Poses × points projected at once by :func:`projected_boxes`: bounds its memory (~100 MB).
BOX_BLOCK = 1 << 22


def image_boxes(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """The box of each pose's projected points, clipped to the image.

    pixels: (N, P, 2) float64 (u, v), pixels, x right, y down, in this module's convention:
    pixel (col, row) covers [col, col+1) x [row, row+1), so the image is [0, W] x [0, H] and
    its centre (W/2, H/2) is the principal point. Returns (N, 4) float64 (x1, y1, x2, y2):
    (min u, min v, max u, max v) clipped to [0, W] x [0, H], in the same coordinates; all -1
    for a pose whose box and the image share no point (or that has no points).
    """
    uv = np.asarray(pixels, dtype=np.float64)
    if uv.ndim != 3 or uv.shape[2] != 2:
        raise ValueError(f"pixels must be (N, P, 2), got shape {uv.shape}")
    boxes = np.full((len(uv), 4), -1.0)
    if uv.shape[1] == 0:
        return boxes
    lo, hi = uv.min(axis=1), uv.max(axis=1)  # (N, 2) each
    limit = np.array([float(width), float(height)])
    seen = np.all(hi >= 0.0, axis=1) & np.all(lo <= limit, axis=1)
    boxes[seen, :2] = np.clip(lo[seen], 0.0, limit)
    boxes[seen, 2:] = np.clip(hi[seen], 0.0, limit)
    return boxes


def projected_boxes(
    points: np.ndarray, rotation: np.ndarray, translation: np.ndarray, k: np.ndarray, width: int, height: int
) -> np.ndarray:
    """The exact bounding box of an object's projection in each pose, clipped to the image.

    points: (P, 3) float64, the object's vertices, object frame; rotation: (N, 3, 3) R;
    translation: (3,) or (N, 3) t, camera frame, object units; k: (3, 3) K, pixels. Every
    point must lie in front of the camera (z > 0), as it does for an object inside the unit
    ball seen from d > 1. A perspective projection maps each triangle to a triangle, so the
    extremes of the object's silhouette are at projected vertices: the box is
    :func:`image_boxes` of :func:`project` of ``points``, (N, 4) float64 (x1, y1, x2, y2) in
    pixels of that convention (the image is [0, W] x [0, H]). Where the object crosses the
    image's border, the box is its whole projection's box clipped to the image.
    """
    r = np.asarray(rotation, dtype=np.float64).reshape(-1, 3, 3)
    t = np.broadcast_to(np.asarray(translation, dtype=np.float64).reshape(-1, 3), (len(r), 3))
    x = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    step = max(1, BOX_BLOCK // max(1, len(x)))
    boxes = [
        image_boxes(project(x, r[i : i + step], t[i : i + step], k), width, height) for i in range(0, len(r), step)
    ]
    return np.concatenate(boxes) if boxes else np.zeros((0, 4))
