"""What a preset build is asked to do: frozen dataclasses, and the signatures a resume must match."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_render.scene.camera import Pinhole
from gpu_render.scene.look import Look
from gpu_render.scene.scene import DRAWING_REVISION

#: SYMSOL's shapes in its class-index order (FORMATS.md).
SYMSOL_SHAPES = ("tet", "cube", "icosa", "cone", "cyl", "tetX", "cylO", "sphereX")
#: ModelNet10's categories in class-index order (FORMATS.md).
MODELNET10_CATEGORIES = (
    "bathtub",
    "bed",
    "chair",
    "desk",
    "dresser",
    "monitor",
    "night_stand",
    "sofa",
    "table",
    "toilet",
)
SYMSOL_VIEWS = (45000, 5000)
MODELNET_VIEWS = (100, 20)
PRESET_SIZE = 224
DEFAULT_SEED = 0
#: Poses per chunk of a SYMSOL build (a chunk is rendered, written and recorded as one unit).
SYMSOL_BATCH = 256
#: ModelNet10-SO3's look: grey albedo 200, lit as SCENES.md, on white, grey images.
MODELNET_LOOK = Look(background=(255, 255, 255), grayscale=True)


@dataclass(frozen=True)
class SymsolOptions:
    """``--preset symsol``.

    out: OUT (users name it ``symsol/``). shapes: names from SYMSOL_SHAPES, in that order.
    views: (train, test) images per shape. size: image side, px. seed: the rotations' seed.
    camera, look: as for ``--object`` builds (SCENES.md). batch: poses per chunk.
    workers: encoder processes. device: GPU in CUDA numbering (see
    :func:`~gpu_render.render.egl_devices.headless_on`).
    """

    out: Path = Path("symsol")
    shapes: tuple[str, ...] = SYMSOL_SHAPES
    views: tuple[int, int] = SYMSOL_VIEWS
    size: int = PRESET_SIZE
    seed: int = DEFAULT_SEED
    camera: Pinhole = Pinhole()
    look: Look = Look()
    batch: int = SYMSOL_BATCH
    workers: int = 1
    device: int = 0

    def signature(self) -> dict[str, Any]:
        """Everything that decides the dataset's bytes."""
        look = self.look
        return {
            "preset": "symsol",
            "shapes": list(self.shapes),
            "views": list(self.views),
            "size": self.size,
            "seed": self.seed,
            "fov": self.camera.fov_deg,
            "distance": round(self.camera.d, 12),
            "light": [float(x) for x in look.light],
            "color": list(look.albedo),
            "background": list(look.background),
            "grayscale": look.grayscale,
            "antialias": look.antialias,
            "batch": self.batch,
            "drawing": DRAWING_REVISION,
        }


@dataclass(frozen=True)
class ModelNetOptions:
    """``--preset modelnet10-so3``.

    meshes: the ModelNet10 tree, ``{category}/{train,test}/{category}_{NNNN}.off``.
    out: OUT (``ModelNet10-SO3/``). categories: names from MODELNET10_CATEGORIES, in that order.
    views: (train, test) views per CAD model. size: image side, px. seed: the rotations' seed.
    """

    meshes: Path
    out: Path = Path("ModelNet10-SO3")
    categories: tuple[str, ...] = MODELNET10_CATEGORIES
    views: tuple[int, int] = MODELNET_VIEWS
    size: int = PRESET_SIZE
    seed: int = DEFAULT_SEED
    camera: Pinhole = Pinhole()
    look: Look = MODELNET_LOOK
    workers: int = 1
    device: int = 0

    def signature(self) -> dict[str, Any]:
        return {
            "preset": "modelnet10-so3",
            "meshes": str(self.meshes.resolve()),
            "categories": list(self.categories),
            "views": list(self.views),
            "size": self.size,
            "seed": self.seed,
            "fov": self.camera.fov_deg,
            "distance": round(self.camera.d, 12),
            "drawing": DRAWING_REVISION,
        }
