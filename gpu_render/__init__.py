"""gpu_render: the cLPR dataset (a coloured cube under a grid of rotations), rendered on the GPU."""

from __future__ import annotations

__version__ = "0.1.0"
