"""Rotation sources: the cLPR Euler grid and Euler angles to matrices. Pure functions."""

from __future__ import annotations

import numpy as np

#: The grid's angles run over numpy.arange(0, ANGLE_STOP, step), radians.
ANGLE_STOP = 6.3


def clpr_angles(step: float) -> np.ndarray:
    """Angles of one axis of the cLPR grid: ``numpy.arange(0, 6.3, step)``.

    Returns (n,) float64, radians, with exactly the values ``arange`` produces.
    """
    if not step > 0:
        raise ValueError(f"step must be positive, got {step!r}")
    return np.arange(0, ANGLE_STOP, step)


def clpr_pose_count(step: float) -> int:
    """Number of poses in the grid for ``step``: ``len(clpr_angles(step)) ** 3``."""
    return len(clpr_angles(step)) ** 3


def clpr_euler(step: float, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Euler triples of poses ``start .. stop-1`` of the cLPR grid.

    Pose ``i`` is ``(angles[i // n**2], angles[(i // n) % n], angles[i % n])``: x outermost,
    z innermost. Returns (stop - start, 3) float64, radians, columns (rx, ry, rz).
    """
    angles = clpr_angles(step)
    n = len(angles)
    total = n**3
    stop = total if stop is None else stop
    if not 0 <= start <= stop <= total:
        raise ValueError(f"pose range {start}..{stop} is outside 0..{total}")
    i = np.arange(start, stop, dtype=np.int64)
    return np.stack([angles[i // (n * n)], angles[(i // n) % n], angles[i % n]], axis=1)


def euler_to_matrix(euler: np.ndarray) -> np.ndarray:
    """Rotation matrices ``Rx(rx) @ Ry(ry) @ Rz(rz)`` for row vectors.

    euler: (N, 3) float64, radians, columns (rx, ry, rz).
    Returns (N, 3, 3) float64. A row vector ``p`` (cube frame) rotates to ``p @ M``;
    this is the one matrix convention of the project, shared by the CPU reference and
    the GPU path.
    """
    euler = np.asarray(euler, dtype=np.float64)
    if euler.ndim != 2 or euler.shape[1] != 3:
        raise ValueError(f"euler must have shape (N, 3), got {euler.shape}")
    c, s = np.cos(euler), np.sin(euler)
    n = len(euler)
    rx = np.zeros((n, 3, 3))
    rx[:, 0, 0] = 1
    rx[:, 1, 1], rx[:, 1, 2] = c[:, 0], -s[:, 0]
    rx[:, 2, 1], rx[:, 2, 2] = s[:, 0], c[:, 0]
    ry = np.zeros((n, 3, 3))
    ry[:, 1, 1] = 1
    ry[:, 0, 0], ry[:, 0, 2] = c[:, 1], s[:, 1]
    ry[:, 2, 0], ry[:, 2, 2] = -s[:, 1], c[:, 1]
    rz = np.zeros((n, 3, 3))
    rz[:, 2, 2] = 1
    rz[:, 0, 0], rz[:, 0, 1] = c[:, 2], -s[:, 2]
    rz[:, 1, 0], rz[:, 1, 1] = s[:, 2], c[:, 2]
    return rx @ ry @ rz


def matrix_to_euler(matrix: np.ndarray) -> np.ndarray:
    """Invert :func:`euler_to_matrix`: the cLPR angles of rotation matrices.

    matrix: (N, 3, 3) float64, row-vector convention. Returns (N, 3) float64 radians, each
    in [0, 2*pi), with ``euler_to_matrix(result)`` equal to ``matrix`` (at ry = +-pi/2, where
    rx and rz are not unique, rx is taken as 0).
    """
    m = np.asarray(matrix, dtype=np.float64)
    # M = Rx(a) Ry(b) Rz(c): row 0 is (cos b cos c, -cos b sin c, sin b) and
    # column 2 is (sin b, -sin a cos b, cos a cos b).
    b = np.arcsin(np.clip(m[:, 0, 2], -1.0, 1.0))
    locked = np.abs(m[:, 0, 2]) > 1 - 1e-12
    a = np.where(locked, 0.0, np.arctan2(-m[:, 1, 2], m[:, 2, 2]))
    c = np.where(locked, np.arctan2(m[:, 1, 0], m[:, 1, 1]), np.arctan2(-m[:, 0, 1], m[:, 0, 0]))
    return np.mod(np.stack([a, b, c], axis=1), 2 * np.pi)
