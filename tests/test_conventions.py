"""Round trips between this project's frames and units and OpenCV's, OpenGL's, BOP's, PASCAL3D+'s
and the scalar-last quaternion order (gpu_render/scene/conventions.py), each checked against an
independent definition: cv2.projectPoints, scipy's Rotation, PASCAL3D+'s projection."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from gpu_render.rotations.quaternion import geodesic, matrix_to_quaternion, quaternion_to_matrix
from gpu_render.scene import conventions as cv
from gpu_render.scene.camera import Pinhole, project
from gpu_render.scene.viewpoint import pascal3d_project

#: Round trips of float64 arithmetic on values of order 1..1e4.
ROUND_TRIP_TOL = 1e-9
#: Pixel agreement between two projections of the same points (float64, ~1e3 px coordinates).
PIXEL_TOL = 1e-6
#: cv2.projectPoints goes through a Rodrigues vector, which loses ~1e-8 rad near half turns.
OPENCV_PIXEL_TOL = 1e-4
#: Relative error of OpenCV's projection: its Rodrigues round trip loses ~1e-8 of the rotation,
#: which a point far off the axis turns into ~1e-4 px at hundreds of pixels (far below the 0.5 checked).
OPENCV_PIXEL_RTOL = 1e-5

FIXED = settings(max_examples=60, deadline=None)
unit = st.floats(-1.0, 1.0, allow_nan=False)
quaternions = st.tuples(unit, unit, unit, unit).filter(lambda q: np.linalg.norm(q) > 0.1)
translations = st.tuples(*(st.floats(-5.0, 5.0, allow_nan=False),) * 2, st.floats(2.0, 9.0))


def _rotation(q: tuple[float, float, float, float]) -> np.ndarray:
    a = np.asarray(q, dtype=np.float64)
    return quaternion_to_matrix((a / np.linalg.norm(a))[None])[0]


def _points(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (50, 3))


@FIXED
@given(q=quaternions, t=translations)
def test_opengl_frame_round_trip_and_axes(q: tuple[float, float, float, float], t: tuple[float, float, float]) -> None:
    r, tt = _rotation(q), np.asarray(t)
    r_gl, t_gl = cv.opengl_from_opencv(r, tt)
    back_r, back_t = cv.opengl_from_opencv(r_gl, t_gl)
    np.testing.assert_allclose(back_r[0], r, atol=ROUND_TRIP_TOL)
    np.testing.assert_allclose(back_t[0], tt, atol=ROUND_TRIP_TOL)
    x_cv = _points() @ r.T + tt
    x_gl = _points() @ r_gl[0].T + t_gl[0]
    # OpenGL: same x, y up (= -y down), the camera looks along -z: a point in front has z < 0.
    np.testing.assert_allclose(x_gl, x_cv * [1.0, -1.0, -1.0], atol=ROUND_TRIP_TOL)
    assert np.all(x_gl[:, 2] < 0)


@FIXED
@given(q=quaternions, t=translations, width=st.integers(16, 1280), height=st.integers(16, 960))
def test_project_pixels_are_opencv_pixels_plus_half(
    q: tuple[float, float, float, float], t: tuple[float, float, float], width: int, height: int
) -> None:
    """The camera frame is OpenCV's; only the pixel centre differs (col + 0.5 here, col in OpenCV)."""
    r, tt = _rotation(q), np.asarray(t)
    k = np.array([[700.0, 0.0, width / 2], [0.0, 650.0, height / 2], [0.0, 0.0, 1.0]])
    ours = project(_points(), r[None], tt, k)[0]
    rvec, _ = cv2.Rodrigues(r)
    theirs, _ = cv2.projectPoints(_points(), rvec, tt, cv.opencv_intrinsics(k), None)
    np.testing.assert_allclose(ours - 0.5, theirs[:, 0, :], rtol=OPENCV_PIXEL_RTOL, atol=OPENCV_PIXEL_TOL)
    np.testing.assert_allclose(cv.project_intrinsics(cv.opencv_intrinsics(k)), k, atol=ROUND_TRIP_TOL)


@FIXED
@given(
    q=quaternions,
    t=translations,
    mm=st.floats(0.5, 500.0),
    origin=st.tuples(*(st.floats(-300.0, 300.0),) * 3),
)
def test_bop_pose_round_trip_and_model_points(
    q: tuple[float, float, float, float], t: tuple[float, float, float], mm: float, origin: tuple[float, float, float]
) -> None:
    r, tt, o = _rotation(q), np.asarray(t), np.asarray(origin)
    r_m2c, t_mm = cv.bop_pose_from_scene(r, tt, mm, o)
    back_r, back_t = cv.scene_pose_from_bop(r_m2c, t_mm, mm, o)
    np.testing.assert_allclose(back_r[0], r, atol=ROUND_TRIP_TOL)
    np.testing.assert_allclose(back_t[0], tt, atol=ROUND_TRIP_TOL * 100)
    # A point of the object lands at the same camera point, in mm, both ways.
    x_obj = _points()
    x_model_mm = mm * x_obj + o
    np.testing.assert_allclose(x_model_mm @ r_m2c[0].T + t_mm[0], mm * (x_obj @ r.T + tt), atol=1e-7 * mm * 100)


