"""Render on demand: training data straight from the renderer, with no dataset on disk.

- :class:`RenderStream` (numpy only): an iterable of batches, uint8 images (B, S, S, 3) and a
  dict of label arrays, one batch per chunk of the build's ``--batch`` poses.
- :class:`StreamingDataset` (``pip install 'gpu_render[torch]'``): a torch ``IterableDataset``
  of ``(image, labels)`` items, as :class:`gpu_render.TorchDataset` has them. torch is
  imported only when this name is first used.

Both take the build's scene and pose options and draw with the build's renderer in the build's
chunks, so an image equals, byte for byte, the one ``--format npy`` writes for the same pose,
options and ``--batch``. docs/STREAMING.md shows how to use them.
"""

from __future__ import annotations

from typing import Any

from gpu_render.stream.options import StreamOptions, stream_options
from gpu_render.stream.render_stream import RenderStream

__all__ = ["RenderStream", "StreamOptions", "StreamingDataset", "stream_options"]


def __getattr__(name: str) -> Any:
    if name == "StreamingDataset":  # torch is an extra: loaded on first use only
        from gpu_render.stream.torch_stream import StreamingDataset

        return StreamingDataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
