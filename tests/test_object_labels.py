"""Scene labels (gpu_render.scene.object_labels) against SCENES.md, Labels.

Expectations are computed here from the geometry: the camera's position in the object frame
is p = -R^T t, and a flat face (outward normal n, a point c on it) faces the camera iff
n . (c - p) < 0.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from gpu_render.rotations.quaternion import quaternion_to_matrix
from gpu_render.scene.camera import Pinhole
from gpu_render.scene.mesh_object import mesh_object
from gpu_render.scene.object_labels import mark_visible, scene_labels, visual_equivalents
from gpu_render.scene.solids import builtin_object

CAMERA = Pinhole()
N = 1500


@pytest.fixture(scope="module")
def poses() -> np.ndarray:
    """Uniform random rotations plus a few that put the camera exactly on a symmetry axis or
    in the cylinder's mid plane."""
    extra = Rotation.from_euler("x", np.array([[0], [90], [180], [-90], [45]]), degrees=True).as_matrix()
    return np.concatenate([extra, Rotation.random(N, random_state=7).as_matrix()])


def _camera_in_object(r: np.ndarray, t: np.ndarray = CAMERA.translation) -> np.ndarray:
    return -np.einsum("nji,j->ni", r, t)


def _faces(obj) -> tuple[np.ndarray, np.ndarray]:
    """Each triangle's outward unit normal and centroid, (T, 3) each."""
    p = obj.positions.astype(np.float64)
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    return n / np.linalg.norm(n, axis=1, keepdims=True), p.mean(axis=1)


def _check_sets(flat: np.ndarray, offsets: np.ndarray, r: np.ndarray, g: np.ndarray) -> None:
    """Each set starts with R, and holds distinct R @ G_k."""
    assert offsets.dtype == np.int64 and offsets.shape == (len(r) + 1,)
    assert offsets[0] == 0 and offsets[-1] == len(flat) and np.all(np.diff(offsets) >= 1)
    np.testing.assert_allclose(flat[offsets[:-1]], r, atol=1e-6)
    tree = cKDTree(g.reshape(-1, 9))
    for i in range(0, len(r), 97):
        members = flat[offsets[i] : offsets[i + 1]].astype(np.float64)
        dist, k = tree.query(np.einsum("ji,kjl->kil", r[i], members).reshape(-1, 9))  # R^T R'
        assert dist.max() < 1e-5 and len(np.unique(k)) == len(k)


def test_mark_visible_sphere_x(poses: np.ndarray) -> None:
    mark = builtin_object("sphereX").mark
    got = mark_visible(mark, poses, CAMERA.translation)
    assert got.shape == (len(poses),) and got.dtype == bool
    # the mark's centre is the pole (0, 0, 1) with normal +z: seen iff the camera is above z = 1
    np.testing.assert_array_equal(got, _camera_in_object(poses)[:, 2] > 1)
    assert not got[0] and got[2]  # identity: the pole points away; Rx(180): towards the camera
    np.testing.assert_array_equal(mark_visible(mark, poses, np.broadcast_to(CAMERA.translation, (len(poses), 3))), got)


def test_tetx_visual_equivalents(poses: np.ndarray) -> None:
    obj = builtin_object("tetX")
    flat, offsets = visual_equivalents(obj, poses, CAMERA.translation)
    assert flat.dtype == np.float64 and flat.shape[1:] == (3, 3)
    normals, centroids = _faces(obj)
    cam = _camera_in_object(poses)
    facing = np.einsum("ti,nti->nt", normals, centroids[None] - cam[:, None]) < 0  # (N, 4)
    red = int(np.argmax(normals @ obj.mark.normal))
    expected = np.where(facing[:, red], 3, 3 * np.sum(~facing, axis=1))
    np.testing.assert_array_equal(np.diff(offsets), expected)
    assert set(np.unique(expected)) == {3, 6, 9}
    np.testing.assert_array_equal(mark_visible(obj.mark, poses, CAMERA.translation), facing[:, red])
    _check_sets(flat, offsets, poses, obj.symmetry)
    # every member puts the red face where R does, or hides it as R does
    for i in range(0, len(poses), 53):
        members = flat[offsets[i] : offsets[i + 1]]
        red_cam = members @ obj.mark.normal
        same = np.all(np.abs(red_cam - poses[i] @ obj.mark.normal) < 1e-9, axis=1)
        red_centre = members @ obj.mark.centre + CAMERA.translation
        hidden = np.einsum("ki,ki->k", red_cam, red_centre) >= 0
        assert np.all(same | (hidden & ~facing[i, red]))
        assert same.sum() == 3


