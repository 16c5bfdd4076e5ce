"""A scene: what a build draws, computed once from the options and handed down.

Two kinds, behind one small protocol:

- :class:`ClprScene`: the 2018 cLPR cube, orthographic, flat colours (CLPR.md), unchanged.
- :class:`ObjectScene`: any :class:`~gpu_render.scene.objects.SceneObject` under a
  :class:`~gpu_render.scene.camera.Pinhole` camera with a :class:`~gpu_render.scene.look.Look`
  (SCENES.md).

A scene turns a pose source into a plan (every pose in the representations the dataset
stores) and describes itself for the manifest. The renderer draws it
(:mod:`gpu_render.render.backends`); the writer records what it is told.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from gpu_render.rotations.sources import PoseSource
from gpu_render.scene.camera import Pinhole
from gpu_render.scene.clpr_cube import BACKGROUND
from gpu_render.scene.look import Look
from gpu_render.scene.object_plan import ObjectPlan
from gpu_render.scene.objects import SceneObject, surface_digest
from gpu_render.scene.plan import PosePlan

CLPR_OBJECT = "clpr-cube"


class Plan(Protocol):
    """Every pose of a build."""

    @property
    def labels(self) -> np.ndarray | None:
        """labels.npy's array, or None when the scene has none."""
        ...

    def __len__(self) -> int: ...

    def rich_labels(self, sizes: tuple[int, ...]) -> dict[str, np.ndarray]:
        """The arrays of poses.npz."""
        ...


class Scene(Protocol):
    """What every scene provides to the build, verify, preview and the writer."""

    @property
    def object_name(self) -> str: ...

    @property
    def antialias(self) -> bool: ...

    @property
    def background(self) -> tuple[int, int, int]:
        """RGB 0..255 of the empty image."""
        ...

    def with_antialias(self, antialias: bool) -> Scene:
        """The same scene with MSAA on or off."""
        ...

    def plan(self, source: PoseSource, count: int | None = None) -> Plan:
        """The first ``count`` poses of ``source`` (all when None)."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-able description that decides the images' bytes (part of a build's signature)."""
        ...


@dataclass(frozen=True)
class ClprScene:
    """The cLPR cube of CLPR.md. antialias: 4x MSAA instead of 2018's aliased look."""

    antialias: bool = False

    @property
    def object_name(self) -> str:
        return CLPR_OBJECT

    @property
    def background(self) -> tuple[int, int, int]:
        r, g, b = (int(c) for c in BACKGROUND)
        return (r, g, b)

    def with_antialias(self, antialias: bool) -> ClprScene:
        return replace(self, antialias=antialias)

    def plan(self, source: PoseSource, count: int | None = None) -> PosePlan:
        return PosePlan.from_source(source, count)

    def describe(self) -> dict[str, Any]:
        # The cLPR signature predates scenes: its antialias key is kept at the top level.
        return {}


#: The revision of how object scenes are drawn, part of a build's signature so that a resume
#: never mixes chunks drawn two ways. 2: back faces of closed objects culled, tiles counted up
#: from the atlas's bottom (edge pixels may differ from revision 1 by a rounding).
DRAWING_REVISION = 2


@dataclass(frozen=True)
class ObjectScene:
    """An object, a pinhole camera and a look (SCENES.md).

    source_sha256: for mesh files, the file's sha256 (a resume must read the same file).
    """

    object: SceneObject
    camera: Pinhole = Pinhole()
    look: Look = Look()
    source_sha256: str = field(default="")

    @property
    def object_name(self) -> str:
        return self.object.name

    @property
    def antialias(self) -> bool:
        return self.look.antialias

    @property
    def background(self) -> tuple[int, int, int]:
        return self.look.background

    def with_antialias(self, antialias: bool) -> ObjectScene:
        return replace(self, look=replace(self.look, antialias=antialias))

    def plan(self, source: PoseSource, count: int | None = None) -> ObjectPlan:
        return ObjectPlan.from_source(source, count, self.object, self.camera, self.look)

    def describe(self) -> dict[str, Any]:
        look = self.look
        return {
            "object": self.object.name,
            "object_sha256": self.source_sha256 or None,
            "fov": self.camera.fov_deg,
            "distance": round(self.camera.d, 12),
            "light": [float(x) for x in look.light],
            "color": list(look.albedo),
            "background": list(look.background),
            "grayscale": look.grayscale,
            "drawing": DRAWING_REVISION,
            # The richer looks add their keys only when used, so plain builds keep their signature.
            **({"surface": surface_digest(self.object.surface)} if self.object.surface is not None else {}),
            **look.describe(),
        }
