"""Pose grid, transform and labels against the spec and the 2018 fixture."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_render.rotations.euler import clpr_angles, clpr_euler, clpr_pose_count, euler_to_matrix
from gpu_render.scene.clpr_cube import NODES
from gpu_render.scene.clpr_labels import clpr_labels, face_visible, node_visible, posed_corners, translation

LABEL_TOLERANCE = 1e-9  # docs/CLPR.md: equal to the 2018 values within 1e-9


def test_grid_sizes_match_spec() -> None:
    assert len(clpr_angles(0.1)) == 63
    assert clpr_pose_count(0.1) == 250047
    assert clpr_pose_count(0.3) == 9261
    assert clpr_pose_count(1.0) == 343
    assert clpr_angles(0.1)[3] == 0.30000000000000004  # arange's own float64 values


def test_grid_order_is_x_outermost_z_innermost() -> None:
    angles = clpr_angles(0.3)
    n = len(angles)
    euler = clpr_euler(0.3)
    for i in (0, 1, n, n * n, 1234, n**3 - 1):
        assert tuple(euler[i]) == (angles[i // n**2], angles[(i // n) % n], angles[i % n])


def test_grid_slices_agree_with_the_whole() -> None:
    assert np.array_equal(clpr_euler(0.3, 100, 250), clpr_euler(0.3)[100:250])
    with pytest.raises(ValueError):
        clpr_euler(0.3, 0, 10**6)


def test_labels_equal_the_2018_fixture(fixture_labels: tuple[np.ndarray, np.ndarray]) -> None:
    index, expected = fixture_labels
    euler = clpr_euler(0.3)[index]
    got = clpr_labels(euler, posed_corners(euler_to_matrix(euler)))
    assert got.shape == expected.shape == (48, 8, 6)
    assert got.dtype == np.float64
    assert np.abs(got - expected).max() <= LABEL_TOLERANCE


def test_full_grid_labels_shape_and_rotation_columns() -> None:
    euler = clpr_euler(0.1)
    labels = clpr_labels(euler, posed_corners(euler_to_matrix(euler)))
    assert labels.shape == (250047, 8, 6) and labels.dtype == np.float64
    assert np.array_equal(labels[:, 3, 3:], euler)
    assert np.array_equal(labels[:, 0, 3:], labels[:, 7, 3:])
    # every bounding box is centred on (128, 128, 0)
    centre = (labels[..., :3].min(axis=1) + labels[..., :3].max(axis=1)) / 2
    assert np.abs(centre - [128, 128, 0]).max() < 1e-9


def test_matrices_are_rotations_in_the_row_vector_convention() -> None:
    euler = np.array([[0.3, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.7], [1.0, 2.0, 3.0]])
    m = euler_to_matrix(euler)
    assert np.allclose(m @ m.transpose(0, 2, 1), np.eye(3))
    assert np.allclose(np.linalg.det(m), 1)
    a = 0.3  # Rx(a) per spec: [[1,0,0],[0,cos,-sin],[0,sin,cos]]
    assert np.allclose(m[0], [[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    # the combined matrix equals applying Rx, then Ry, then Rz to row vectors
    p = np.array([1.0, 2.0, 3.0])
    step = p @ euler_to_matrix(euler[3:4] * [1, 0, 0])[0]
    step = step @ euler_to_matrix(euler[3:4] * [0, 1, 0])[0]
    step = step @ euler_to_matrix(euler[3:4] * [0, 0, 1])[0]
    assert np.allclose(p @ m[3], step)


def test_translation_reproduces_posed_corners() -> None:
    euler = clpr_euler(0.5)
    m = euler_to_matrix(euler)
    assert np.abs(NODES @ m + translation(m)[:, None] - posed_corners(m)).max() < 1e-9


def test_visibility_rules() -> None:
    corners = posed_corners(euler_to_matrix(clpr_euler(0.3)))
    faces = face_visible(corners)
    counts = faces.sum(axis=1)
    assert counts.min() >= 1 and counts.max() <= 3  # a convex cube shows 1 to 3 faces
    assert not (faces[:, 0] & faces[:, 1]).any()  # opposite faces are never both visible
    nodes = node_visible(faces)
    # identity pose: only face 4 (z = 0, nearest the viewer) is visible, with its four nodes
    assert faces[0].tolist() == [False, False, False, False, True, False]
    assert np.flatnonzero(nodes[0]).tolist() == [0, 2, 4, 6]
    assert (nodes.sum(axis=1)[counts == 3] == 7).all()  # three faces show 7 corners