def test_cylo_visual_equivalents(poses: np.ndarray) -> None:
    obj = builtin_object("cylO")
    flat, offsets = visual_equivalents(obj, poses, CAMERA.translation, dtype=np.float32)
    assert flat.dtype == np.float32
    z = _camera_in_object(poses)[:, 2]
    dot_seen = z > 0.8  # the dot lies on the top cap (z = 0.8, normal +z)
    between = np.abs(z) <= 0.8  # the camera between the two cap planes
    expected = np.where(dot_seen, 1, np.where(between, 720, 360))
    np.testing.assert_array_equal(np.diff(offsets), expected)
    assert set(np.unique(expected)) == {1, 360, 720}
    assert expected[1] == 720 and expected[0] == 360 and expected[2] == 1  # Rx(90): side view
    _check_sets(flat, offsets, poses, obj.symmetry)
    g = obj.symmetry
    for i in np.flatnonzero(expected > 1)[:20]:
        np.testing.assert_allclose(flat[offsets[i] : offsets[i + 1]], poses[i] @ g[: expected[i]], atol=1e-6)


def test_visual_equivalents_needs_a_mark() -> None:
    with pytest.raises(ValueError):
        visual_equivalents(builtin_object("cyl"), np.eye(3)[None], CAMERA.translation)


def _check_common(labels: dict, r: np.ndarray, sizes: tuple[int, ...]) -> None:
    n = len(r)
    assert labels["matrix"].dtype == np.float64 and labels["matrix"].shape == (n, 3, 3)
    np.testing.assert_array_equal(labels["matrix"], r)
    q = labels["quaternion"]
    assert q.dtype == np.float64 and q.shape == (n, 4) and np.all(q[:, 0] >= 0)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(quaternion_to_matrix(q), r, atol=1e-9)
    np.testing.assert_allclose(Rotation.from_quat(q[:, [1, 2, 3, 0]]).as_matrix(), r, atol=1e-9)
    t = labels["translation"]
    assert t.dtype == np.float64 and t.shape == (n, 3)
    np.testing.assert_allclose(t, np.broadcast_to([0.0, 0.0, CAMERA.d], (n, 3)))
    for s in sizes:
        k = labels[f"intrinsics_{s}"]
        assert k.shape == (3, 3) and k.dtype == np.float64
        f = (s / 2) / np.tan(np.radians(CAMERA.fov_deg) / 2)
        np.testing.assert_allclose(k, [[f, 0, s / 2], [0, f, s / 2], [0, 0, 1]])


COMMON = {
    "matrix",
    "quaternion",
    "translation",
    "intrinsics_64",
    "intrinsics_512",
    # the PASCAL3D+ / ImageNet3D viewpoint (tests/test_viewpoint.py checks the values)
    "azimuth",
    "elevation",
    "theta",
    "distance",
    "viewport",
    "focal_64",
    "focal_512",
    "px_64",
    "px_512",
    "py_64",
    "py_512",
}
SIZES = (64, 512)


