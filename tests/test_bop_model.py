"""BOP model helpers (gpu_render/scene/bop_model.py): the diameter against all pairs, and the split of
a rotation group into BOP's continuous and discrete symmetries for groups in any orientation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_render.rotations.quaternion import quaternion_to_matrix
from gpu_render.scene import bop_model, symmetry


def _all_pairs(points: np.ndarray) -> float:
    return float(np.max(np.linalg.norm(points[:, None] - points[None], axis=2)))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 300),
    kind=st.sampled_from(["cube", "sphere", "line", "clusters"]),
)
def test_diameter_is_the_largest_pairwise_distance(seed: int, n: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    if kind == "cube":
        pts = rng.uniform(-1, 1, (n, 3)) * [3.0, 1.0, 0.2]
    elif kind == "sphere":  # every point as far from the centre: nothing can be left out
        pts = rng.normal(size=(n, 3))
        pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    elif kind == "line":
        pts = np.outer(rng.uniform(-5, 5, n), [1.0, 2.0, -0.5])
    else:
        pts = rng.normal(size=(n, 3)) * 0.1 + rng.choice([-4.0, 0.0, 4.0], size=(n, 1))
    assert bop_model.diameter(pts) == pytest.approx(_all_pairs(pts), rel=1e-12, abs=1e-12)


def test_diameter_of_fewer_than_two_points() -> None:
    assert bop_model.diameter(np.zeros((1, 3))) == 0.0
    assert bop_model.diameter(np.ones((5, 3))) == 0.0


def _turned(group: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The group seen in a frame turned by q: Q G Q^T."""
    m = quaternion_to_matrix(q[None] / np.linalg.norm(q))[0]
    return m @ group @ m.T, m


@pytest.mark.parametrize("q", [np.array([1.0, 0.0, 0.0, 0.0]), np.array([0.3, -0.5, 0.7, 0.2])])
def test_continuous_groups_in_any_orientation(q: np.ndarray) -> None:
    cyl, m = _turned(symmetry.dihedral_z(360), q)
    axis, discrete = bop_model.split_continuous(cyl)
    assert axis is not None and abs(abs(axis @ m[:, 2]) - 1) < 1e-9  # the turned z axis
    assert len(discrete) == 1  # one half turn about an axis perpendicular to it
    assert np.trace(discrete[0]) == pytest.approx(-1.0) and abs(_axis_of_half_turn(discrete[0]) @ axis) < 1e-9
    cone, m = _turned(symmetry.cyclic_z(360), q)
    axis, discrete = bop_model.split_continuous(cone)
    assert axis is not None and abs(abs(axis @ m[:, 2]) - 1) < 1e-9 and len(discrete) == 0


def _axis_of_half_turn(g: np.ndarray) -> np.ndarray:
    s = (g + np.eye(3)) / 2  # = a a^T
    j = int(np.argmax(np.diag(s)))
    return s[:, j] / np.sqrt(s[j, j])


@pytest.mark.parametrize(
    ("group", "count"),
    [(symmetry.cyclic_z(4), 3), (symmetry.dihedral_z(6), 11), (symmetry.octahedral(), 23), (np.eye(3)[None], 0)],
)
def test_finite_groups_stay_discrete(group: np.ndarray, count: int) -> None:
    axis, discrete = bop_model.split_continuous(group)
    assert axis is None and len(discrete) == count
    keys = bop_model.bop_symmetries(group)
    assert len(keys.get("symmetries_discrete", [])) == count and "symmetries_continuous" not in keys
    for flat in keys.get("symmetries_discrete", []):
        m = np.array(flat).reshape(4, 4)
        assert not np.allclose(m, np.eye(4))  # the identity is left out
        np.testing.assert_array_equal(m[3], [0.0, 0.0, 0.0, 1.0])
