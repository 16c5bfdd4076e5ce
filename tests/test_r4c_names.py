"""Render for CNN's names (gpu_render/scene/r4c_names.py): written as render_model_views.py writes
them, kept unique, and read back as image2sphere's Pascal3DSynth reads them, whose rotation agrees
with the exact viewpoint to within the names' rounding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import rq

from gpu_render.rotations.quaternion import geodesic, matrix_to_quaternion
from gpu_render.scene.r4c_names import (
    IMAGES_FOLDER,
    base_name,
    image2sphere_angles,
    image_path,
    name_rotation,
    parse_name,
    unique_names,
)
from gpu_render.scene.viewpoint import rotation_from_viewpoint

#: Three angles each rounded to whole degrees move the rotation by at most 0.5 degrees each.
NAME_ROUNDING_DEG = 1.5
#: Agreement of two float64 computations of one rotation.
ROTATION_TOL = 1e-9
SYNSET, MD5 = "02958343", "1a0bc9ab92c915167ae33d942430658c"


def _reference_name(a: float, e: float, theta: float, d: float) -> str:
    """The name as render_model_views.py formats it, written out independently here."""
    t = (-1 * theta) % 360
    return "%s_%s_a%03d_e%03d_t%03d_d%03d.png" % (SYNSET, MD5, round(a), round(e), round(t), round(d))  # noqa: UP031


@settings(max_examples=200, deadline=None)
@given(
    a=st.floats(0.0, 360.0, exclude_max=True),
    e=st.floats(-90.0, 90.0),
    theta=st.floats(-180.0, 180.0),
    d=st.floats(0.01, 40.0),
)
def test_names_are_render_for_cnn_names(a: float, e: float, theta: float, d: float) -> None:
    name = base_name(SYNSET, MD5, a, e, theta, d)
    assert name == _reference_name(a, e, theta, d)
    fields = parse_name(name)
    assert (fields.azimuth, fields.elevation, fields.t, fields.distance, fields.copy) == (
        round(a),
        round(e),
        round((-theta) % 360),
        round(d),
        0,
    )
    assert image2sphere_angles(name) == (fields.azimuth, fields.elevation, fields.t)


def test_name_details() -> None:
    # Negative elevation keeps its sign inside three characters; theta is negated mod 360.
    assert base_name(SYNSET, MD5, 45.2, -5.4, 30.0, 2.5) == f"{SYNSET}_{MD5}_a045_e-05_t330_d002.png"
    assert base_name(SYNSET, MD5, 359.6, -12.0, -0.3, 3.5) == f"{SYNSET}_{MD5}_a360_e-12_t000_d004.png"
    assert base_name(SYNSET, MD5, 0.0, 0.0, 0.3, 2.0) == f"{SYNSET}_{MD5}_a000_e000_t360_d002.png"
    with pytest.raises(ValueError, match="finite"):
        base_name(SYNSET, MD5, float("nan"), 0.0, 0.0, 2.0)
    with pytest.raises(ValueError, match="'_'"):
        base_name("0295_8343", MD5, 0.0, 0.0, 0.0, 2.0)


def test_views_that_round_alike_get_distinct_names() -> None:
    views = np.array(
        [
            [10.2, 5.0, 0.0, 2.0],
            [9.8, 5.1, -0.2, 2.2],
            [50.0, 5.0, 0.0, 2.0],
            [10.0, 4.9, -0.4, 1.9],
            [10.0, 5.0, 0.0, 2.0],
        ]
    )
    names = unique_names(SYNSET, MD5, views)
    # theta 0.1 is t = 359.9, printed t360: a name apart from t000 (the same rotation, not a collision).
    assert unique_names(SYNSET, MD5, np.array([[10.0, 5.0, 0.1, 2.0]]))[0].endswith("_t360_d002.png")
    plain = f"{SYNSET}_{MD5}_a010_e005_t000_d002"
    assert names == [
        f"{plain}.png",
        f"{plain}-1.png",
        f"{SYNSET}_{MD5}_a050_e005_t000_d002.png",
        f"{plain}-2.png",
        f"{plain}-3.png",
    ]
    assert len(set(names)) == len(names)
    # A name depends only on the views before it.
    assert unique_names(SYNSET, MD5, views[:2]) == names[:2]
    for name, view in zip(names, views, strict=True):
        fields = parse_name(image_path(SYNSET, MD5, name))
        assert (fields.synset, fields.md5) == (SYNSET, MD5)
        assert (fields.azimuth, fields.elevation, fields.distance) == (round(view[0]), round(view[1]), round(view[3]))
        assert fields.t == round((-view[2]) % 360)
    assert [parse_name(n).copy for n in names] == [0, 1, 0, 2, 3]


def test_image2sphere_reads_every_name() -> None:
    names = unique_names(SYNSET, MD5, np.array([[10.0, -20.4, 12.0, 2.0], [10.0, -20.4, 12.0, 2.0]]))
    for name in names:
        path = f"/data/{image_path(SYNSET, MD5, name)}"
        assert path.startswith(f"/data/{IMAGES_FOLDER}/{SYNSET}/{MD5}/")
        # Pascal3DSynth: the class from the folder two above, the angles from the name's fields.
        assert path.split("/")[-3] == SYNSET
        base = path.split("/")[-1]
        assert [int(x[1:]) for x in base.split("_")[-4:-1]] == [10, -20, 348]
        assert image2sphere_angles(path) == (10, -20, 348)
    with pytest.raises(ValueError, match="not a Render for CNN"):
        parse_name("cube_00001.png")


def _image2sphere_rotation(a: int, e: int, t: int) -> np.ndarray:
    """The rotation image2sphere splits from PASCAL3D+'s camera matrix for the angle (a, e, -t),
    built here from FORMATS.md's PASCAL3D+ projection and split with scipy's RQ."""
    az, el, th = np.radians([a, e, -t])
    f, distance, centre = 3000.0, 4.0, np.array([112.0, 90.0])
    c = distance * np.array([np.cos(el) * np.sin(az), -np.cos(el) * np.cos(az), np.sin(el)])
    ca, sa, ce, se = np.cos(-az), np.sin(-az), np.cos(el - np.pi / 2), np.sin(el - np.pi / 2)
    r = np.array([[1, 0, 0], [0, ce, -se], [0, se, ce]]) @ np.array([[ca, -sa, 0], [sa, ca, 0], [0, 0, 1]])
    rot2d = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]])
    k = np.array([[1, 0, centre[0]], [0, 1, centre[1]], [0, 0, 1]]) @ np.diag([1, -1, 1]) @ rot2d @ np.diag([f, f, -1])
    p = k @ np.hstack([r, -(r @ c)[:, None]])
    upper, q = rq(p[:, :3])
    signs = np.sign(np.diag(upper))
    q = signs[:, None] * q  # the split keeps the intrinsic part's diagonal positive
    assert np.linalg.det(q) > 0
    return q


@settings(max_examples=100, deadline=None)
@given(a=st.integers(-10, 370), e=st.integers(-90, 90), t=st.integers(0, 360))
def test_name_rotation_is_image2sphere_rotation(a: int, e: int, t: int) -> None:
    name = f"{SYNSET}_{MD5}_a{a:03d}_e{e:03d}_t{t:03d}_d004.png"
    np.testing.assert_allclose(name_rotation([name])[0], _image2sphere_rotation(a, e, t), atol=ROTATION_TOL)


def test_rotation_from_name_agrees_with_exact_label() -> None:
    rng = np.random.default_rng(7)
    n = 4000
    views = np.stack(
        [rng.uniform(0, 360, n), rng.uniform(-90, 90, n), rng.uniform(-180, 180, n), rng.uniform(1, 29, n)], axis=1
    )
    names = [unique_names(SYNSET, MD5, v[None])[0] for v in views]
    exact = rotation_from_viewpoint(*np.radians(views[:, :3]).T)
    err = np.degrees(geodesic(matrix_to_quaternion(name_rotation(names)), matrix_to_quaternion(exact)))
    assert err.max() < NAME_ROUNDING_DEG
    assert err.max() > 0.5  # the bound is not vacuous: rounding moves some rotations visibly
