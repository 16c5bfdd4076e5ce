"""What a build writes into OUT: one small class per layout behind :class:`Layout`.

A layout says what the chunks of a build are (ranges of global image indices), which scene
and poses draw each chunk, the picklable sink the encoder processes write images through,
what a settled chunk records, how the folder is prepared and sealed (the files written
whole: labels, rotations, npz files, databases, lists), and which files in OUT are its own.
:class:`~gpu_render.dataset.writer.DatasetFolder` owns everything else (lock, manifest,
chunk records, temporaries, shard parts), the same for every layout.

- :class:`~gpu_render.dataset.layouts.flat.FlatLayout`: jpg, png, npy and wds builds, flat or
  ``--layout imagenet3d``;
- :class:`~gpu_render.dataset.layouts.symsol.SymsolLayout`: ``--preset symsol``;
- :class:`~gpu_render.dataset.layouts.modelnet.ModelNetLayout`: ``--preset modelnet10-so3``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from gpu_render.dataset.owned import BuildFiles
from gpu_render.dataset.sink import LayerFiles
from gpu_render.scene.scene import Plan, Scene

#: Writes the per-image files of images ``start .. stop-1`` that need no pixels (annotations).
ChunkWrite = Callable[[int, int], None]


class Sink(Protocol):
    """What encoder processes write images through (picklable): ``images`` (n, S, S, 3) uint8
    RGB of global indices ``start ..``; returns one result per image (a digest, or bytes)."""

    def write(self, size: int, start: int, images: np.ndarray) -> list[bytes]: ...


class Layout(Protocol):
    """One layout of OUT, made from a build job (gpu_render.engines.job).

    signature: JSON-able; decides the bytes (a resume must match it exactly). sizes: image
    sides, px, each chunk is rendered at. title: what the progress bar names. record_engine:
    whether the manifest records the engine that ran the build. shardable: whether --shard
    may split it.
    """

    @property
    def signature(self) -> dict[str, Any]: ...
    @property
    def sizes(self) -> tuple[int, ...]: ...
    @property
    def title(self) -> str: ...
    @property
    def record_engine(self) -> bool: ...

    def manifest_fields(self) -> dict[str, Any]:
        """The manifest's keys besides the common ones (generator, signature, chunks, ...)."""
        ...

    def chunks(self) -> dict[int, tuple[int, int]]:
        """Chunk k -> (first image, one past its last image), global indices."""
        ...

    def group(self, chunk: int) -> int:
        """Which scene draws ``chunk`` (consecutive chunks of one group share renderers)."""
        ...

    def draw(self, group: int) -> tuple[Scene, Plan, int]:
        """The scene of ``group``, its poses, and the global index of the plan's first pose."""
        ...

    def sink(self, out: Path) -> Sink:
        """What the encoder processes write ``out``'s images through."""
        ...

    def settle(self, out: Path, chunk: int, results: list[bytes]) -> tuple[list[bytes], dict[str, Any]]:
        """What the sink returned for ``chunk``'s images -> (each file's sha256, the layout's
        own fields of the chunk record). Runs in the process that records the chunk."""
        ...

    def chunk_writers(self, out: Path) -> tuple[LayerFiles | None, ChunkWrite | None]:
        """Where a rendering process writes ``--layers`` rows and per-chunk annotations."""
        ...

    def files(self) -> BuildFiles:
        """What the layout writes in OUT (:mod:`gpu_render.dataset.owned`); ValueError if it cannot say."""
        ...

    def partial_names(self) -> tuple[str, ...]:
        """Names in OUT a killed build of this layout leaves before its manifest exists."""
        ...

    def check(self, out: Path) -> None:
        """Refuse (UsageError) what only this layout can tell is wrong with OUT, before it is checked."""
        ...

    def check_room(self, out: Path) -> None:
        """Refuse (UsageError) a build whose files of known size cannot fit on OUT's filesystem."""
        ...

    def prepare(self, out: Path, resume: bool, writes_labels: bool) -> None:
        """Make OUT ready for chunks (folders, labels, growing arrays), under the lock."""
        ...

    def seal(self, out: Path, progress: bool) -> None:
        """Write the files written whole, once every chunk is recorded."""
        ...
