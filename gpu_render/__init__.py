"""gpu_render: the cLPR dataset (a coloured cube under a grid of rotations), rendered on the GPU."""

from __future__ import annotations

__version__ = "0.1.0"


def load(root):  # noqa: ANN001, ANN201 - documented in gpu_render.loader.load
    """Open a built dataset: labels, poses and lazily read images per size (see gpu_render.loader)."""
    from .loader import load as _load

    return _load(root)
