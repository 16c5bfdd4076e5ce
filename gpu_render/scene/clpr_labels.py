"""Posed corners, labels and visibility (spec: Transform, Label array, Image). Pure functions."""

from __future__ import annotations

import numpy as np

from gpu_render.scene.clpr_cube import CENTRE, FACES, NODE_FACES, NODES, VISIBILITY_THRESHOLD


def posed_corners(matrix: np.ndarray) -> np.ndarray:
    """Rotate the cube by ``matrix`` and re-centre its bounding box on (128, 128, 0).

    matrix: (N, 3, 3) float64, row-vector convention (``q = p @ M``).
    Returns (N, 8, 3) float64, canvas px of the 256 canvas: x right, y down, z away.
    """
    q = NODES @ np.asarray(matrix, dtype=np.float64)
    centre = (q.min(axis=1) + q.max(axis=1)) / 2
    return q - centre[:, None, :] + CENTRE


def translation(matrix: np.ndarray) -> np.ndarray:
    """The translation ``t`` with ``posed_corners(M) == NODES @ M + t``.

    matrix: (N, 3, 3) float64. Returns (N, 3) float64, canvas px.
    """
    q = NODES @ np.asarray(matrix, dtype=np.float64)
    return CENTRE - (q.min(axis=1) + q.max(axis=1)) / 2


def clpr_labels(euler: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The cLPR label array.

    euler: (N, 3) float64 radians; corners: (N, 8, 3) float64 canvas px (from
    :func:`posed_corners`). Returns (N, 8, 6) float64: ``[..., :3]`` the corner's x, y, z,
    ``[..., 3:]`` the pose's (rx, ry, rz), repeated for all 8 nodes.
    """
    n = len(euler)
    out = np.empty((n, 8, 6), dtype=np.float64)
    out[:, :, :3] = corners
    out[:, :, 3:] = np.asarray(euler, dtype=np.float64)[:, None, :]
    return out


def face_visible(corners: np.ndarray) -> np.ndarray:
    """Which faces face the viewer: ``-cross(q1 - q0, q2 - q0).z > 10``.

    corners: (N, 8, 3) float64, canvas px. Returns (N, 6) bool.
    """
    q = np.asarray(corners, dtype=np.float64)
    a = q[:, FACES[:, 1]] - q[:, FACES[:, 0]]
    b = q[:, FACES[:, 2]] - q[:, FACES[:, 0]]
    nz = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    return np.asarray(-nz > VISIBILITY_THRESHOLD)


def node_visible(faces_visible: np.ndarray) -> np.ndarray:
    """A node gets a dot when it belongs to at least one visible face.

    faces_visible: (N, 6) bool. Returns (N, 8) bool.
    """
    return np.asarray((np.asarray(faces_visible, dtype=bool)[:, None, :] & NODE_FACES[None]).any(axis=2))
