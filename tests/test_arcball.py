"""Arcball and Euler recovery: pure math used by the preview (and the labels of any rotation)."""

from __future__ import annotations

import numpy as np

from gpu_render.rotations.arcball import rotation_between, sphere_point
from gpu_render.rotations.euler import clpr_euler, euler_to_matrix, matrix_to_euler


def test_sphere_point_faces_the_viewer() -> None:
    assert np.allclose(sphere_point(100, 100, (100, 100), 50), [0, 0, -1])
    assert np.allclose(sphere_point(150, 100, (100, 100), 50), [1, 0, 0])  # on the rim
    assert np.allclose(sphere_point(400, 100, (100, 100), 50), [1, 0, 0])  # outside: clamped to the rim
    v = sphere_point(120, 90, (100, 100), 50)
    assert np.isclose(np.linalg.norm(v), 1) and v[2] < 0


def test_rotation_between_takes_v0_to_v1() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        v0, v1 = (x / np.linalg.norm(x) for x in rng.normal(size=(2, 3)))
        r = rotation_between(v0, v1)
        assert np.allclose(v0 @ r, v1)
        assert np.allclose(r @ r.T, np.eye(3)) and np.isclose(np.linalg.det(r), 1)
    assert np.array_equal(rotation_between([0, 0, -1], [0, 0, -1]), np.eye(3))


def test_dragging_right_moves_the_front_right() -> None:
    r = rotation_between(sphere_point(0, 0, (0, 0), 1), sphere_point(0.5, 0, (0, 0), 1))
    front = np.array([0.0, 0.0, -1.0])  # the point nearest the viewer
    assert (front @ r)[0] > 0.4


def test_matrix_to_euler_inverts_euler_to_matrix() -> None:
    euler = clpr_euler(0.3)
    back = matrix_to_euler(euler_to_matrix(euler))
    assert np.abs(euler_to_matrix(back) - euler_to_matrix(euler)).max() < 1e-12
    assert ((back >= 0) & (back < 2 * np.pi)).all()
    # off the gimbal lock the angles themselves come back
    free = np.cos(euler[:, 1]) > 1e-3  # (a, b, c) and (a+pi, pi-b, c+pi) are the same rotation
    assert np.abs(np.angle(np.exp(1j * (back[free] - euler[free])))).max() < 1e-9


def test_matrix_to_euler_at_gimbal_lock() -> None:
    euler = np.array([[0.7, np.pi / 2, 0.2], [1.1, 3 * np.pi / 2, 2.0]])
    back = matrix_to_euler(euler_to_matrix(euler))
    assert np.allclose(euler_to_matrix(back), euler_to_matrix(euler))
    assert np.allclose(back[:, 0], 0)
