"""The pinhole camera of SCENES.md. Pure functions of its two parameters.

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