@pytest.mark.parametrize("name", ["tet", "cube", "icosa", "cone", "cyl"])
def test_scene_labels_featureless(name: str, poses: np.ndarray) -> None:
    obj = builtin_object(name)
    r = poses[:200]
    labels = scene_labels(obj, CAMERA, r, SIZES)
    assert set(labels) == COMMON | {"rotations_equivalent"}
    _check_common(labels, r, SIZES)
    eq = labels["rotations_equivalent"]
    g = len(obj.symmetry)
    assert eq.dtype == np.float32 and eq.shape == (len(r), g, 3, 3)
    np.testing.assert_allclose(eq[:, 0], r, atol=1e-6)
    np.testing.assert_allclose(eq[:, 1:], np.matmul(r[:, None], obj.symmetry[None, 1:]), atol=1e-6)


@pytest.mark.parametrize("name", ["tetX", "cylO"])
def test_scene_labels_marked(name: str, poses: np.ndarray) -> None:
    obj = builtin_object(name)
    r = poses[:300]
    labels = scene_labels(obj, CAMERA, r, SIZES)
    assert set(labels) == COMMON | {"mark_visible", "visual_equivalents", "visual_offsets"}
    _check_common(labels, r, SIZES)
    assert labels["mark_visible"].dtype == bool and labels["mark_visible"].shape == (len(r),)
    assert labels["visual_equivalents"].dtype == np.float32
    assert labels["visual_offsets"].dtype == np.int64 and labels["visual_offsets"].shape == (len(r) + 1,)
    flat, offsets = visual_equivalents(obj, r, CAMERA.translation)
    np.testing.assert_array_equal(labels["visual_offsets"], offsets)
    np.testing.assert_allclose(labels["visual_equivalents"], flat, atol=1e-6)
    # a visible mark admits only the rotations that fix it
    sizes = np.diff(offsets)[labels["mark_visible"]]
    assert np.all(sizes == (3 if name == "tetX" else 1))


def test_scene_labels_sphere_x(poses: np.ndarray) -> None:
    labels = scene_labels(builtin_object("sphereX"), CAMERA, poses, SIZES)
    assert set(labels) == COMMON | {"mark_visible"}
    _check_common(labels, poses, SIZES)
    np.testing.assert_array_equal(labels["mark_visible"], _camera_in_object(poses)[:, 2] > 1)


def test_scene_labels_mesh_file(poses: np.ndarray) -> None:
    corners = np.array([(x, y, z) for x in (0, 2) for y in (0, 4) for z in (0, 6)], dtype=np.float64) + 10
    faces = np.array(
        [
            [0, 1, 3],
            [0, 3, 2],
            [4, 6, 7],
            [4, 7, 5],
            [0, 4, 5],
            [0, 5, 1],
            [2, 3, 7],
            [2, 7, 6],
            [0, 2, 6],
            [0, 6, 4],
            [1, 5, 7],
            [1, 7, 3],
        ]
    )
    obj = mesh_object("box.obj", corners, faces)
    labels = scene_labels(obj, CAMERA, poses[:10], SIZES)
    assert set(labels) == COMMON | {"object_centre", "object_scale"}
    _check_common(labels, poses[:10], SIZES)
    assert labels["object_centre"].shape == (3,) and labels["object_centre"].dtype == np.float64
    np.testing.assert_allclose(labels["object_centre"], [11, 12, 13])
    assert labels["object_scale"].shape == () and labels["object_scale"].dtype == np.float64
    assert float(labels["object_scale"]) == pytest.approx(1 / np.sqrt(1 + 4 + 9))


def test_scene_labels_empty_and_bad_shapes() -> None:
    labels = scene_labels(builtin_object("cylO"), CAMERA, np.zeros((0, 3, 3)), (32,))
    assert labels["quaternion"].shape == (0, 4) and labels["visual_equivalents"].shape == (0, 3, 3)
    np.testing.assert_array_equal(labels["visual_offsets"], [0])
    with pytest.raises(ValueError):
        scene_labels(builtin_object("tet"), CAMERA, np.eye(3), (32,))
