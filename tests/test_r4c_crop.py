"""Render for CNN's crop (gpu_render/scene/crop.py): the crop box as crop_gray.m takes it, worked
by hand for known cases and checked by property, and the cropped image's K, exact to 1e-9 px."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_render.rotations.quaternion import quaternion_to_matrix
from gpu_render.scene.camera import Pinhole, project, projected_boxes
from gpu_render.scene.crop import (
    alpha_extent,
    box_extent,
    crop_boxes,
    crop_image,
    crop_intrinsics,
    matlab_round,
)

#: Pixel agreement of two float64 projections of the same points (coordinates up to ~1e4 px).
PIXEL_TOL = 1e-9
FIXED = settings(max_examples=80, deadline=None)
fractions = st.floats(-1.5, 1.5, allow_nan=False)


def test_matlab_round_takes_halves_away_from_zero() -> None:
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 2.4999999999999996, 13.5, 1.0, 0.49999999999999994])
    np.testing.assert_array_equal(matlab_round(x), [1, 2, 3, -1, -3, 2, 14, 1, 0])


def test_alpha_extent_finds_the_first_and_last_object_column_and_row() -> None:
    alpha = np.zeros((40, 50), dtype=np.uint8)
    alpha[7:20, 11:33] = 255
    alpha[25, 40] = 3
    np.testing.assert_array_equal(alpha_extent(alpha), [11, 7, 40, 25])
    with pytest.raises(ValueError, match="no object"):
        alpha_extent(np.zeros((4, 4)))


def test_crop_by_hand() -> None:
    # Extent columns 10..19 (1-based 11..20, w = 10), rows 5..24 (1-based 6..25, h = 20), 100 x 80.
    extent = np.array([10, 5, 19, 24])
    # left 11 + 2.5 = 13.5 -> 14 (half away from zero); right 20 - 1 = 19; top 6 - 4 = 2; bottom 25 + 2 = 27.
    box = crop_boxes(extent, np.array([0.25, -0.1, -0.2, 0.1]), 100, 80)
    np.testing.assert_array_equal(box, [[13, 1, 19, 27]])  # 0-based x0 = 14 - 1, x1 = 19 (exclusive)
    # Zero fractions keep exactly the extent.
    np.testing.assert_array_equal(crop_boxes(extent, np.zeros(4), 100, 80), [[10, 5, 20, 25]])
    # Clipped to the render: left 11 - 20 -> 1, right 20 + 200 -> 100, top 6 - 40 -> 1, bottom 25 + 200 -> 80.
    np.testing.assert_array_equal(crop_boxes(extent, np.array([-2.0, 20.0, -2.0, 10.0]), 100, 80), [[0, 0, 100, 80]])
    # Sides that cross keep the extent's: left 11 + 8 = 19 > right 20 - 8 = 12.
    np.testing.assert_array_equal(crop_boxes(extent, np.array([0.8, -0.8, 0.0, 0.0]), 100, 80), [[10, 5, 20, 25]])
    # Both pushed past the image's right edge: clipped to column 100 each, a 1-pixel crop.
    np.testing.assert_array_equal(crop_boxes(extent, np.array([20.0, 20.0, 0.0, 0.0]), 100, 80), [[99, 5, 100, 25]])


def test_crop_refuses_bad_extents() -> None:
    with pytest.raises(ValueError, match="outside"):
        crop_boxes(np.array([0, 0, 100, 5]), np.zeros(4), 100, 80)
    with pytest.raises(ValueError, match="reversed"):
        crop_boxes(np.array([9, 0, 3, 5]), np.zeros(4), 100, 80)
    with pytest.raises(ValueError, match="finite"):
        crop_boxes(np.array([0, 0, 3, 5]), np.array([np.nan, 0, 0, 0]), 100, 80)


@FIXED
@given(
    size=st.tuples(st.integers(1, 300), st.integers(1, 300)),
    corners=st.tuples(*(st.floats(0.0, 1.0),) * 4),
    t=st.tuples(fractions, fractions, fractions, fractions),
)
def test_crop_properties(
    size: tuple[int, int], corners: tuple[float, float, float, float], t: tuple[float, float, float, float]
) -> None:
    width, height = size
    x = sorted(int(c * (width - 1)) for c in corners[:2])
    y = sorted(int(c * (height - 1)) for c in corners[2:])
    extent = np.array([x[0], y[0], x[1], y[1]])
    box = crop_boxes(extent, np.array(t), width, height)[0]
    x0, y0, x1, y1 = box.tolist()
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    w, h = x[1] - x[0] + 1, y[1] - y[0] + 1
    # Each side is where crop_gray puts it, to within its rounding, unless clipped or reverted.
    left = x[0] + w * t[0]
    right = x[1] + 1 + w * t[1]  # the continuous right edge: 1-based right column
    if 1 <= left + 1 <= width and 1 <= right <= width and left + 1 <= right:
        assert abs(x0 - left) <= 0.5 and abs(x1 - right) <= 0.5
    top = y[0] + h * t[2]
    bottom = y[1] + 1 + h * t[3]
    if 1 <= top + 1 <= height and 1 <= bottom <= height and top + 1 <= bottom:
        assert abs(y0 - top) <= 0.5 and abs(y1 - bottom) <= 0.5
    # Fractions that only add margin keep the whole object.
    if t[0] <= 0 and t[1] >= 0 and t[2] <= 0 and t[3] >= 0:
        assert x0 <= x[0] and x1 >= x[1] + 1 and y0 <= y[0] and y1 >= y[1] + 1
    # Fractions that only cut keep the crop inside the object.
    if t[0] >= 0 and t[1] <= 0 and t[2] >= 0 and t[3] <= 0:
        assert x[0] <= x0 and x1 <= x[1] + 1 and y[0] <= y0 and y1 <= y[1] + 1


def test_box_extent_is_every_pixel_the_box_touches() -> None:
    boxes = np.array([[10.2, 3.0, 19.0, 7.5], [0.0, 0.0, 0.4, 0.1], [5.0, 5.0, 5.0, 5.0], [0.0, 0.0, 64.0, 48.0]])
    np.testing.assert_array_equal(
        box_extent(boxes, 64, 48), [[10, 3, 18, 7], [0, 0, 0, 0], [5, 5, 5, 5], [0, 0, 63, 47]]
    )
    with pytest.raises(ValueError, match="outside"):
        box_extent(np.array([-1.0, -1.0, -1.0, -1.0]), 64, 48)


@FIXED
@given(
    q=st.tuples(*(st.floats(-1.0, 1.0),) * 4).filter(lambda q: np.linalg.norm(q) > 0.1),
    size=st.integers(32, 1024),
    t=st.tuples(fractions, fractions, fractions, fractions),
    out=st.one_of(st.none(), st.tuples(st.integers(1, 600), st.integers(1, 600))),
)
def test_cropped_intrinsics_project_exactly(
    q: tuple[float, float, float, float], size: int, t: tuple[float, float, float, float], out: tuple[int, int] | None
) -> None:
    rotation = quaternion_to_matrix((np.asarray(q) / np.linalg.norm(q))[None])
    camera = Pinhole(fov_deg=40.0)
    k = camera.intrinsics(size)
    k[0, 1] = 0.3  # a skewed K is cropped exactly too
    points = np.random.default_rng(size).uniform(-0.57, 0.57, (60, 3))
    box = projected_boxes(points, rotation, camera.translation, k, size, size)
    crop = crop_boxes(box_extent(box, size, size), np.array(t), size, size)
    new_k = crop_intrinsics(k, crop, out)
    before = project(points, rotation, camera.translation, k)[0]
    after = project(points, rotation, camera.translation, new_k[0])[0]
    x0, y0, x1, y1 = crop[0].astype(np.float64)
    scale = np.array([1.0, 1.0]) if out is None else np.array([out[0] / (x1 - x0), out[1] / (y1 - y0)])
    np.testing.assert_allclose(after, (before - [x0, y0]) * scale, rtol=0, atol=PIXEL_TOL)


def test_crop_image_and_k_agree_on_a_drawn_pixel() -> None:
    """A pixel marked at a projected point's floor in the render sits at the new K's projection
    of the same point, floored, in the crop."""
    size = 200
    camera = Pinhole(fov_deg=30.0)
    k = camera.intrinsics(size)
    point = np.array([[0.31, -0.22, 0.1]])
    rotation = np.eye(3)[None]
    u, v = project(point, rotation, camera.translation, k)[0, 0]
    image = np.zeros((size, size), dtype=np.uint8)
    image[int(v), int(u)] = 255
    crop = crop_boxes(alpha_extent(image), np.array([-3.0, 2.0, -1.0, 4.0]), size, size)
    cropped = crop_image(image, crop[0])
    cu, cv = project(point, rotation, camera.translation, crop_intrinsics(k, crop)[0])[0, 0]
    assert cropped[int(cv), int(cu)] == 255 and cropped.sum() == 255
    with pytest.raises(ValueError, match="not inside"):
        crop_image(image, np.array([0, 0, size + 1, 5]))
