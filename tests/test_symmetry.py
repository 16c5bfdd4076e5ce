"""The rotation groups of the SYMSOL solids (gpu_render.scene.symmetry)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from gpu_render.scene import symmetry

GROUPS = [
    (symmetry.tetrahedral, 12),
    (symmetry.octahedral, 24),
    (symmetry.icosahedral, 60),
    (lambda: symmetry.cyclic_z(360), 360),
    (lambda: symmetry.dihedral_z(360), 720),
]
IDS = ["T", "O", "I", "Cz360", "Dz720"]


@pytest.mark.parametrize(("make", "size"), GROUPS, ids=IDS)
def test_group_axioms(make, size) -> None:
    g = make()
    assert g.shape == (size, 3, 3) and g.dtype == np.float64
    np.testing.assert_array_equal(g[0], np.eye(3))
    # rotations: orthonormal with det +1
    np.testing.assert_allclose(g @ np.swapaxes(g, 1, 2), np.broadcast_to(np.eye(3), g.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(g), 1.0, atol=1e-12)
    flat = g.reshape(size, 9)
    tree = cKDTree(flat)
    # no duplicates: each element's nearest other element is far away
    dist, _ = tree.query(flat, k=2)
    assert dist[:, 1].min() > 1e-3
    # closed under multiplication (and so under inverses, being finite)
    products = np.matmul(g[:, None], g[None, :]).reshape(-1, 9)
    dist, _ = tree.query(products)
    assert dist.max() < 1e-9
    assert symmetry.is_group(g)


@pytest.mark.parametrize(("make", "size"), GROUPS, ids=IDS)
def test_order_is_deterministic(make, size) -> None:
    np.testing.assert_array_equal(make(), make())


def _maps_onto(g: np.ndarray, points: np.ndarray) -> bool:
    moved = np.einsum("gij,pj->gpi", g, points).reshape(-1, 3)
    dist, _ = cKDTree(points).query(moved)
    return bool(dist.max() < 1e-9)


def test_tetrahedral_is_the_cube_rotations_fixing_the_tet() -> None:
    t, o = symmetry.tetrahedral(), symmetry.octahedral()
    assert _maps_onto(t, symmetry.TET_VERTICES)
    keeps = [_maps_onto(x[None], symmetry.TET_VERTICES) for x in o]
    assert sum(keeps) == 12
    np.testing.assert_array_equal(t, o[np.array(keeps)])


def test_octahedral_is_signed_permutations() -> None:
    o = symmetry.octahedral()
    assert np.all(np.isin(o, (-1.0, 0.0, 1.0)))
    assert np.all(np.sum(o != 0, axis=1) == 1) and np.all(np.sum(o != 0, axis=2) == 1)
    corners = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T.astype(float)
    assert _maps_onto(o, corners)


def test_icosahedral_maps_the_icosahedron_onto_itself() -> None:
    v = symmetry.icosa_vertices()
    assert v.shape == (12, 3)
    assert _maps_onto(symmetry.icosahedral(), v)
    # every element is a proper rotation by an angle of the group: 0, 72, 144, 120 or 180 degrees
    angles = np.degrees(Rotation.from_matrix(symmetry.icosahedral()).magnitude())
    assert np.all(np.min(np.abs(angles[:, None] - np.array([0, 72, 144, 120, 180])), axis=1) < 1e-6)


def test_cyclic_and_dihedral_are_whole_degree_turns() -> None:
    k = np.arange(360)
    rz = Rotation.from_euler("z", k[:, None], degrees=True).as_matrix()
    np.testing.assert_allclose(symmetry.cyclic_z(360), rz, atol=1e-14)
    d = symmetry.dihedral_z(360)
    np.testing.assert_allclose(d[:360], rz, atol=1e-14)
    rx180 = Rotation.from_euler("x", 180, degrees=True).as_matrix()
    np.testing.assert_allclose(d[360:], rx180 @ rz, atol=1e-14)


def test_is_group_rejects_non_groups() -> None:
    o = symmetry.octahedral()
    assert not symmetry.is_group(o[1:])  # no identity first
    assert not symmetry.is_group(o[:-1])  # not closed
    assert not symmetry.is_group(np.concatenate([o, o[:1]]))  # a duplicate
    assert not symmetry.is_group(np.stack([np.eye(3), np.diag([1.0, 1.0, -1.0])]))  # a reflection
    assert symmetry.is_group(symmetry.cyclic_z(7)) and symmetry.is_group(symmetry.dihedral_z(5))
