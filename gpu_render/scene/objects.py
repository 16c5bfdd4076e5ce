"""Objects a scene can hold: triangles with normals, a symmetry group and an optional mark.

The built-in solids are made in :mod:`gpu_render.scene.solids`; mesh files are read by
:mod:`gpu_render.dataset.mesh_files` and normalised by :func:`gpu_render.scene.mesh_object.mesh_object`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gpu_render.scene.marks import Mark


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

    def __post_init__(self) -> None:
        if self.convex and not self.closed:
            raise ValueError("a convex SceneObject must also be closed")

    @property
    def triangle_count(self) -> int:
        return int(self.positions.shape[0])

    @property
    def is_mesh_file(self) -> bool:
        return self.name.startswith("mesh:")
