"""Mesh files read through trimesh (gpu_render.dataset.mesh_files) and their normalisation
(gpu_render.scene.mesh_object), per SCENES.md, Mesh files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from gpu_render.dataset.mesh_files import MeshFileError, load_mesh_file
from gpu_render.errors import UsageError
from gpu_render.scene.mesh_object import mesh_object

FORMATS = ["obj", "off", "ply", "stl", "glb"]
EXTENTS = np.array([2.0, 3.0, 5.0])
OFFSET = np.array([1.0, -2.0, 3.0])


def _box() -> trimesh.Trimesh:
    """An off-centre, non-uniformly scaled box: [0, 2] x [-3.5, -0.5] x [0.5, 5.5]."""
    box = trimesh.creation.box(extents=EXTENTS)
    box.apply_translation(OFFSET)
    return box


def _signed_volume(positions: np.ndarray) -> float:
    p = positions.astype(np.float64)
    return float(np.einsum("ti,ti->t", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum() / 6)


def _geometric_normals(positions: np.ndarray) -> np.ndarray:
    p = positions.astype(np.float64)
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    return n / np.linalg.norm(n, axis=1, keepdims=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_box_is_normalised(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"box.{fmt}"
    _box().export(path)
    obj = load_mesh_file(path)
    assert obj.name == f"mesh:{path}" and obj.is_mesh_file and not obj.featureless and obj.mark is None
    np.testing.assert_array_equal(obj.symmetry, np.eye(3)[None])
    np.testing.assert_allclose(obj.centre, OFFSET, atol=1e-6)  # the bounding box's centre
    assert obj.scale == pytest.approx(1 / np.linalg.norm(EXTENTS / 2), rel=1e-6)
    assert obj.positions.dtype == np.float32 and obj.positions.shape == (12, 3, 3)
    assert obj.normals.dtype == np.float32 and obj.normals.shape == (12, 3, 3)
    norms = np.linalg.norm(obj.positions.astype(np.float64), axis=2)
    assert abs(norms.max() - 1.0) < 1e-6 and norms.min() > 1 - 1e-6  # all corners are farthest
    # back to file units: the box's corners
    corners = np.unique(np.round(obj.positions.reshape(-1, 3) / obj.scale + obj.centre, 4), axis=0)
    np.testing.assert_allclose(corners, np.unique(np.round(_box().vertices, 4), axis=0), atol=1e-4)
    # outward and flat (no file here has normals, the box's faces are flat anyway)
    assert _signed_volume(obj.positions) == pytest.approx(np.prod(EXTENTS) * obj.scale**3, rel=1e-5)
    geometric = _geometric_normals(obj.positions)
    np.testing.assert_allclose(obj.normals, np.repeat(geometric[:, None], 3, axis=1), atol=1e-6)


@pytest.mark.parametrize("fmt", ["obj", "off", "ply", "stl"])
def test_inside_out_watertight_mesh_is_turned_outward(fmt: str, tmp_path: Path) -> None:
    box = _box()
    faces = box.faces.copy()
    faces[:] = faces[:, ::-1]  # every triangle inside out
    faces[3] = faces[3, ::-1]  # and one of them inconsistently
    path = tmp_path / f"inverted.{fmt}"
    trimesh.Trimesh(box.vertices, faces, process=False).export(path)
    obj = load_mesh_file(path)
    assert _signed_volume(obj.positions) > 0
    centroids = obj.positions.astype(np.float64).mean(axis=1)
    assert np.all(np.einsum("ti,ti->t", _geometric_normals(obj.positions), centroids) > 0)
    assert obj.closed and not obj.convex  # renderers may cull its back faces; convexity is not checked


def test_open_mesh_keeps_its_winding(tmp_path: Path) -> None:
    box = _box()
    path = tmp_path / "open.off"
    trimesh.Trimesh(box.vertices, box.faces[:-2][:, ::-1], process=False).export(path)  # two faces missing
    obj = load_mesh_file(path)
    assert obj.triangle_count == 10
    assert _signed_volume(obj.positions) < 0  # as the file has it
    assert not obj.closed  # both sides may show: no culling


@pytest.mark.parametrize("fmt", ["obj", "ply", "glb"])
def test_the_files_own_vertex_normals_are_used(fmt: str, tmp_path: Path) -> None:
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=2.0)
    sphere.apply_translation(OFFSET)
    wanted = np.asarray(sphere.vertex_normals).copy()
    path = tmp_path / f"sphere.{fmt}"
    kwargs = {"ply": {"vertex_normal": True}}.get(fmt, {"include_normals": True})
    sphere.export(path, **kwargs)
    obj = load_mesh_file(path)
    # each corner carries the file's normal of the vertex there (found by position, file units)
    corners = obj.positions.reshape(-1, 3).astype(np.float64) / obj.scale + obj.centre
    dist, index = cKDTree(sphere.vertices).query(corners)
    assert dist.max() < 1e-5
    np.testing.assert_allclose(obj.normals.reshape(-1, 3), wanted[index], atol=1e-5)
    # smooth, so not the triangles' own normals
    assert np.abs(obj.normals - _geometric_normals(obj.positions)[:, None]).max() > 1e-2


@pytest.mark.parametrize("fmt", ["off", "stl"])
def test_files_without_vertex_normals_get_face_normals(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"sphere.{fmt}"
    trimesh.creation.icosphere(subdivisions=1).export(path)
    obj = load_mesh_file(path)
    np.testing.assert_allclose(obj.normals, np.repeat(_geometric_normals(obj.positions)[:, None], 3, axis=1), atol=1e-6)


def test_glb_node_transforms_are_applied(tmp_path: Path) -> None:
    box = trimesh.creation.box(extents=EXTENTS)
    scene = trimesh.Scene()
    scene.add_geometry(box, transform=trimesh.transformations.translation_matrix([5.0, 0.0, -1.0]))
    path = tmp_path / "placed.glb"
    scene.export(path)
    obj = load_mesh_file(path, name="mesh:placed")
    assert obj.name == "mesh:placed"
    np.testing.assert_allclose(obj.centre, [5.0, 0.0, -1.0], atol=1e-6)


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


BAD_FILES = {
    "empty.obj": b"",
    "empty.off": b"",
    "empty.stl": b"",
    "garbage.obj": bytes(range(256)) * 3,
    "garbage.off": bytes(range(255, -1, -1)) * 3,
    "garbage.stl": b"\xff\xfe\x00\x81" * 40,
    "garbage.ply": b"\x00\x01junk" * 20,
    "garbage.glb": b"glTFjunk" * 20,
    "notes.txt": b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n",
    "faceless.off": b"OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n",
    "nan.obj": b"v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n",
    "nan.off": b"OFF\n3 1 0\n0 0 0\n1 0 nan\n0 1 0\n3 0 1 2\n",
    "inf.obj": b"v 0 0 0\nv 1 0 inf\nv 0 1 0\nf 1 2 3\n",
    "points.obj": b"v 0 0 0\nv 1 0 0\nv 0 1 0\n",
    "lines.obj": b"v 0 0 0\nv 1 0 0\nv 0 1 0\nl 1 2 3\n",
    "one_point.obj": b"v 1 1 1\nv 1 1 1\nv 1 1 1\nf 1 2 3\n",
}


@pytest.mark.parametrize("name", [*sorted(BAD_FILES), "missing.obj", "cloud.ply", "folder.obj"])
def test_bad_files_are_refused_in_one_line(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    if name in BAD_FILES:
        _write(path, BAD_FILES[name])
    elif name == "cloud.ply":
        trimesh.PointCloud(np.random.default_rng(0).random((20, 3))).export(path)
    elif name == "folder.obj":
        path.mkdir()
    with pytest.raises(MeshFileError) as err:
        load_mesh_file(path)
    message = str(err.value)
    assert str(path) in message and "\n" not in message
    assert isinstance(err.value, ValueError) and isinstance(err.value, UsageError)


def test_mesh_object_is_pure_normalisation() -> None:
    vertices = np.array([[0, 0, 0], [4, 0, 0], [0, 2, 0], [0, 0, 2], [9, 9, 9]], dtype=np.float64)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3], [1, 1, 2]])  # the last has no area
    obj = mesh_object("tetra", vertices, faces)
    assert obj.name == "mesh:tetra" and obj.triangle_count == 4
    np.testing.assert_allclose(obj.centre, [2, 1, 1])  # the unused vertex (9, 9, 9) is ignored
    assert obj.scale == pytest.approx(1 / np.sqrt(6))
    np.testing.assert_allclose(obj.positions / obj.scale + obj.centre, vertices[faces[:4]], atol=1e-5)
    normals = np.tile([0.0, 0.0, 1.0], (5, 1))
    normals[2] = 0.0  # unusable: that corner gets its face's normal
    smooth = mesh_object("mesh:tetra", vertices, faces, normals)
    assert smooth.name == "mesh:tetra"
    corner_is_2 = faces[:4] == 2
    np.testing.assert_allclose(smooth.normals[~corner_is_2], np.tile([0, 0, 1.0], (int((~corner_is_2).sum()), 1)))
    face_normals = np.repeat(obj.normals[:, :1], 3, axis=1)
    np.testing.assert_allclose(smooth.normals[corner_is_2], face_normals[corner_is_2], atol=1e-6)
    for bad in (
        (vertices, np.zeros((0, 3), dtype=int), None),
        (vertices, faces + 5, None),
        (vertices, faces, np.ones((2, 3))),
        (np.zeros((3, 3)), faces[:1], None),
    ):
        with pytest.raises(ValueError):
            mesh_object("bad", *bad)
