"""PASCAL3D+ / ImageNet3D viewpoints of scene poses (FORMATS.md, PASCAL3D+ / ImageNet3D
viewpoints). Pure functions.

A viewpoint is (azimuth a, elevation e, in-plane rotation theta θ), radians, with distance d,
focal f, viewport M and principal point (px, py). It is the pose ``x_cam = R @ x_obj + t`` of
SCENES.md (camera x right, y down, z forward; ``t = (0, 0, d)``) exactly when

    diag(1, -1, -1) @ R = Rz(θ) @ Rx(e - π/2) @ Rz(-a),

and the intrinsics ``K = [[M f, 0, px], [0, M f, py], [0, 0, 1]]``. The camera then sits at
``C = d (cos e sin a, -cos e cos a, sin e)`` in the object frame.

Ranges chosen here: azimuth in [0, 2π), elevation in [-π/2, π/2], theta in (-π, π]. At
elevation ±π/2 (the camera on the object's z axis) only one angle about z is defined; it is
put in the azimuth and theta is 0.
"""

from __future__ import annotations

import numpy as np

#: PASCAL3D+'s viewport M, pixels.
VIEWPORT = 3000.0
#: Below this cos(elevation) the camera counts as on the z axis (theta = 0, elevation = ±π/2).
GIMBAL_TOL = 1e-12

_FLIP = np.diag([1.0, -1.0, -1.0])


def _rz(angle: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations about z by ``angle`` (N,), column vectors."""
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros((len(angle), 3, 3))
    out[:, 0, 0], out[:, 0, 1], out[:, 1, 0], out[:, 1, 1], out[:, 2, 2] = c, -s, s, c, 1.0
    return out


def _rx(angle: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations about x by ``angle`` (N,), column vectors."""
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros((len(angle), 3, 3))
    out[:, 0, 0], out[:, 1, 1], out[:, 1, 2], out[:, 2, 1], out[:, 2, 2] = 1.0, c, -s, s, c
    return out


def viewpoint_from_rotation(rotation: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(azimuth, elevation, theta), each (N,) float64 radians, of rotations R (N, 3, 3).

    Solves ``A = diag(1, -1, -1) R = Rz(θ) Rx(e - π/2) Rz(-a)``. A's last row is
    ``(cos e sin a, -cos e cos a, sin e)`` (the unit vector towards the camera), so
    ``e = atan2(A22, hypot(A20, A21))`` and ``a = atan2(A20, -A21)``. θ is then read from
    ``A Rz(a) = Rz(θ) Rx(e - π/2)``, whose first column is ``(cos θ, sin θ, 0)``; this stays
    exact near the gimbal poses. At ``cos e <= GIMBAL_TOL``, ``A = Rz(θ - a)`` (e = π/2) or
    ``diag(1, -1, -1) Rz(θ - a)`` (e = -π/2): then θ = 0, e = ±π/2 and a = atan2(A01, A00).
    """
    r = np.asarray(rotation, dtype=np.float64)
    if r.ndim != 3 or r.shape[1:] != (3, 3):
        raise ValueError(f"rotation must be (N, 3, 3), got shape {r.shape}")
    a_mat = _FLIP @ r
    cos_e = np.hypot(a_mat[:, 2, 0], a_mat[:, 2, 1])
    gimbal = cos_e <= GIMBAL_TOL
    elevation = np.where(gimbal, np.copysign(np.pi / 2, a_mat[:, 2, 2]), np.arctan2(a_mat[:, 2, 2], cos_e))
    azimuth = np.where(gimbal, np.arctan2(a_mat[:, 0, 1], a_mat[:, 0, 0]), np.arctan2(a_mat[:, 2, 0], -a_mat[:, 2, 1]))
    first = np.einsum("nij,nj->ni", a_mat, _rz(azimuth)[:, :, 0])  # first column of A Rz(a)
    theta = np.where(gimbal, 0.0, np.arctan2(first[:, 1], first[:, 0]))
    azimuth = np.mod(azimuth, 2 * np.pi)
    azimuth = np.where(azimuth >= 2 * np.pi, 0.0, azimuth) + 0.0  # mod can round up to 2π
    theta = np.where(theta <= -np.pi, np.pi, theta) + 0.0
    return azimuth, elevation + 0.0, theta


def rotation_from_viewpoint(azimuth: np.ndarray, elevation: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """R = diag(1, -1, -1) Rz(θ) Rx(e - π/2) Rz(-a): (N, 3, 3) float64 from (N,) radians."""
    a, e, th = (np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in (azimuth, elevation, theta))
    a, e, th = np.broadcast_arrays(a, e, th)
    return _FLIP @ _rz(th) @ _rx(e - np.pi / 2) @ _rz(-a)


def pascal3d_project(
    points: np.ndarray,
    azimuth: np.ndarray,
    elevation: np.ndarray,
    theta: np.ndarray,
    distance: np.ndarray,
    focal: np.ndarray,
    viewport: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
) -> np.ndarray:
    """PASCAL3D+'s ``project_3d``, step by step as FORMATS.md writes it.

    points: (P, 3) model frame. The viewpoint arguments are (N,) or scalars (broadcast).
    Returns (N, P, 2) float64 pixels (x right, y down)::

        C = d (cos e sin a, -cos e cos a, sin e)
        R = Rx(e - π/2) Rz(-a)
        x = diag(M f, M f, -1) (R X - R C);  (u, v) = (x1 / x3, x2 / x3)
        (u, v) <- [[cos θ, -sin θ], [sin θ, cos θ]] (u, v)
        pixel = (px + u, py - v)
    """
    x_model = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    a, e, th, d, f, m, p_x, p_y = np.broadcast_arrays(
        *(
            np.atleast_1d(np.asarray(v, dtype=np.float64))
            for v in (azimuth, elevation, theta, distance, focal, viewport, px, py)
        )
    )
    centre = d[:, None] * np.stack([np.cos(e) * np.sin(a), -np.cos(e) * np.cos(a), np.sin(e)], axis=1)
    rot = _rx(e - np.pi / 2) @ _rz(-a)  # (N, 3, 3)
    rx = np.einsum("nij,pj->npi", rot, x_model) - np.einsum("nij,nj->ni", rot, centre)[:, None, :]
    x1, x2, x3 = (m * f)[:, None] * rx[..., 0], (m * f)[:, None] * rx[..., 1], -rx[..., 2]
    u, v = x1 / x3, x2 / x3
    c, s = np.cos(th)[:, None], np.sin(th)[:, None]
    u, v = c * u - s * v, s * u + c * v
    return np.stack([p_x[:, None] + u, p_y[:, None] - v], axis=-1)