def test_model_frame_keeps_a_mesh_files_own_coordinates() -> None:
    """A mesh file in cm: its BOP model is the file's vertices times 10, in the file's own frame."""
    x_file = np.random.default_rng(3).uniform(-4.0, 9.0, (40, 3))
    centre = (x_file.min(0) + x_file.max(0)) / 2
    scale = 1.0 / np.max(np.linalg.norm(x_file - centre, axis=1))
    x_obj = scale * (x_file - centre)
    mm, origin = cv.model_frame(centre, scale, "cm")
    np.testing.assert_allclose(mm * x_obj + origin, 10.0 * x_file, atol=1e-9)
    r, t = _rotation((0.3, -0.2, 0.9, 0.1)), np.array([0.1, -0.2, 4.0])
    r_m2c, t_mm = cv.bop_pose_from_scene(r, t, mm, origin)
    np.testing.assert_allclose((10.0 * x_file) @ r_m2c[0].T + t_mm[0], mm * (x_obj @ r.T + t), atol=1e-9)
    assert cv.model_frame(centre, scale, "m")[0] == pytest.approx(1000.0 / scale)
    with pytest.raises(ValueError, match="model units"):
        cv.model_frame(centre, scale, "inch")


def test_bop_rows_are_row_wise() -> None:
    k = np.array([[600.0, 0.0, 319.5], [0.0, 610.0, 239.5], [0.0, 0.0, 1.0]])
    rows = cv.bop_rows(k)
    assert rows[:3] == [600.0, 0.0, 319.5] and rows[5] == 239.5  # fx, 0, cx; then 0, fy, cy
    np.testing.assert_array_equal(cv.matrix_from_bop_rows(rows), k)
    with pytest.raises(ValueError, match="3, 3"):
        cv.bop_rows(np.eye(4))


@FIXED
@given(scale=st.sampled_from([0.1, 1.0, 0.05]), seed=st.integers(0, 1000))
def test_depth_png_units_round_trip(scale: float, seed: int) -> None:
    depth_mm = np.random.default_rng(seed).uniform(0.0, 3000.0, (7, 9))
    depth_mm[0, 0] = 0.0  # no surface stays 0
    units = cv.depth_png_units(depth_mm, scale)
    assert units.dtype == np.uint16 and units[0, 0] == 0
    np.testing.assert_allclose(cv.depth_mm_from_png(units, scale), depth_mm, atol=scale / 2 + 1e-9)


def test_depth_png_units_refuse_overflow() -> None:
    with pytest.raises(ValueError, match="uint16"):
        cv.depth_png_units(np.array([[7000.0]]), 0.1)
    with pytest.raises(ValueError, match="uint16"):
        cv.depth_png_units(np.array([[np.nan]]), 1.0)


def test_ray_distance_is_the_distance_of_the_3d_point() -> None:
    k = Pinhole().intrinsics(64)
    rng = np.random.default_rng(5)
    depth = rng.uniform(1.0, 8.0, (64, 64))
    dist = cv.ray_distance_from_depth(depth, k)
    np.testing.assert_allclose(cv.depth_from_ray_distance(dist, k), depth, atol=ROUND_TRIP_TOL)
    row, col = 10, 50  # back-project that pixel's centre (col + 0.5, row + 0.5) at its depth
    x = np.linalg.solve(k, [col + 0.5, row + 0.5, 1.0]) * depth[row, col]
    assert dist[row, col] == pytest.approx(np.linalg.norm(x), abs=ROUND_TRIP_TOL)
    assert dist[32, 32] == pytest.approx(depth[32, 32] * np.sqrt(1 + 2 * (0.5 / k[0, 0]) ** 2))


@FIXED
@given(q=quaternions, d=st.floats(1.5, 20.0))
def test_pascal3d_round_trip_and_projection(q: tuple[float, float, float, float], d: float) -> None:
    r = _rotation(q)
    t = np.array([0.0, 0.0, d])
    a, e, th, dist = cv.pascal3d_from_pose(r, t)
    r2, t2 = cv.pose_from_pascal3d(a, e, th, dist)
    np.testing.assert_allclose(r2[0], r, atol=1e-8)
    np.testing.assert_allclose(t2[0], t, atol=ROUND_TRIP_TOL)
    k = Pinhole().intrinsics(224)
    ours = project(_points(), r[None], t, k)[0]
    theirs = pascal3d_project(_points(), a, e, th, dist, 1.0, k[0, 0], k[0, 2], k[1, 2])[0]
    np.testing.assert_allclose(theirs, ours, atol=PIXEL_TOL)


def test_pascal3d_refuses_an_off_axis_translation() -> None:
    with pytest.raises(ValueError, match="optical axis"):
        cv.pascal3d_from_pose(np.eye(3), np.array([0.1, 0.0, 4.0]))


@FIXED
@given(q=quaternions)
def test_quaternion_orders_against_scipy(q: tuple[float, float, float, float]) -> None:
    r = _rotation(q)
    ours = matrix_to_quaternion(r[None])  # (w, x, y, z), w >= 0
    scipy_xyzw = Rotation.from_matrix(r).as_quat()  # (x, y, z, w)
    np.testing.assert_allclose(Rotation.from_quat(cv.quaternion_xyzw(ours)[0]).as_matrix(), r, atol=1e-9)
    back = cv.quaternion_wxyz(scipy_xyzw[None])
    assert back[0, 0] >= 0
    assert geodesic(back, ours)[0] < 1e-7
    if ours[0, 0] > 1e-6:  # the sign is fixed by w > 0: the same four numbers
        np.testing.assert_allclose(back, ours, atol=1e-9)
    np.testing.assert_allclose(cv.quaternion_wxyz(cv.quaternion_xyzw(ours)), ours, atol=0)
