"""Rotation representations: matrices and unit quaternions. Pure functions.

Conventions (see docs/LABELS.md):
- ``R`` (N, 3, 3): column-vector rotation, ``x_camera = R @ x_cube``. The project's internal
  row-vector matrix is its transpose, ``M = R.T`` (``q = p @ M``).
- quaternion (N, 4): Hamilton, scalar first (w, x, y, z), unit norm, w >= 0; it rotates as
  ``x_camera = q * x_cube * conj(q)`` and corresponds to ``R``.
"""

from __future__ import annotations

import numpy as np


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(N, 4) unit quaternions (w, x, y, z) -> (N, 3, 3) column-vector rotations R."""
    q = np.asarray(q, dtype=np.float64)
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    r = np.empty((len(q), 3, 3))
    r[:, 0, 0] = 1 - 2 * (y * y + z * z)
    r[:, 0, 1] = 2 * (x * y - w * z)
    r[:, 0, 2] = 2 * (x * z + w * y)
    r[:, 1, 0] = 2 * (x * y + w * z)
    r[:, 1, 1] = 1 - 2 * (x * x + z * z)
    r[:, 1, 2] = 2 * (y * z - w * x)
    r[:, 2, 0] = 2 * (x * z - w * y)
    r[:, 2, 1] = 2 * (y * z + w * x)
    r[:, 2, 2] = 1 - 2 * (x * x + y * y)
    return r


def matrix_to_quaternion(r: np.ndarray) -> np.ndarray:
    """(N, 3, 3) column-vector rotations -> (N, 4) unit quaternions (w, x, y, z) with w >= 0.

    Uses, per matrix, the largest of the four diagonal combinations (well conditioned).
    """
    r = np.asarray(r, dtype=np.float64)
    n = len(r)
    m00, m11, m22 = r[:, 0, 0], r[:, 1, 1], r[:, 2, 2]
    candidates = np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], 1)
    pick = np.argmax(candidates, axis=1)
    s = np.sqrt(np.maximum(candidates[np.arange(n), pick], 1e-300)) * 2  # s = 4 * |component|
    q = np.empty((n, 4))
    for k in range(4):
        m = pick == k
        rk = r[m]
        sk = s[m]
        if k == 0:
            q[m] = np.stack(
                [
                    sk / 4,
                    (rk[:, 2, 1] - rk[:, 1, 2]) / sk,
                    (rk[:, 0, 2] - rk[:, 2, 0]) / sk,
                    (rk[:, 1, 0] - rk[:, 0, 1]) / sk,
                ],
                1,
            )
        elif k == 1:
            q[m] = np.stack(
                [
                    (rk[:, 2, 1] - rk[:, 1, 2]) / sk,
                    sk / 4,
                    (rk[:, 0, 1] + rk[:, 1, 0]) / sk,
                    (rk[:, 0, 2] + rk[:, 2, 0]) / sk,
                ],
                1,
            )
        elif k == 2:
            q[m] = np.stack(
                [
                    (rk[:, 0, 2] - rk[:, 2, 0]) / sk,
                    (rk[:, 0, 1] + rk[:, 1, 0]) / sk,
                    sk / 4,
                    (rk[:, 1, 2] + rk[:, 2, 1]) / sk,
                ],
                1,
            )
        else:
            q[m] = np.stack(
                [
                    (rk[:, 1, 0] - rk[:, 0, 1]) / sk,
                    (rk[:, 0, 2] + rk[:, 2, 0]) / sk,
                    (rk[:, 1, 2] + rk[:, 2, 1]) / sk,
                    sk / 4,
                ],
                1,
            )
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return np.where(q[:, :1] < 0, -q, q)


def rotation_angle(q: np.ndarray) -> np.ndarray:
    """Rotation angle of each unit quaternion, (N,) radians in [0, pi]."""
    return 2 * np.arccos(np.clip(np.abs(np.asarray(q, dtype=np.float64)[:, 0]), 0.0, 1.0))


def geodesic(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Geodesic distance on SO(3) between unit quaternions, (...,) radians in [0, pi]."""
    dot = np.abs(np.sum(np.asarray(q1) * np.asarray(q2), axis=-1))
    return 2 * np.arccos(np.clip(dot, 0.0, 1.0))


def rz(a: np.ndarray) -> np.ndarray:
    """(N,) angles -> (N, 3, 3) column-vector rotations about z."""
    c, s = np.cos(a), np.sin(a)
    r = np.zeros((len(a), 3, 3))
    r[:, 0, 0], r[:, 0, 1], r[:, 1, 0], r[:, 1, 1], r[:, 2, 2] = c, -s, s, c, 1
    return r


def ry(a: np.ndarray) -> np.ndarray:
    """(N,) angles -> (N, 3, 3) column-vector rotations about y."""
    c, s = np.cos(a), np.sin(a)
    r = np.zeros((len(a), 3, 3))
    r[:, 0, 0], r[:, 0, 2], r[:, 2, 0], r[:, 2, 2], r[:, 1, 1] = c, s, -s, c, 1
    return r
