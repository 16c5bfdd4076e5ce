"""Arcball rotation for the preview: pure functions on the view frame (x right, y down, z away)."""

from __future__ import annotations

import numpy as np


def sphere_point(x: float, y: float, centre: tuple[float, float], radius: float) -> np.ndarray:
    """Map a window point (px, y down) onto the unit sphere's half that faces the viewer.

    Returns (3,) float64 in the view frame; z <= 0 (towards the viewer). Points outside the
    ball's outline land on its rim.
    """
    v = np.array([(x - centre[0]) / radius, (y - centre[1]) / radius, 0.0])
    r2 = v[0] ** 2 + v[1] ** 2
    if r2 >= 1.0:
        v[:2] /= np.sqrt(r2)
    else:
        v[2] = -np.sqrt(1.0 - r2)
    return v


def rotation_between(v0: np.ndarray, v1: np.ndarray) -> np.ndarray:
    """The rotation about ``v0 x v1`` that takes unit vector v0 to v1.

    Returns (3, 3) float64 in the project's row-vector convention: ``v0 @ R == v1``.
    """
    v0 = np.asarray(v0, dtype=np.float64)
    v1 = np.asarray(v1, dtype=np.float64)
    axis = np.cross(v0, v1)
    s = np.linalg.norm(axis)
    c = float(np.clip(np.dot(v0, v1), -1.0, 1.0))
    if s < 1e-12:
        return np.eye(3)
    k = axis / s
    skew = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    column = np.eye(3) + s * skew + (1 - c) * skew @ skew  # Rodrigues, column vectors
    return column.T
