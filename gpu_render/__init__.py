"""gpu_render: the cLPR dataset (a coloured cube under a grid of rotations), rendered on the GPU."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpu_render.dataset.loader import Dataset
    from gpu_render.presets.load import ModelNetSplit, SymsolSplit
    from gpu_render.renderer import Renderer
    from gpu_render.scene.spec import SceneSpec

__version__ = "0.2.0"  # the one place the version is written (pyproject.toml reads it)


def load(root: str | os.PathLike[str], split: str | None = None) -> Dataset | SymsolSplit | ModelNetSplit:
    """Open a built dataset: labels, poses and lazily read images per size (see gpu_render.dataset.loader).
    A ``--preset`` output opens one ``split`` (default train; see gpu_render.presets.load).

    Imported on first use, so ``import gpu_render`` stays light.
    """
    from gpu_render.presets.load import load_preset, preset_manifest

    if preset_manifest(Path(root)) is not None:
        return load_preset(root, split or "train")
    from gpu_render.dataset.loader import load as _load

    return _load(root)


def __getattr__(name: str) -> type[Renderer | SceneSpec]:
    """``gpu_render.Renderer`` and ``gpu_render.SceneSpec``, imported on first use (GL stays unloaded until then)."""
    if name == "Renderer":
        from gpu_render.renderer import Renderer

        return Renderer
    if name == "SceneSpec":
        from gpu_render.scene.spec import SceneSpec

        return SceneSpec
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
