"""gpu_render: pose datasets rendered on the GPU (the cLPR cube, the SYMSOL solids, mesh files), with exact labels."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gpu_render.dataset.loader import Loaded
    from gpu_render.engines.pipeline import BuildResult

__version__ = "0.2.0"  # the one place the version is written (pyproject.toml reads it)

#: Public names imported on first use (so ``import gpu_render`` loads no GL, torch or service), by module.
LAZY = {
    "Renderer": "gpu_render.renderer",
    "SceneSpec": "gpu_render.scene.spec",
    "RenderStream": "gpu_render.stream",
    "StreamingDataset": "gpu_render.stream",
    "TorchDataset": "gpu_render.presets.torch_dataset",
}
__all__ = ["build", "load", *LAZY]


def load(root: str | os.PathLike[str], split: str | None = None, size: int | None = None) -> Loaded:
    """Open a built dataset (any layout) as a :class:`~gpu_render.dataset.loader.Loaded`:
    ``len()``, ``data[i]`` -> (image (S, S, 3) uint8, labels dict), ``class_index(i)``,
    ``close()``, ``with``. A ``--preset`` output opens one ``split`` (default train); a build's
    items are at ``size`` (default its largest). See gpu_render.presets.load.
    """
    from gpu_render.presets.load import load as _load

    return _load(root, split, size)


def build(out: str | os.PathLike[str], **options: Any) -> BuildResult:
    """Build (or resume) a dataset in ``out`` as ``python -m gpu_render.build`` does, its options
    as keywords: ``build(out="data/symsol", preset="symsol", views=(100, 10), sizes=(64,))``,
    ``build(out="cube64", object="cube", poses="random:1000", sizes=(64,), format="npy")``.
    Returns the run's BuildResult; a bad keyword raises UsageError naming it (gpu_render.engines.api).
    """
    from gpu_render.engines.api import build as _build

    return _build(Path(out), __version__, **options)


def __getattr__(name: str) -> Any:
    """The names of :data:`LAZY`, imported on first use."""
    if name in LAZY:
        return getattr(importlib.import_module(LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
