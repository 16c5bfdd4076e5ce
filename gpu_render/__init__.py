"""gpu_render: the cLPR dataset (a coloured cube under a grid of rotations), rendered on the GPU."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpu_render.dataset.loader import Dataset

__version__ = "0.1.0"


def load(root: str | os.PathLike[str]) -> Dataset:
    """Open a built dataset: labels, poses and lazily read images per size (see gpu_render.dataset.loader).

    Imported on first use, so ``import gpu_render`` stays light.
    """
    from gpu_render.dataset.loader import load as _load

    return _load(root)
