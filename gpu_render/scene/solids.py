"""The eight SYMSOL solids as :class:`SceneObject` (SCENES.md, Built-in solids). Pure functions.

All are in the object frame, scaled to circumradius 1, triangles counter-clockwise seen from
outside. Polyhedra and flat caps have flat normals; the curved sides of cone and cylinder and
the sphere have the true surface normal at every corner. Cone and cylinder have
:data:`SEGMENTS` = 360 segments with rim vertices at whole degrees, so every element of their
groups (whole-degree turns about z, and half turns about x) maps the mesh onto itself.
"""

from __future__ import annotations

import functools
import math
from pathlib import PurePath

import numpy as np

from gpu_render.scene import symmetry
from gpu_render.scene.marks import DiscMark, FaceMark, Mark, SphereXMark
from gpu_render.scene.objects import SceneObject

BUILTIN_OBJECTS = ("tet", "cube", "icosa", "cone", "cyl", "tetX", "cylO", "sphereX")


def object_class(object_name: str | None) -> tuple[str | None, int | None]:
    """The class of a build of ``object_name``: (name, index). The name is the SYMSOL solid's
    name or the mesh file's stem, the index the SYMSOL class index (FORMATS.md order, that of
    BUILTIN_OBJECTS) or None for mesh files; (None, None) for the cLPR cube."""
    if not object_name or object_name == "clpr-cube":
        return None, None
    if object_name.startswith("mesh:"):
        return PurePath(object_name[len("mesh:") :]).stem, None
    return object_name, BUILTIN_OBJECTS.index(object_name) if object_name in BUILTIN_OBJECTS else None


SEGMENTS = 360
#: Cone and cylinder: rim radius and half height (0.6^2 + 0.8^2 = 1, so the rims are at 1).
RADIUS = 0.6
HALF_HEIGHT = 0.8
#: Icosphere subdivision level of sphereX: 20480 triangles. The silhouette's worst gap to the
#: true circle is where it crosses a triangle's centre, 1 - (distance of the nearest face
#: plane) = 2.9e-4 object units: 0.07 px at 512 px with the default camera. Level 4 (5120
#: triangles) misses the 0.25 px bound there (0.28 px; its edge midpoints alone give 0.21).
SPHERE_LEVEL = 5


def builtin_object(name: str) -> SceneObject:
    """The built-in solid called ``name`` (one of :data:`BUILTIN_OBJECTS`); cached, and its
    arrays are read-only. Raises ValueError for any other name."""
    if name not in BUILTIN_OBJECTS:
        raise ValueError(f"unknown object {name!r}; built-in objects: {', '.join(BUILTIN_OBJECTS)}")
    return _build(name)


@functools.cache
def _build(name: str) -> SceneObject:
    if name in ("tet", "tetX"):
        vertices = symmetry.TET_VERTICES / math.sqrt(3)
        positions, normals = convex_polyhedron(vertices)
        group = symmetry.tetrahedral()
        mark: Mark | None = None
        if name == "tetX":
            face = vertices[1:]  # the face opposite vertex (1, 1, 1)
            centre = face.mean(axis=0)
            mark = FaceMark(centre=_frozen(centre), normal=_frozen(centre / np.linalg.norm(centre)))
    elif name == "cube":
        corners = np.array(np.meshgrid([-1.0, 1.0], [-1.0, 1.0], [-1.0, 1.0], indexing="ij")).reshape(3, -1).T
        positions, normals = convex_polyhedron(corners / math.sqrt(3))
        group, mark = symmetry.octahedral(), None
    elif name == "icosa":
        vertices = symmetry.icosa_vertices()
        positions, normals = convex_polyhedron(vertices / np.linalg.norm(vertices[0]))
        group, mark = symmetry.icosahedral(), None
    elif name == "cone":
        positions, normals = cone()
        group, mark = symmetry.cyclic_z(SEGMENTS), None
    elif name in ("cyl", "cylO"):
        positions, normals = cylinder()
        group = symmetry.dihedral_z(SEGMENTS)
        mark = None
        if name == "cylO":
            mark = DiscMark(
                centre=_frozen(np.array([0.3, 0.0, HALF_HEIGHT])),
                normal=_frozen(np.array([0.0, 0.0, 1.0])),
                radius=0.15,
            )
    else:  # sphereX
        positions = icosphere(SPHERE_LEVEL)
        normals = positions / np.linalg.norm(positions, axis=2, keepdims=True)
        group, mark = np.eye(3)[None], SphereXMark()
    return SceneObject(
        name=name,
        positions=_frozen(positions.astype(np.float32)),
        normals=_frozen(normals.astype(np.float32)),
        symmetry=_frozen(group),
        featureless=name in ("tet", "cube", "icosa", "cone", "cyl"),
        mark=mark,
        closed=True,
        convex=True,
    )


