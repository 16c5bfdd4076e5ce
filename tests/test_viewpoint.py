"""PASCAL3D+ / ImageNet3D viewpoints (gpu_render.scene.viewpoint; FORMATS.md) of scene poses.

The identity under test: ``diag(1, -1, -1) @ R = Rz(theta) @ Rx(elevation - pi/2) @ Rz(-azimuth)``
for the pose ``x_cam = R x_obj + t`` of SCENES.md, and PASCAL3D+'s projection from the
annotation alone lands on the pixels of the build's own K, R, t.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from gpu_render.scene.camera import Pinhole, project
from gpu_render.scene.mesh_object import mesh_object
from gpu_render.scene.object_labels import scene_labels
from gpu_render.scene.solids import builtin_object
from gpu_render.scene.viewpoint import VIEWPORT, pascal3d_project, rotation_from_viewpoint, viewpoint_from_rotation

FLIP = np.diag([1.0, -1.0, -1.0])


def _gimbal_rotations() -> np.ndarray:
    """Camera on the object's -z axis (R = Rz(α): elevation -π/2) and on its +z axis
    (R = diag(1, -1, -1) Rz(α): elevation +π/2), for several α."""
    alpha = np.array([0, 1e-9, 30, 90, 179.9, 180, -180, 270, -1e-7])
    rz = Rotation.from_euler("z", alpha[:, None], degrees=True).as_matrix()
    return np.concatenate([rz, FLIP @ rz])


def _near_gimbal_rotations() -> np.ndarray:
    """A hair off the gimbal poses: the camera tilted 1e-13 .. 1e-6 rad off the z axis."""
    tilt = Rotation.from_euler("x", np.array([1e-13, -1e-11, 1e-9, 1e-6])[:, None]).as_matrix()
    spin = Rotation.from_euler("z", np.array([0.3, 2.0, -1.0, 4.0])[:, None]).as_matrix()
    near = spin @ tilt
    return np.concatenate([near, FLIP @ near])


def _check_ranges(a: np.ndarray, e: np.ndarray, th: np.ndarray) -> None:
    for x in (a, e, th):
        assert x.dtype == np.float64 and np.all(np.isfinite(x))
    assert np.all((a >= 0) & (a < 2 * np.pi))
    assert np.all((e >= -np.pi / 2) & (e <= np.pi / 2))
    assert np.all((th > -np.pi) & (th <= np.pi))


def test_round_trip_random_rotations() -> None:
    r = np.concatenate([Rotation.random(20000, random_state=3).as_matrix(), _near_gimbal_rotations()])
    a, e, th = viewpoint_from_rotation(r)
    assert a.shape == e.shape == th.shape == (len(r),)
    _check_ranges(a, e, th)
    np.testing.assert_allclose(rotation_from_viewpoint(a, e, th), r, atol=1e-12)
    # the identity itself, written out with scipy's rotations
    rhs = (
        Rotation.from_euler("z", th[:, None])
        * Rotation.from_euler("x", (e - np.pi / 2)[:, None])
        * Rotation.from_euler("z", -a[:, None])
    ).as_matrix()
    np.testing.assert_allclose(FLIP @ r, rhs, atol=1e-12)


def test_round_trip_angles() -> None:
    """Angles inside the open ranges come back unchanged."""
    rng = np.random.default_rng(5)
    a = rng.uniform(0, 2 * np.pi, 5000)
    e = rng.uniform(-np.pi / 2 + 1e-3, np.pi / 2 - 1e-3, 5000)
    th = rng.uniform(-np.pi, np.pi, 5000)
    got = viewpoint_from_rotation(rotation_from_viewpoint(a, e, th))
    for want, have in zip((a, e, th), got, strict=False):
        d = np.angle(np.exp(1j * (have - want)))  # compare on the circle (a near 0 may wrap to 2π)
        np.testing.assert_allclose(d, 0, atol=1e-9)


def test_gimbal_poses_are_deterministic() -> None:
    r = _gimbal_rotations()
    a, e, th = viewpoint_from_rotation(r)
    _check_ranges(a, e, th)
    half = len(r) // 2
    np.testing.assert_array_equal(e[:half], -np.pi / 2)
    np.testing.assert_array_equal(e[half:], np.pi / 2)
    np.testing.assert_array_equal(th, 0.0)
    # R = Rz(α) and diag(1,-1,-1) Rz(α) both mean azimuth -α (mod 2π), theta 0
    alpha = Rotation.from_matrix(r[:half]).as_euler("zyx")[:, 0]
    want = np.mod(-alpha, 2 * np.pi)
    np.testing.assert_allclose(np.angle(np.exp(1j * (a[:half] - want))), 0, atol=1e-12)
    np.testing.assert_allclose(np.angle(np.exp(1j * (a[half:] - want))), 0, atol=1e-12)
    np.testing.assert_allclose(rotation_from_viewpoint(a, e, th), r, atol=1e-12)
    # the same rotation always gives the same angles
    for x, y in zip((a, e, th), viewpoint_from_rotation(r.copy()), strict=False):
        np.testing.assert_array_equal(x, y)


def test_known_poses() -> None:
    """Derived by hand from FORMATS.md. The camera centre in the object frame is
    C = -R^T t = d (cos e sin a, -cos e cos a, sin e), so C alone fixes a and e.

    - R = I: the camera frame is the object frame, C = (0, 0, -d): the camera is straight
      below the object, e = -π/2. diag(1,-1,-1) = Rz(θ) Rx(-π) Rz(-a) holds with θ = a = 0
      (Rx(-π) = diag(1,-1,-1)), and the gimbal rule puts θ = 0, so a = 0.
    - R = [[1,0,0],[0,0,-1],[0,1,0]]: object z is image up (camera -y), object x image right,
      C = (0, -d, 0): a = 0, e = 0; diag(1,-1,-1) R = Rx(-π/2), so θ = 0.
    - R = [[0,1,0],[0,0,-1],[-1,0,0]]: the camera looks along object -x, C = (d, 0, 0):
      a = π/2, e = 0, θ = 0 (diag(1,-1,-1) R = Rx(-π/2) Rz(-π/2)).
    - R = [[c,0,-s],[-s,0,-c],[0,1,0]] (c, s = cos, sin 0.3) = diag(1,-1,-1) Rz(0.3) Rx(-π/2):
      the second pose turned 0.3 rad in the image plane, a = e = 0, θ = 0.3.
    - R = diag(1,-1,-1) Rx(π/6 - π/2) = [[1,0,0],[0,-1/2,-√3/2],[0,√3/2,-1/2]]:
      C = -R^T t = d (0, -√3/2, 1/2), the camera 30° above the horizon on the -y side:
      a = 0, e = π/6, θ = 0.
    """
    c, s = np.cos(0.3), np.sin(0.3)
    h = np.sqrt(3) / 2
    r = np.array(
        [
            np.eye(3),
            [[1, 0, 0], [0, 0, -1], [0, 1, 0]],
            [[0, 1, 0], [0, 0, -1], [-1, 0, 0]],
            [[c, 0, -s], [-s, 0, -c], [0, 1, 0]],
            [[1, 0, 0], [0, -0.5, -h], [0, h, -0.5]],
        ],
        dtype=np.float64,
    )
    want = np.array([[0, -np.pi / 2, 0], [0, 0, 0], [np.pi / 2, 0, 0], [0, 0, 0.3], [0, np.pi / 6, 0]])
    d = 4.0
    centre = -np.einsum("nji,j->ni", r, [0, 0, d])
    np.testing.assert_allclose(centre[4], d * np.array([0, -h, 0.5]), atol=1e-12)
    got = np.stack(viewpoint_from_rotation(r), axis=1)
    np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_allclose(rotation_from_viewpoint(*want.T), r, atol=1e-12)


def _mesh():
    """An off-centre, lopsided closed mesh: an irregular octahedron in file units."""
    v = np.array([[3.0, 1, 1], [-1, 0.5, 2], [0.5, 4, -1], [1, -2, 0.3], [0.2, 0.1, 5], [0.7, 0.4, -3]])
    v = v + np.array([7, -2, 11])
    f = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])
    return mesh_object("lopsided.obj", v, f)


@pytest.mark.parametrize("camera", [Pinhole(), Pinhole(fov_deg=55.0, distance=2.5)], ids=["default", "wide"])
@pytest.mark.parametrize("name", ["tet", "cube", "icosa", "cylO", "mesh"])
def test_annotation_alone_projects_like_k_r_t(name: str, camera: Pinhole) -> None:
    """Every vertex projected from poses.npz's viewpoint arrays with PASCAL3D+'s equations lands
    within 1e-6 px of its projection with the build's K, R, t."""
    obj = _mesh() if name == "mesh" else builtin_object(name)
    points = np.unique(obj.positions.reshape(-1, 3).astype(np.float64), axis=0)
    r = np.concatenate(
        [Rotation.random(300, random_state=11).as_matrix(), _gimbal_rotations(), _near_gimbal_rotations()]
    )
    sizes = (64, 224, 512)
    labels = scene_labels(obj, camera, r, sizes)
    for key in ("azimuth", "elevation", "theta", "distance"):
        assert labels[key].dtype == np.float64 and labels[key].shape == (len(r),)
    assert labels["viewport"].shape == () and float(labels["viewport"]) == VIEWPORT == 3000.0
    np.testing.assert_allclose(labels["distance"], camera.d)
    for size in sizes:
        for key in (f"focal_{size}", f"px_{size}", f"py_{size}"):
            assert labels[key].dtype == np.float64 and labels[key].shape == ()
        assert float(labels[f"px_{size}"]) == float(labels[f"py_{size}"]) == size / 2
        got = pascal3d_project(
            points,
            labels["azimuth"],
            labels["elevation"],
            labels["theta"],
            labels["distance"],
            labels[f"focal_{size}"],
            labels["viewport"],
            labels[f"px_{size}"],
            labels[f"py_{size}"],
        )
        want = project(points, labels["matrix"], labels["translation"], labels[f"intrinsics_{size}"])
        assert got.shape == want.shape == (len(r), len(points), 2)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_pascal3d_project_by_hand() -> None:
    """a = e = θ = 0, d = 5, M f = 3000 · 0.1 = 300, (px, py) = (50, 60): the camera at (0, -5, 0)
    looks along +y with z up, so X = (1, 0, 2) (right 1, up 2, depth 5) lands at
    (50 + 300 · 1/5, 60 - 300 · 2/5) = (110, -60)."""
    got = pascal3d_project(np.array([[1.0, 0, 2]]), 0.0, 0.0, 0.0, 5.0, 0.1, 3000.0, 50.0, 60.0)
    np.testing.assert_allclose(got, [[[110.0, -60.0]]], atol=1e-12)
    # θ = π/2 turns (u, v) = (60, 120) to (-120, 60): pixel (50 - 120, 60 - 60)
    got = pascal3d_project(np.array([[1.0, 0, 2]]), 0.0, 0.0, np.pi / 2, 5.0, 0.1, 3000.0, 50.0, 60.0)
    np.testing.assert_allclose(got, [[[-70.0, 0.0]]], atol=1e-12)


def test_empty_and_bad_shapes() -> None:
    a, e, th = viewpoint_from_rotation(np.zeros((0, 3, 3)))
    assert a.shape == e.shape == th.shape == (0,)
    assert rotation_from_viewpoint(a, e, th).shape == (0, 3, 3)
    with pytest.raises(ValueError):
        viewpoint_from_rotation(np.eye(3))
