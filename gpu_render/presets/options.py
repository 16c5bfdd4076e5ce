"""The presets' names and defaults, as :mod:`gpu_render.presets.load` reads them (their layouts
are :mod:`gpu_render.dataset.layouts.symsol` and :mod:`gpu_render.dataset.layouts.modelnet`)."""

from gpu_render.dataset.layouts.modelnet import MODELNET10_CATEGORIES, MODELNET_LOOK, MODELNET_VIEWS
from gpu_render.dataset.layouts.symsol import PRESET_SIZE, SYMSOL_BATCH, SYMSOL_SHAPES, SYMSOL_VIEWS

__all__ = [
    "MODELNET10_CATEGORIES",
    "MODELNET_LOOK",
    "MODELNET_VIEWS",
    "PRESET_SIZE",
    "SYMSOL_BATCH",
    "SYMSOL_SHAPES",
    "SYMSOL_VIEWS",
]
