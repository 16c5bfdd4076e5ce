"""Read a mesh file (OBJ, OFF, PLY, STL, GLB) with trimesh into a :class:`SceneObject`.

The file is loaded as a trimesh scene without trimesh's clean-up (``process=False``), so
nothing is silently dropped: every triangle-mesh geometry is placed by its scene-graph
transform and all are concatenated. The file's own vertex normals are used when the file has
them (trimesh keeps them only then), else flat face normals. A watertight mesh gets its
triangles turned outward by trimesh (``fix_normals``); an open one is left as the file has it.
Normalisation is :func:`gpu_render.scene.mesh_object.mesh_object` (SCENES.md, Mesh files).

Colours and textures (unless ``textures=False``) come from trimesh's visuals and become a
:class:`~gpu_render.scene.objects.Surface` (:mod:`gpu_render.dataset.mesh_visuals`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from trimesh.path.path import Path as TrimeshPath

from gpu_render.dataset.mesh_visuals import MeshFileError, SurfaceParts, check_obj_textures
from gpu_render.scene.mesh_object import MESH_PREFIX, mesh_object
from gpu_render.scene.objects import SceneObject, Surface

#: File extensions read, lower case, and the trimesh file type of each.
MESH_FORMATS = {".obj": "obj", ".off": "off", ".ply": "ply", ".stl": "stl", ".glb": "glb", ".gltf": "gltf"}


def load_mesh_file(path: Path, name: str | None = None, textures: bool = True) -> SceneObject:
    """The normalised object of the mesh file at ``path``.

    name: the object's name, by default ``mesh:PATH``. textures: read the file's colours and
    textures (MTL ``Kd``/``map_Kd``, glTF ``baseColorFactor``/``baseColorTexture``, vertex
    colours) into ``surface``; False draws the look's albedo. Raises MeshFileError for a missing
    or unreadable file, an unsupported extension, no triangles (empty, or only points or lines),
    NaN or infinite coordinates, a zero-size mesh, or (with textures) a texture file that is
    missing or unreadable.
    """
    path = Path(path)
    fmt = MESH_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise MeshFileError(
            f"{path}: unsupported mesh format {path.suffix or '(no extension)'!r}; "
            f"use one of {', '.join(sorted(MESH_FORMATS))}"
        )
    if not path.is_file():
        raise MeshFileError(f"{path}: no such mesh file")
    if textures and fmt == "obj":
        check_obj_textures(path)
    try:
        # Textures may sit beside the file's folder (ShapeNetCore v2: ``../images``).
        resolver = trimesh.resolvers.FilePathResolver(str(path), allow_anywhere=True)
        scene = trimesh.load_scene(str(path), file_type=fmt, process=False, resolver=resolver)
    except ImportError as exc:  # trimesh tries an optional text-encoding detector on non-UTF-8 bytes
        raise MeshFileError(f"{path}: not a readable {fmt.upper()} file (undecodable bytes)") from exc
    except Exception as exc:  # trimesh's parsers raise many kinds; all mean the same here
        raise MeshFileError(f"{path}: not a readable {fmt.upper()} file ({_one_line(exc)})") from exc

    vertices, faces, normals, surface = _triangles(scene, textures)
    if len(faces) == 0:
        raise MeshFileError(f"{path}: no triangles in the mesh file ({_contents(scene)})")
    if not np.all(np.isfinite(vertices)):
        raise MeshFileError(f"{path}: the mesh file has NaN or infinite vertex coordinates")
    with np.errstate(over="ignore", invalid="ignore"):  # trimesh rounds huge coordinates into int64; refused below
        faces, closed = _outward(vertices, faces)
    try:
        return mesh_object(name or f"{MESH_PREFIX}{path}", vertices, faces, normals, closed=closed, surface=surface)
    except ValueError as exc:
        raise MeshFileError(f"{path}: {_one_line(exc)}") from exc


def _triangles(
    scene: trimesh.Scene, textures: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, Surface | None]:
    """Every triangle mesh of ``scene`` placed by its node's transform, concatenated.

    Returns vertices (V, 3) float64 file units, faces (F, 3) int64, vertex normals
    (V, 3) float64 when every part came with normals from the file, else None, and (with
    ``textures``, when some part has colours) the surface, one entry per face.
    """
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
    visuals = SurfaceParts()
    for node in scene.graph.nodes_geometry:
        transform, geometry_name = scene.graph[node]
        geometry = scene.geometry.get(geometry_name)
        if not isinstance(geometry, trimesh.Trimesh) or len(geometry.faces) == 0:
            continue
        # trimesh computes normals lazily; they are in the cache before first use only when the
        # loader got them from the file.
        from_file = "vertex_normals" in geometry._cache
        v = np.asarray(geometry.vertices, dtype=np.float64)
        n = np.asarray(geometry.vertex_normals, dtype=np.float64) if from_file else None
        t = np.asarray(transform, dtype=np.float64)
        with np.errstate(invalid="ignore", over="ignore"):  # non-finite input is refused later
            v = v @ t[:3, :3].T + t[:3, 3]
        if n is not None:
            linear = t[:3, :3]
            n = n @ np.linalg.inv(linear) if abs(np.linalg.det(linear)) > 1e-12 else None
        mirrored = np.linalg.det(t[:3, :3]) < 0  # a mirroring transform turns the winding inside out
        if mirrored:
            parts.append((v, np.asarray(geometry.faces, dtype=np.int64)[:, ::-1], n))
        else:
            parts.append((v, np.asarray(geometry.faces, dtype=np.int64), n))
        if textures:
            visuals.add(geometry, mirrored)
    if not parts:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), None, None
    offsets = np.cumsum([0] + [len(p[0]) for p in parts[:-1]])
    vertices = np.concatenate([p[0] for p in parts])
    faces = np.concatenate([p[1] + o for p, o in zip(parts, offsets, strict=False)])
    with_normals = all(p[2] is not None for p in parts)
    normals = np.concatenate([p[2] for p in parts]) if with_normals else None
    return vertices, faces, normals, visuals.surface() if textures else None


def _outward(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, bool]:
    """``faces`` (F, 3) with each triangle's corners reversed where trimesh's ``fix_normals``
    turns it, and True, when the mesh (vertices merged by position) is watertight; ``faces``
    unchanged and False otherwise (an open surface: both sides may show)."""
    merged = trimesh.Trimesh(vertices=vertices, faces=faces, process=True)
    if len(merged.faces) != len(faces) or not merged.is_watertight:
        return faces, False
    before = np.cross(*(merged.triangles[:, 1:] - merged.triangles[:, :1]).transpose(1, 0, 2))
    merged.fix_normals()
    after = np.cross(*(merged.triangles[:, 1:] - merged.triangles[:, :1]).transpose(1, 0, 2))
    flip = np.einsum("fi,fi->f", before, after) < 0
    out = faces.copy()
    out[flip] = out[flip][:, ::-1]
    # fix_normals orients every face consistently and outward by the signed volume.
    return out, bool(merged.is_winding_consistent and merged.volume > 0)


def _contents(scene: trimesh.Scene) -> str:
    """What a scene without triangles holds, in words."""
    kinds = set()
    for geometry in scene.geometry.values():
        if isinstance(geometry, trimesh.Trimesh):
            kinds.add("vertices without faces")
        elif isinstance(geometry, trimesh.PointCloud):
            kinds.add("points")
        elif isinstance(geometry, TrimeshPath):
            kinds.add("lines")
        else:
            kinds.add(type(geometry).__name__)
    return "it holds " + (" and ".join(sorted(kinds)) if kinds else "nothing")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
