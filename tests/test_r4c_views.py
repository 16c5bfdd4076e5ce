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


def test_view_poses_put_render_for_cnns_camera_where_pascal3d_puts_it() -> None:
    """The camera centre in the file's frame is Render for CNN's Blender camera position mapped
    back through Blender's OBJ import (Blender = (x, -z, y) of the file), and the pose projects
    file points as PASCAL3D+'s projection does the same points in its frame."""
    views = UniformViews(elevation=(-89.0, 89.0), theta=(-179.0, 179.0)).draw(5, np.arange(40))
    r, t = view_poses(views)
    a, e = np.radians(views[:, 0]), np.radians(views[:, 1])
    d = views[:, 3]
    blender = d[:, None] * np.stack([np.cos(a) * np.cos(e), np.sin(a) * np.cos(e), np.sin(e)], axis=1)
    file_centre = np.stack([blender[:, 0], blender[:, 2], -blender[:, 1]], axis=1)  # inverse of (x, -z, y)
    camera_centre = -np.einsum("nji,nj->ni", r, t)  # C = -R^T t
    np.testing.assert_allclose(camera_centre, file_centre, atol=TOL)
    assert np.allclose(np.linalg.det(SHAPENET_TO_PASCAL), 1.0)
    points = np.random.default_rng(0).uniform(-0.5, 0.5, (30, 3))
    f, size = 500.0, 400.0
    cam = np.einsum("nij,pj->npi", r, points) + t[:, None, :]
    ours = f * cam[..., :2] / cam[..., 2:] + size / 2
    theirs = pascal3d_project(
        points @ SHAPENET_TO_PASCAL.T, a, e, np.radians(views[:, 2]), d, f, 1.0, size / 2, size / 2
    )
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_parse_sources(tmp_path: Path) -> None:
    assert parse_viewpoints("uniform") == UniformViews()
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
