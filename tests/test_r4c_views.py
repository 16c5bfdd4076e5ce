"""Render for CNN's per-image choices (gpu_render/scene/r4c_views.py) and their sources read from
files and ShapeNet trees (gpu_render/dataset/shapenet.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpu_render.dataset.shapenet import (
    PASCAL3D_SYNSETS,
    find_models,
    parse_synsets,
    parse_truncation,
    parse_viewpoints,
)
from gpu_render.errors import UsageError
from gpu_render.scene.r4c_views import (
    SHAPENET_TO_PASCAL,
    NormalTruncation,
    NoTruncation,
    RowTruncation,
    RowViews,
    UniformViews,
    canonical_views,
    render_for_cnn_intrinsics,
    view_poses,
)
from gpu_render.scene.viewpoint import pascal3d_project

#: Two float64 computations of one pixel or coordinate.
TOL = 1e-9


def test_draws_depend_on_seed_and_index_alone() -> None:
    for source in (UniformViews(), NormalTruncation()):
        whole = source.draw(3, np.arange(50))
        # Any batch of indices, in any order, draws the same rows.
        np.testing.assert_array_equal(source.draw(3, np.array([40, 7, 7, 0])), whole[[40, 7, 7, 0]])
        assert not np.array_equal(source.draw(4, np.arange(50)), whole)
        assert len(np.unique(whole, axis=0)) == 50
    # Keys of several integers name images too, and differ from their parts.
    keys = np.array([[1, 0, 5], [1, 2, 0], [3, 0, 5]])
    drawn = UniformViews().draw(3, keys)
    np.testing.assert_array_equal(drawn[2], UniformViews().draw(3, keys[2:])[0])
    assert len(np.unique(np.concatenate([drawn, UniformViews().draw(3, np.array([1, 3, 5]))]), axis=0)) == 6
    with pytest.raises(ValueError, match=">= 0"):
        UniformViews().draw(3, np.array([[1, -1]]))
    # The viewpoint and the truncation of one image are independent streams.
    views, cuts = UniformViews().draw(0, np.arange(200)), NormalTruncation(sigma=1.0, bound=9.0).draw(0, np.arange(200))
    assert abs(np.corrcoef(views[:, 0], cuts[:, 0])[0, 1]) < 0.3


def test_uniform_views_keep_render_for_cnn_ranges() -> None:
    v = UniformViews().draw(0, np.arange(3000))
    assert np.all((v[:, 0] >= 0) & (v[:, 0] < 360)) and v[:, 0].max() > 350 and v[:, 0].min() < 10
    assert np.all(np.abs(v[:, 1]) <= 85) and np.all(np.abs(v[:, 2]) <= 45)
    assert np.all((v[:, 3] >= 2) & (v[:, 3] <= 3))
    with pytest.raises(ValueError, match="uniform views"):
        UniformViews(elevation=(-95.0, 0.0))


def test_truncations() -> None:
    t = NormalTruncation().draw(1, np.arange(4000))
    assert np.all(np.abs(t) <= 0.5) and abs(t.std() - 0.1) < 0.01
    np.testing.assert_array_equal(NoTruncation().draw(1, np.arange(3)), np.zeros((3, 4)))
    rows = np.array([[0.0, 0.2, 0.0, 0.0], [0.2, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, -0.3]])
    drawn = RowTruncation("t.txt", "x", rows).draw(2, np.arange(300))
    assert {tuple(r) for r in drawn} == {tuple(r) for r in rows}
    with pytest.raises(ValueError, match=r"\(M, 4\)"):
        RowViews("v.txt", "x", np.zeros((0, 4)))


def test_canonical_views() -> None:
    rows = canonical_views(np.array([[-10.0, 5.0, 190.0, 2.0], [720.0, -90.0, -180.0, 1.0], [359.0, 90.0, 180.0, 3.0]]))
    np.testing.assert_allclose(rows, [[350.0, 5.0, -170.0, 2.0], [0.0, -90.0, 180.0, 1.0], [359.0, 90.0, 180.0, 3.0]])
    with pytest.raises(ValueError, match="row 2"):
        canonical_views(np.array([[0.0, 0.0, 0.0, 2.0], [0.0, 91.0, 0.0, 2.0]]))


def _rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    """(3, 3) right-handed rotation by ``angle`` radians about ``axis`` (Rodrigues)."""
    k = axis / np.linalg.norm(axis)
    cross = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(angle) * cross + (1.0 - np.cos(angle)) * cross @ cross


def _render_for_cnn_camera(a: float, e: float, theta_r: float, d: float) -> np.ndarray:
    """Render for CNN's Blender camera for its view row (a, e, theta_r, d), as the OpenCV pose of
    the OBJ file's coordinates (3, 3). Its camera sits at d (cos a cos e, sin a cos e, sin e) in
    Blender's frame, looks at the origin with Blender's z up, and is then turned by -theta_r
    about its viewing direction (render_model_views.py's camRotQuaternion); Blender's OBJ import
    puts the file's (x, y, z) at (x, -z, y)."""
    ar, er = np.radians(a), np.radians(e)
    centre = d * np.array([np.cos(ar) * np.cos(er), np.sin(ar) * np.cos(er), np.sin(er)])
    forward = -centre / np.linalg.norm(centre)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    turn = _rotation_about(forward, -np.radians(theta_r))
    world_to_camera = np.stack([turn @ right, -(turn @ up), forward])  # OpenCV: x right, y down, z forward
    file_to_blender = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    return world_to_camera @ file_to_blender


def test_view_poses_are_render_for_cnns_camera() -> None:
    """The pose of a viewpoint is Render for CNN's Blender camera, with PASCAL3D+'s theta the
    negative of its view parameter: its renderer turns the camera by -theta_r, so its image's
    in-plane angle is -theta_r, and the t it writes, (-theta_r) mod 360, is that image's theta."""
    views = UniformViews(elevation=(-89.0, 89.0), theta=(-179.0, 179.0)).draw(5, np.arange(40))
    r, t = view_poses(views)
    for (a, e, theta, d), pose in zip(views, r, strict=True):
        np.testing.assert_allclose(pose, _render_for_cnn_camera(a, e, -theta, d), atol=TOL)
    np.testing.assert_array_equal(t[:, :2], 0.0)
    np.testing.assert_array_equal(t[:, 2], views[:, 3])
    assert np.allclose(np.linalg.det(SHAPENET_TO_PASCAL), 1.0)
    # And it projects the file's points as PASCAL3D+'s projection does them in its model frame.
    a, e, th, d = np.radians(views[:, 0]), np.radians(views[:, 1]), np.radians(views[:, 2]), views[:, 3]
    points = np.random.default_rng(0).uniform(-0.5, 0.5, (30, 3))
    f, size = 500.0, 400.0
    cam = np.einsum("nij,pj->npi", r, points) + t[:, None, :]
    ours = f * cam[..., :2] / cam[..., 2:] + size / 2
    theirs = pascal3d_project(points @ SHAPENET_TO_PASCAL.T, a, e, th, d, f, 1.0, size / 2, size / 2)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_parse_sources(tmp_path: Path) -> None:
    assert parse_viewpoints("uniform") == UniformViews()
    assert parse_viewpoints("uniform").spec == "uniform"
    narrow = parse_viewpoints("uniform:-10,30:0,0:1.5,2.5")
    assert narrow == UniformViews(elevation=(-10.0, 30.0), theta=(0.0, 0.0), distance=(1.5, 2.5))
    assert parse_viewpoints(narrow.spec) == narrow and narrow.spec == "uniform:-10,30:0,0:1.5,2.5"
    text = tmp_path / "views.txt"
    text.write_text("45 20 0 2.0\n120 40 3 2.5\n-10 10 0 3\n")
    source = parse_viewpoints(f"file:{text}")
    assert isinstance(source, RowViews) and source.spec == f"file:{text}"
    np.testing.assert_array_equal(source.rows[2], [350, 10, 0, 3])
    npy = tmp_path / "cuts.npy"
    np.save(npy, np.array([[0.1, 0.0, 0.0, -0.2]]))
    cuts = parse_truncation(f"file:{npy}")
    np.testing.assert_array_equal(cuts.draw(0, np.arange(2)), [[0.1, 0.0, 0.0, -0.2]] * 2)
    assert parse_truncation("none") == NoTruncation()
    assert parse_truncation("normal") == NormalTruncation()
    assert parse_truncation("normal:0.2") == NormalTruncation(sigma=0.2)
    (tmp_path / "three.txt").write_text("1 2 3\n")
    (tmp_path / "bad.txt").write_text("1 2 x 4\n")
    (tmp_path / "high.txt").write_text("0 95 0 2\n")
    for text_value, parse, message in (
        ("sphere", parse_viewpoints, "unknown source"),
        ("uniform:0,10:0,0", parse_viewpoints, "uniform takes"),
        ("uniform:0,100:0,0:1,2", parse_viewpoints, "uniform takes"),
        ("uniform:a,b:0,0:1,2", parse_viewpoints, "uniform takes"),
        (f"file:{tmp_path / 'none.txt'}", parse_viewpoints, "cannot read"),
        (f"file:{tmp_path / 'three.txt'}", parse_viewpoints, "rows of 4 numbers"),
        (f"file:{tmp_path / 'bad.txt'}", parse_truncation, "numbers"),
        (f"file:{tmp_path / 'high.txt'}", parse_viewpoints, "elevation"),
        ("normal:-1", parse_truncation, ">= 0"),
        ("normal:x", parse_truncation, ">= 0"),
        ("gauss", parse_truncation, "unknown source"),
    ):
        with pytest.raises(UsageError, match=message) as info:
            parse(text_value)
        assert "\n" not in str(info.value)


def _tree(root: Path) -> None:
    for synset, md5, rel in (
        ("02958343", "bbb", "model.obj"),
        ("02958343", "aaa", "models/model_normalized.obj"),
        ("03001627", "ccc", "model.obj"),
        ("03001627", "empty", "images/texture0.jpg"),
        ("99999999", "ddd", "model.obj"),
    ):
        (root / synset / md5 / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / synset / md5 / rel).write_text("v 0 0 0\n")


def test_shapenet_trees(tmp_path: Path) -> None:
    _tree(tmp_path)
    models = find_models(tmp_path)
    assert [(m.synset, m.md5) for m in models] == [("02958343", "aaa"), ("02958343", "bbb"), ("03001627", "ccc")]
    assert models[0].path == tmp_path / "02958343/aaa/models/model_normalized.obj"
    assert models[1].path == tmp_path / "02958343/bbb/model.obj"
    assert [m.md5 for m in find_models(tmp_path, parse_synsets("chair"))] == ["ccc"]
    assert parse_synsets("car,03001627,car") == ("02958343", "03001627")
    assert parse_synsets(None) == tuple(sorted(PASCAL3D_SYNSETS.values())) and len(parse_synsets("")) == 12
    for call, message in (
        (lambda: find_models(tmp_path / "missing"), "no such folder"),
        (lambda: parse_synsets("car,table"), "unknown synset 'table'"),
        (lambda: find_models(tmp_path, parse_synsets("sofa")), "no folder 04256520"),
        (lambda: find_models(tmp_path / "03001627" / "empty"), "no models"),
    ):
        with pytest.raises(UsageError, match=message) as info:
            call()
        assert "\n" not in str(info.value)


def test_render_for_cnn_intrinsics_see_its_field_of_view() -> None:
    """A point at half of Render for CNN's horizontal field of view, 2 atan(16 / 35), lands on the
    image's left or right edge; the vertical field follows from the 960 x 540 aspect."""
    k = render_for_cnn_intrinsics()
    half = np.arctan(16.0 / 35.0)
    edges = np.array([[-np.tan(half), 0.0, 1.0], [np.tan(half), 0.0, 1.0], [0.0, np.tan(half) * 540 / 960, 1.0]])
    uvw = edges @ k.T
    np.testing.assert_allclose(uvw[:, :2] / uvw[:, 2:], [[0.0, 270.0], [960.0, 270.0], [480.0, 540.0]], atol=TOL)
