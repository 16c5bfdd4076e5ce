"""The eight built-in SYMSOL solids (gpu_render.scene.solids) against SCENES.md."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial import cKDTree

from gpu_render.scene.camera import Pinhole
from gpu_render.scene.marks import DiscMark, FaceMark, SphereXMark
from gpu_render.scene.solids import BUILTIN_OBJECTS, builtin_object

PHI = (1 + math.sqrt(5)) / 2
GROUP_SIZE = {"tet": 12, "cube": 24, "icosa": 60, "cone": 360, "cyl": 720, "tetX": 12, "cylO": 720, "sphereX": 1}
FEATURELESS = {"tet", "cube", "icosa", "cone", "cyl"}
POLYHEDRA = {"tet": 4, "cube": 24, "icosa": 20, "tetX": 4}


def _geometric_normals(positions: np.ndarray) -> np.ndarray:
    p = positions.astype(np.float64)
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def _unique_vertices(obj) -> np.ndarray:
    v = obj.positions.reshape(-1, 3).astype(np.float64)
    tree = cKDTree(v)
    first = np.array([min(group) for group in tree.query_ball_point(v, 1e-6)])
    return v[np.unique(first)]


def test_names_and_unknown_name() -> None:
    assert BUILTIN_OBJECTS == ("tet", "cube", "icosa", "cone", "cyl", "tetX", "cylO", "sphereX")
    with pytest.raises(ValueError) as err:
        builtin_object("dodeca")
    message = str(err.value)
    assert "\n" not in message and "dodeca" in message
    assert all(name in message for name in BUILTIN_OBJECTS)


@pytest.mark.parametrize("name", BUILTIN_OBJECTS)
def test_arrays_group_and_flags(name: str) -> None:
    obj = builtin_object(name)
    assert obj.name == name and not obj.is_mesh_file
    t = obj.triangle_count
    assert obj.positions.shape == (t, 3, 3) and obj.positions.dtype == np.float32
    assert obj.normals.shape == (t, 3, 3) and obj.normals.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(obj.normals, axis=2), 1.0, atol=1e-6)
    assert obj.symmetry.shape == (GROUP_SIZE[name], 3, 3) and obj.symmetry.dtype == np.float64
    np.testing.assert_array_equal(obj.symmetry[0], np.eye(3))
    assert obj.featureless == (name in FEATURELESS)
    np.testing.assert_array_equal(obj.centre, np.zeros(3))
    assert obj.scale == 1.0
    assert builtin_object(name) is obj  # cached
    assert not obj.positions.flags.writeable and not obj.symmetry.flags.writeable


@pytest.mark.parametrize("name", BUILTIN_OBJECTS)
def test_circumradius_is_one(name: str) -> None:
    norms = np.linalg.norm(builtin_object(name).positions.astype(np.float64), axis=2)
    assert abs(norms.max() - 1.0) < 1e-6


@pytest.mark.parametrize("name", BUILTIN_OBJECTS)
def test_triangles_face_outward(name: str) -> None:
    obj = builtin_object(name)
    p = obj.positions.astype(np.float64)
    signed_volume = np.einsum("ti,ti->t", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum() / 6
    assert signed_volume > 0
    # every triangle of a convex solid around the origin faces away from the origin
    geometric = _geometric_normals(obj.positions)
    assert np.all(np.einsum("ti,ti->t", geometric, p.mean(axis=1)) > 0)
    # and its stored corner normals agree with its winding
    assert np.all(np.einsum("ti,tci->tc", geometric, obj.normals) > 0)


def test_solid_volumes() -> None:
    """The solids are the stated shapes at circumradius 1 (volume from the signed sum)."""

    def volume(name: str) -> float:
        p = builtin_object(name).positions.astype(np.float64)
        return float(np.einsum("ti,ti->t", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum() / 6)

    edge_tet = math.sqrt(8 / 3)
    assert volume("tet") == pytest.approx(edge_tet**3 / (6 * math.sqrt(2)), rel=1e-6)
    assert volume("cube") == pytest.approx((2 / math.sqrt(3)) ** 3, rel=1e-6)
    edge_ico = 2 / math.sqrt(1 + PHI**2)
    assert volume("icosa") == pytest.approx(5 / 12 * (3 + math.sqrt(5)) * edge_ico**3, rel=1e-6)
    polygon = 360 / 2 * 0.6**2 * math.sin(math.radians(1))  # the 360-gon's area
    assert volume("cone") == pytest.approx(polygon * 1.6 / 3, rel=1e-6)
    assert volume("cyl") == pytest.approx(polygon * 1.6, rel=1e-6)


@pytest.mark.parametrize("name", POLYHEDRA)
def test_polyhedra_have_flat_normals(name: str) -> None:
    obj = builtin_object(name)
    assert obj.triangle_count == POLYHEDRA[name]
    geometric = _geometric_normals(obj.positions)
    np.testing.assert_allclose(obj.normals, np.repeat(geometric[:, None], 3, axis=1), atol=1e-6)


def test_polyhedra_vertices() -> None:
    def expected(points) -> np.ndarray:
        v = np.asarray(points, dtype=np.float64)
        return v / np.linalg.norm(v, axis=1).max()

    tet = expected([(1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)])
    cube = expected([(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)])
    base = [(0, a, b * PHI) for a in (-1, 1) for b in (-1, 1)]
    icosa = expected([(p[i % 3], p[(i + 1) % 3], p[(i + 2) % 3]) for p in base for i in range(3)])
    for name, want in (("tet", tet), ("cube", cube), ("icosa", icosa)):
        got = _unique_vertices(builtin_object(name))
        corners = got[np.linalg.norm(got, axis=1) > 1 - 1e-6]
        if name == "cube":  # the squares are fanned from their centres
            centres = got[np.linalg.norm(got, axis=1) <= 1 - 1e-6]
            dist, _ = cKDTree(np.concatenate([np.eye(3), -np.eye(3)]) / math.sqrt(3)).query(centres)
            assert len(centres) == 6 and dist.max() < 1e-6
        else:
            assert len(corners) == len(got)
        got = corners
        assert len(got) == len(want)
        dist, _ = cKDTree(want).query(got)
        assert dist.max() < 1e-6


def test_curved_normals_are_the_true_surface_normals() -> None:
    cyl = builtin_object("cyl")
    p, n = cyl.positions.astype(np.float64), cyl.normals.astype(np.float64)
    side = np.abs(_geometric_normals(cyl.positions)[:, 2]) < 0.5
    assert side.sum() == 720
    radial = p[side] * np.array([1, 1, 0]) / 0.6
    np.testing.assert_allclose(n[side], radial, atol=1e-6)
    caps = ~side
    np.testing.assert_allclose(n[caps], np.sign(p[caps][..., 2:3]) * np.array([0, 0, 1.0]), atol=1e-6)

    cone = builtin_object("cone")
    p, n = cone.positions.astype(np.float64), cone.normals.astype(np.float64)
    rim = np.isclose(p[..., 2], -0.8) & (np.linalg.norm(p[..., :2], axis=-1) > 0.5)
    side = _geometric_normals(cone.positions)[:, 2] > 0
    assert side.sum() == 360
    corners = rim & side[:, None]
    # the cone's surface sqrt(x^2 + y^2) = 0.375 (0.8 - z) has gradient (x/r, y/r, 0.375)
    want = np.concatenate([p[corners][:, :2] / 0.6, np.full((corners.sum(), 1), 0.375)], axis=1)
    np.testing.assert_allclose(n[corners], want / np.linalg.norm(want, axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(n[~side], np.broadcast_to([0, 0, -1.0], n[~side].shape), atol=1e-6)

    sphere = builtin_object("sphereX")
    p = sphere.positions.astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(p, axis=2), 1.0, atol=1e-6)
    np.testing.assert_allclose(sphere.normals, p, atol=1e-6)


@pytest.mark.parametrize("name", ["cone", "cyl"])
def test_rims_have_360_vertices_at_whole_degrees(name: str) -> None:
    v = _unique_vertices(builtin_object(name))
    rim = v[np.abs(np.linalg.norm(v[:, :2], axis=1) - 0.6) < 1e-6]
    assert len(rim) == 360 * (1 if name == "cone" else 2)
    degrees = np.degrees(np.arctan2(rim[:, 1], rim[:, 0]))
    np.testing.assert_allclose(degrees, np.round(degrees), atol=1e-4)


def test_marked_solids_share_their_meshes_and_groups() -> None:
    for marked, plain in (("tetX", "tet"), ("cylO", "cyl")):
        a, b = builtin_object(marked), builtin_object(plain)
        np.testing.assert_array_equal(a.positions, b.positions)
        np.testing.assert_array_equal(a.normals, b.normals)
        np.testing.assert_array_equal(a.symmetry, b.symmetry)


@pytest.mark.parametrize("name", ["tet", "cube", "icosa", "cone", "cyl", "sphereX"])
def test_every_group_element_maps_the_mesh_onto_itself(name: str) -> None:
    obj = builtin_object(name)
    g = obj.symmetry
    vertices = _unique_vertices(obj)
    moved = np.einsum("gij,pj->gpi", g, vertices).reshape(-1, 3)
    dist, _ = cKDTree(vertices).query(moved)
    assert dist.max() < 1e-5
    # the triangles too (each triangle by its centroid and its normal); every 7th element of
    # the large groups (both halves of the dihedral one) keeps this quick
    g = g[::7] if len(g) > 60 else g
    p = obj.positions.astype(np.float64)
    key = np.concatenate([p.mean(axis=1), _geometric_normals(obj.positions)], axis=1)
    moved_key = np.concatenate(
        [np.einsum("gij,tj->gti", g, key[:, :3]), np.einsum("gij,tj->gti", g, key[:, 3:])], axis=2
    )
    dist, _ = cKDTree(key).query(moved_key.reshape(-1, 6))
    assert dist.max() < 1e-5


def test_marks() -> None:
    tetx = builtin_object("tetX")
    assert isinstance(tetx.mark, FaceMark) and tetx.mark.color == (255, 0, 0)
    opposite = np.array([(1, -1, -1), (-1, 1, -1), (-1, -1, 1)], dtype=np.float64) / math.sqrt(3)
    np.testing.assert_allclose(tetx.mark.centre, opposite.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(tetx.mark.normal, -np.ones(3) / math.sqrt(3), atol=1e-12)
    # exactly one triangle of the mesh carries the mark's normal
    assert np.sum(_geometric_normals(tetx.positions) @ tetx.mark.normal > 0.999) == 1

    cylo = builtin_object("cylO")
    assert isinstance(cylo.mark, DiscMark) and cylo.mark.color == (255, 0, 0)
    np.testing.assert_allclose(cylo.mark.centre, [0.3, 0.0, 0.8])
    np.testing.assert_allclose(cylo.mark.normal, [0.0, 0.0, 1.0])
    assert cylo.mark.radius == 0.15
    assert isinstance(builtin_object("sphereX").mark, SphereXMark)
    for name in FEATURELESS:
        assert builtin_object(name).mark is None


def test_sphere_silhouette_within_a_quarter_pixel_at_512() -> None:
    """The tessellated sphere lies between the unit sphere and the sphere touching its nearest
    face plane, so its silhouette lies between theirs (default camera, 512 px)."""
    p = builtin_object("sphereX").positions.astype(np.float64)
    inner = np.min(np.einsum("ti,ti->t", _geometric_normals(builtin_object("sphereX").positions), p[:, 0]))
    camera = Pinhole()
    f, d = camera.focal(512), camera.d

    def radius_px(r: float) -> float:
        return f * math.tan(math.asin(r / d))

    assert radius_px(1.0) == pytest.approx(0.45 * 512)
    assert radius_px(1.0) - radius_px(inner) < 0.25


def test_unit_ball_inside_image_agrees_with_sampled_points() -> None:
    """The renderer drops its clip planes when this says yes: it must never say yes wrongly."""
    from gpu_render.scene.camera import Pinhole, unit_ball_inside_image

    rng = np.random.default_rng(3)
    points = rng.normal(size=(20000, 3))
    points /= np.linalg.norm(points, axis=1, keepdims=True)  # the ball's boundary decides
    said_yes = said_no = 0
    for _ in range(300):
        camera = Pinhole(fov_deg=float(rng.uniform(10, 90)), distance=float(rng.uniform(1.2, 8.0)))
        size = int(rng.integers(8, 300))
        k = camera.intrinsics(size)
        t = camera.translation + rng.normal(scale=0.3, size=3) * (rng.random() < 0.5)
        x = points + t
        u = k[0, 0] * x[:, 0] / x[:, 2] + k[0, 2]
        v = k[1, 1] * x[:, 1] / x[:, 2] + k[1, 2]
        inside = bool(np.all(x[:, 2] > 0) and np.all((u >= 1) & (u <= size - 1) & (v >= 1) & (v <= size - 1)))
        answer = unit_ball_inside_image(k, t[None], size)
        if answer:
            assert inside, (camera, size, t)
            said_yes += 1
        else:
            said_no += 1
    assert said_yes > 30 and said_no > 30  # both answers were exercised
    assert unit_ball_inside_image(Pinhole().intrinsics(224), Pinhole().translation[None], 224)
    assert not unit_ball_inside_image(Pinhole().intrinsics(224), np.array([[0.0, 0.0, 0.9]]), 224)
