"""One Render for CNN image's crop and labels (gpu_render/scene/r4c_labels.py), checked on renders
made here by marking projected points: the written crop's K finds every point where it was drawn."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_render.rotations.quaternion import geodesic, matrix_to_quaternion
from gpu_render.scene.camera import Pinhole, project
from gpu_render.scene.r4c_labels import LABEL_ARRAYS, crops_of_renders, image_labels, render_pose
from gpu_render.scene.r4c_names import image_path, name_rotation, unique_names
from gpu_render.scene.r4c_views import SHAPENET_TO_PASCAL, NormalTruncation, UniformViews, view_poses

#: Two float64 projections of the same points (coordinates up to ~1e3 px).
PIXEL_TOL = 1e-9
NAME_ROUNDING_DEG = 1.5
SIZE = 160


def _points() -> np.ndarray:
    """A model file's points: a box of diagonal 1 off its origin, in file units."""
    return np.random.default_rng(1).uniform(-0.3, 0.3, (400, 3)) * [1.0, 0.5, 0.7] + [0.05, -0.02, 0.03]


def test_render_pose_draws_the_file_pose_on_the_normalised_object() -> None:
    views = UniformViews().draw(0, np.arange(20))
    r, t = view_poses(views)
    x_file = _points()
    centre, scale = np.array([0.05, -0.02, 0.03]), 2.7
    x_obj = scale * (x_file - centre)
    r_obj, t_obj = render_pose(r, t, centre, scale)
    k = Pinhole(fov_deg=40.0).intrinsics(SIZE)
    for i in range(len(r)):
        np.testing.assert_allclose(
            project(x_obj, r_obj[i : i + 1], t_obj[i], k), project(x_file, r[i : i + 1], t[i], k), atol=PIXEL_TOL
        )
    with pytest.raises(ValueError, match="scale"):
        render_pose(r, t, centre, 0.0)


def test_crops_labels_and_names_of_marked_renders() -> None:
    n = 12
    views = UniformViews().draw(3, np.arange(n))
    truncation = NormalTruncation().draw(3, np.arange(n))
    r, t = view_poses(views)
    k = Pinhole(fov_deg=40.0).intrinsics(SIZE)
    uv = project(_points(), r, t, k)  # (n, P, 2)
    alpha = np.zeros((n, SIZE, SIZE), dtype=np.uint8)
    for i in range(n):
        alpha[i, uv[i, :, 1].astype(int), uv[i, :, 0].astype(int)] = 255
    for size in (None, (224, 224)):
        crop, k_out = crops_of_renders(alpha, truncation, k, size)
        for i in range(n):
            x0, y0, x1, y1 = crop[i]
            inside = (uv[i, :, 0] >= x0) & (uv[i, :, 0] < x1) & (uv[i, :, 1] >= y0) & (uv[i, :, 1] < y1)
            got = project(_points(), r[i : i + 1], t[i], k_out[i])[0]
            scale = np.ones(2) if size is None else np.array(size) / [x1 - x0, y1 - y0]
            np.testing.assert_allclose(got, (uv[i] - [x0, y0]) * scale, atol=PIXEL_TOL)
            window = np.array(size if size else (x1 - x0, y1 - y0))
            assert np.all(((got >= 0) & (got < window)).all(axis=1) == inside)
    names = [image_path("02958343", "m1", name) for name in unique_names("02958343", "m1", views)]
    labels = image_labels(names, views, k_out, crop, truncation)
    assert tuple(labels) == LABEL_ARRAYS
    assert labels["names"].shape == (n,) and labels["names"][0] == names[0]
    np.testing.assert_array_equal(labels["theta"], views[:, 2])
    assert labels["crop"].dtype == np.int64 and labels["intrinsics"].shape == (n, 3, 3)
    # The label's pose of the file, taken back to PASCAL3D+'s model frame, is the rotation
    # image2sphere reads from the name, to within the names' rounding.
    pascal = labels["matrix"] @ SHAPENET_TO_PASCAL.T
    err = geodesic(matrix_to_quaternion(pascal), matrix_to_quaternion(name_rotation(names)))
    assert np.degrees(err).max() < NAME_ROUNDING_DEG
    with pytest.raises(ValueError, match="one row per image"):
        image_labels(names[:-1], views, k_out, crop, truncation)
    with pytest.raises(ValueError, match="no object"):
        crops_of_renders(np.zeros((1, 8, 8)), np.zeros((1, 4)), k)
