"""Objects a scene can hold: triangles with normals, a symmetry group and an optional mark.

The built-in solids are made in :mod:`gpu_render.scene.solids`; mesh files are read by
:mod:`gpu_render.dataset.mesh_files` and normalised by :func:`gpu_render.scene.mesh_object.mesh_object`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from gpu_render.scene.marks import Mark


@dataclass(frozen=True, eq=False)
class Surface:
    """A mesh file's own colours, per triangle corner (docs/LOOKS.md, Textures).

    colour: (T, 3, 3) float32 sRGB in [0, 1], the albedo factor of each corner (an MTL ``Kd``, a
        glTF ``baseColorFactor`` encoded to sRGB, a PLY vertex colour; 1 where the file gives none).
    uv: (T, 3, 2) float32 texture coordinates, u right and v up from the image's bottom-left
        corner (OBJ's convention), repeating outside [0, 1]; 0 on untextured triangles.
    texture: (T,) int32 index into ``images`` of each triangle's texture, -1 for none.
    images: the textures, each (H, W, 3) uint8 sRGB, rows top-down as the file stores them.
    names: the file each texture came from (for messages and the manifest).

    The albedo of a point is ``colour * texel``, the texel decoded to linear light for filtering
    and mipmapping and encoded back to sRGB, so a texture of one colour c draws exactly as
    ``--color c`` does.
    """

    colour: np.ndarray
    uv: np.ndarray
    texture: np.ndarray
    images: tuple[np.ndarray, ...] = ()
    names: tuple[str, ...] = ()

    def subset(self, keep: np.ndarray) -> Surface:
        """The surface of the triangles ``keep`` ((T,) bool or int indices) only."""
        return Surface(self.colour[keep], self.uv[keep], self.texture[keep], self.images, self.names)


@dataclass(frozen=True, eq=False)
class SceneObject:
    """A drawable object in its own frame (SCENES.md, Frames and units).

    name: what ``--object`` called it: ``tet``, ``cylO``, ``mesh:chair.off``.
    positions: (T, 3, 3) float32, object frame, unitless; every point within distance 1 of the
        origin (the farthest at exactly 1). Triangle corners run counter-clockwise seen from
        outside, i.e. ``cross(b - a, c - a)`` points out of the object.
    normals: (T, 3, 3) float32, unit, object frame, one per triangle corner: the face normal
        three times on flat faces, the true surface normal on curved ones.
    symmetry: (G, 3, 3) float64 column-vector rotations G_k with G_0 the identity; every G_k
        maps the unmarked object onto itself. (1, 3, 3) identity when the object has none.
    featureless: True for the five SYMSOL solids whose labels list every equivalent pose
        (``rotations_equivalent``).
    mark: the painted mark (tetX, cylO, sphereX), or None.
    centre: (3,) float64 and scale: float: mesh files map as ``x_obj = scale * (x_file - centre)``
        (file units); built-ins have centre 0 and scale 1.
    closed: the triangles bound a solid and wind counter-clockwise seen from outside, so no
        back face is ever visible (the built-ins, and watertight mesh files once oriented):
        renderers may cull back faces.
    convex: closed and convex, so front faces never overlap: renderers may skip the depth test.
    surface: the file's colours and textures (:class:`Surface`), or None for the look's albedo.
    """

    name: str
    positions: np.ndarray
    normals: np.ndarray
    symmetry: np.ndarray = field(default_factory=lambda: np.eye(3)[None])
    featureless: bool = False
    mark: Mark | None = None
    centre: np.ndarray = field(default_factory=lambda: np.zeros(3))
    scale: float = 1.0
    closed: bool = False
    convex: bool = False
    surface: Surface | None = None

    def __post_init__(self) -> None:
        if self.convex and not self.closed:
            raise ValueError("a convex SceneObject must also be closed")
        if self.surface is not None and len(self.surface.texture) != len(self.positions):
            raise ValueError("the surface must have one entry per triangle")

    @property
    def triangle_count(self) -> int:
        return int(self.positions.shape[0])

    @property
    def is_mesh_file(self) -> bool:
        return self.name.startswith("mesh:")


def surface_digest(surface: Surface) -> str:
    """sha256 (hex) of a surface's colours, coordinates, texture choices and texels: what a
    build's signature records of a mesh's own look (its MTL and texture files included)."""
    h = hashlib.sha256()
    for array in (surface.colour, surface.uv, surface.texture, *surface.images):
        a = np.ascontiguousarray(array)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()
