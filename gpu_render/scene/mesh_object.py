"""A mesh in file units made into a :class:`SceneObject` (SCENES.md, Mesh files). Pure numpy.

With c the centre of the axis-aligned bounding box of the vertices that triangles use and
s = 1 / max_i ||v_i - c||, the object frame is ``x_obj = s * (x_file - c)``; c and s are kept
on the object (``centre``, ``scale``) so labels can map back to file units. Reading files is
:mod:`gpu_render.dataset.mesh_files`' job.
"""

from __future__ import annotations

import numpy as np

from gpu_render.scene.objects import SceneObject, Surface

MESH_PREFIX = "mesh:"


def mesh_object(
    name: str,
    vertices: np.ndarray,
    faces: np.ndarray,
    vertex_normals: np.ndarray | None = None,
    closed: bool = False,
    surface: Surface | None = None,
) -> SceneObject:
    """The normalised object of a triangle mesh.

    name: the object's name; ``mesh:`` is put in front unless it is there already.
    vertices: (V, 3) float, file units. faces: (F, 3) int indices into ``vertices``, corners
    counter-clockwise seen from outside. vertex_normals: (V, 3) float, the file's own normals
    (any length), or None for flat per-face normals. A corner whose given normal is zero or not
    finite gets its face's normal. Triangles of zero area draw nothing and are dropped.
    closed: the faces bound a solid, wound outward (renderers then cull back faces).
    surface: the file's colours and textures with one entry per face (F), or None; the
    triangles dropped below are dropped from it too.

    Returns a SceneObject with positions and normals (T, 3, 3) float32 in the object frame,
    the identity as symmetry, ``centre`` c (3,) float64 in file units and ``scale`` s.
    Raises ValueError (one line, without the name) for no triangles, indices out of range,
    non-finite coordinates, all points in one place, or only zero-area triangles.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ValueError(f"vertices must be (V, 3), got shape {v.shape}")
    if f.size == 0:
        raise ValueError("the mesh has no triangles")
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
        raise ValueError(f"faces must be (F, 3) integer indices, got shape {f.shape} {f.dtype}")
    if f.min() < 0 or f.max() >= len(v):
        raise ValueError(f"face indices must lie in [0, {len(v)}), found {f.min()}..{f.max()}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{int(np.sum(~np.all(np.isfinite(v), axis=1)))} vertices have NaN or infinite coordinates")

    corners = v[f]  # (F, 3, 3)
    used = corners.reshape(-1, 3)
    with np.errstate(over="ignore", invalid="ignore"):  # coordinates near the float64 limit: refused below
        centre = (used.min(axis=0) + used.max(axis=0)) / 2
        radius = float(np.max(np.linalg.norm(used - centre, axis=1)))
    if not np.isfinite(radius):
        raise ValueError("the vertex coordinates are too large: the bounding sphere's radius overflows float64")
    if not radius > 0:
        raise ValueError("the bounding box has zero size (every vertex at one point)")
    scale = 1.0 / radius
    positions = (corners - centre) * scale

    cross = np.cross(positions[:, 1] - positions[:, 0], positions[:, 2] - positions[:, 0])
    area2 = np.linalg.norm(cross, axis=1)
    keep = area2 > 1e-12
    if not np.any(keep):
        raise ValueError("every triangle has zero area")
    positions, cross, area2 = positions[keep], cross[keep], area2[keep]
    face_normals = cross / area2[:, None]
    normals = np.repeat(face_normals[:, None, :], 3, axis=1)

    if vertex_normals is not None:
        vn = np.asarray(vertex_normals, dtype=np.float64)
        if vn.shape != v.shape:
            raise ValueError(f"vertex normals must match the vertices' shape {v.shape}, got {vn.shape}")
        given = vn[f[keep]]  # (T, 3, 3)
        length = np.linalg.norm(given, axis=2)
        usable = np.isfinite(length) & (length > 1e-12)
        safe = np.where(usable[..., None], given, 1.0) / np.where(usable, length, 1.0)[..., None]
        normals = np.where(usable[..., None], safe, normals)

    if not name.startswith(MESH_PREFIX):
        name = MESH_PREFIX + name
    return SceneObject(
        name=name,
        positions=positions.astype(np.float32),
        normals=normals.astype(np.float32),
        centre=centre,
        scale=scale,
        closed=closed,
        surface=None if surface is None else surface.subset(keep),
    )