def convex_polyhedron(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangles and flat normals of the convex hull of ``vertices`` (V, 3) float64, all on
    the hull (as for a regular polyhedron).

    Each face plane is found from vertex triples with every other vertex behind it; the face's
    vertices are sorted counter-clockwise about its outward normal. A triangle face is kept as
    it is; a larger face is fanned from its centre (the cube's squares become four triangles
    each, so the cube's rotations map the triangles, not only the surface, onto themselves).
    Returns positions (T, 3, 3) and normals (T, 3, 3), float64, object frame.
    """
    v = np.asarray(vertices, dtype=np.float64)
    tol = 1e-9 * float(np.max(np.linalg.norm(v, axis=1)))
    planes: list[np.ndarray] = []
    for i in range(len(v)):
        for j in range(i + 1, len(v)):
            for k in range(j + 1, len(v)):
                n = np.cross(v[j] - v[i], v[k] - v[i])
                if np.linalg.norm(n) <= tol:
                    continue
                n = n / np.linalg.norm(n)
                side = (v - v[i]) @ n
                if np.all(side <= tol) or np.all(side >= -tol):
                    n = n if np.all(side <= tol) else -n
                    if not any(np.allclose(n, p, atol=1e-9) for p in planes):
                        planes.append(n)
    positions, normals = [], []
    for n in planes:
        on = v[np.abs((v - v[np.argmax(v @ n)]) @ n) <= tol]
        centre = on.mean(axis=0)
        u = on[0] - centre
        u /= np.linalg.norm(u)
        w = np.cross(n, u)
        ring = on[np.argsort(np.arctan2((on - centre) @ w, (on - centre) @ u))]
        if len(ring) == 3:
            positions.append(ring)
            normals.append([n, n, n])
            continue
        for a in range(len(ring)):  # fan from the centre: every symmetry of the face keeps it
            positions.append([centre, ring[a], ring[(a + 1) % len(ring)]])
            normals.append([n, n, n])
    return np.array(positions), np.array(normals)


def _ring(z: float, radius: float = RADIUS) -> np.ndarray:
    """Rim points at whole degrees k = 0..SEGMENTS-1 (plus k = SEGMENTS again, the same point
    as k = 0): (SEGMENTS + 1, 3) float64."""
    c, s = symmetry.cos_sin_turns(np.arange(SEGMENTS + 1) % SEGMENTS, SEGMENTS)
    return np.stack([radius * c, radius * s, np.full(SEGMENTS + 1, z)], axis=1)


def _cap(z: float, up: bool) -> tuple[np.ndarray, np.ndarray]:
    """A flat disc of radius RADIUS at height z, fanned from its centre, facing +z if ``up``.
    Returns positions and normals, (SEGMENTS, 3, 3) float64."""
    rim = _ring(z)
    centre = np.broadcast_to([0.0, 0.0, z], (SEGMENTS, 3))
    a, b = (rim[:-1], rim[1:]) if up else (rim[1:], rim[:-1])
    positions = np.stack([centre, a, b], axis=1)
    normals = np.broadcast_to([0.0, 0.0, 1.0 if up else -1.0], positions.shape).copy()
    return positions, normals


def cone() -> tuple[np.ndarray, np.ndarray]:
    """SYMSOL's cone: base disc at z = -0.8 of radius 0.6, apex (0, 0, 0.8).

    Side triangles (apex, rim_k, rim_k+1) with the true surface normal at the rim corners and,
    at the apex corner (where the surface has none), the normal halfway between them.
    Returns positions, normals: (2 SEGMENTS, 3, 3) float64, object frame.
    """
    rim = _ring(-HALF_HEIGHT)
    apex = np.broadcast_to([0.0, 0.0, HALF_HEIGHT], (SEGMENTS, 3))
    side = np.stack([apex, rim[:-1], rim[1:]], axis=1)
    slope = RADIUS / (2 * HALF_HEIGHT)  # radius lost per unit of height

    def normal(cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
        n = np.stack([cos, sin, np.full_like(cos, slope)], axis=1)
        return n / np.linalg.norm(n, axis=1, keepdims=True)

    at_rim = normal(rim[:, 0] / RADIUS, rim[:, 1] / RADIUS)
    half = (np.arange(SEGMENTS) + 0.5) * (2 * np.pi / SEGMENTS)
    side_normals = np.stack([normal(np.cos(half), np.sin(half)), at_rim[:-1], at_rim[1:]], axis=1)
    base, base_normals = _cap(-HALF_HEIGHT, up=False)
    return np.concatenate([side, base]), np.concatenate([side_normals, base_normals])


def cylinder() -> tuple[np.ndarray, np.ndarray]:
    """SYMSOL's cylinder: axis z, radius 0.6, z in [-0.8, 0.8]. Each side quad k (between whole
    degrees k and k+1) is split along bottom_k - top_k+1, a split the half turns about x also
    preserve. Side normals radial, caps flat. Returns positions, normals:
    (4 SEGMENTS, 3, 3) float64, object frame."""
    bottom, top = _ring(-HALF_HEIGHT), _ring(HALF_HEIGHT)
    b0, b1, t0, t1 = bottom[:-1], bottom[1:], top[:-1], top[1:]
    side = np.concatenate([np.stack([b0, b1, t1], axis=1), np.stack([b0, t1, t0], axis=1)])
    side_normals = side.copy()
    side_normals[..., 2] = 0.0
    side_normals /= np.linalg.norm(side_normals, axis=2, keepdims=True)
    top_cap, top_normals = _cap(HALF_HEIGHT, up=True)
    bottom_cap, bottom_normals = _cap(-HALF_HEIGHT, up=False)
    return (np.concatenate([side, top_cap, bottom_cap]), np.concatenate([side_normals, top_normals, bottom_normals]))


def icosphere(level: int) -> np.ndarray:
    """The unit icosahedron with each triangle split ``level`` times into four, new vertices
    pushed onto the unit sphere: (20 * 4**level, 3, 3) float64, every corner at norm 1."""
    v = symmetry.icosa_vertices()
    tris, _ = convex_polyhedron(v / np.linalg.norm(v[0]))
    for _ in range(level):
        a, b, c = tris[:, 0], tris[:, 1], tris[:, 2]
        ab, bc, ca = (_unit_rows(a + b), _unit_rows(b + c), _unit_rows(c + a))
        tris = np.concatenate([np.stack(t, axis=1) for t in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))])
    return tris


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only copy, so the cached objects cannot be changed by a caller."""
    out = np.array(a)
    out.flags.writeable = False
    return out
