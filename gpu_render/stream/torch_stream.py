""":class:`StreamingDataset`: a torch ``IterableDataset`` rendered on demand
(``pip install 'gpu_render[torch]'``; the only module of :mod:`gpu_render.stream` that imports torch).

Under a ``DataLoader`` with W workers, worker w renders chunks w, w + W, ... in its own GL
context, opened lazily on its first batch, after the fork. A process must not fork workers
once it has opened a GL context, even one it has closed since (Mesa's llvmpipe hangs in the
child): a worker forked from such a parent raises
:class:`~gpu_render.render.context.ForkedContextError` instead. So don't iterate the dataset in
the parent before a DataLoader with workers, or give the DataLoader
``multiprocessing_context="spawn"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gpu_render.extras import needs

with needs("torch"):
    import torch
    from torch.utils.data import IterableDataset, get_worker_info

from gpu_render.cli.scene_options import OBJECT_SIZE
from gpu_render.scene.scene import CLPR_OBJECT
from gpu_render.stream.options import DEFAULT_BATCH, stream_options
from gpu_render.stream.render_stream import RenderStream, epoch_check

#: Label arrays that stay integers; every other label becomes float32, as CLPRDataset's are.
INTEGER_LABELS = ("index", "class", "equivalent_count")

Item = tuple[torch.Tensor, dict[str, torch.Tensor]]


def batch_tensors(labels: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """A batch's label arrays as tensors: int64 for :data:`INTEGER_LABELS`, else float32."""
    return {
        name: torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64 if name in INTEGER_LABELS else np.float32))
        for name, a in labels.items()
    }


def to_float_image(pixels: np.ndarray) -> torch.Tensor:
    """(S, S, 3) uint8 RGB -> (3, S, S) float32 in [0, 1], each value the correctly rounded
    k / 255, as CLPRDataset's ``.permute(2, 0, 1).to(torch.float32).div_(255.0)`` makes it.

    Done in numpy, one thread: torch's two intra-op threads fight llvmpipe's rasterizer threads
    in a process that renders (8 ms per op at 224 px, against 1.4 ms here, on the 2-core machine).
    """
    out = np.empty((3, *pixels.shape[:2]), dtype=np.float32)
    np.copyto(out, pixels.transpose(2, 0, 1), casting="unsafe")
    np.divide(out, np.float32(255), out=out)
    return torch.from_numpy(out)


class StreamingDataset(IterableDataset):
    """Items ``(image, labels)`` rendered on demand: no dataset on disk.

    image: float32 tensor (3, S, S), RGB in [0, 1], rows top-down, exactly
    ``CLPRDataset``'s conversion of the uint8 image a ``--format npy`` build of the same
    options and ``batch`` writes (after ``transform``, if any).
    labels: dict of tensors: ``index`` int64 () the pose's position in its source (or in the
    epoch's stream, for ``random:inf``); ``quaternion`` float32 (4,) w first, w >= 0;
    ``matrix`` float32 (3, 3) column-vector R, object frame to camera frame; cLPR cube:
    ``euler`` (3,), ``keypoints`` (8, 2) px at S, ``labels`` (8, 6); SYMSOL solids: ``class``
    int64 (); objects with symmetries: ``equivalents`` float32 (G, 3, 3) and
    ``equivalent_count`` int64 () (:func:`gpu_render.stream.labels.object_chunk_labels`).
    All fixed shapes per object, so torch's default collate batches them.

    Options as :class:`~gpu_render.stream.render_stream.RenderStream` takes them; UsageError
    (one line) for a bad one, at construction. A finite source yields each pose once per
    epoch (in chunk order per worker); ``random:inf[:SEED]`` never ends and draws new
    rotations for each ``set_epoch(e)``, the same ones for the same (seed, epoch). Workers
    are forked afresh each epoch unless ``persistent_workers=True``, which keeps the epoch they
    started with: call ``set_epoch`` before each epoch and keep persistent_workers off.
    """

    def __init__(
        self,
        object: str = CLPR_OBJECT,
        poses: str | None = None,
        size: int | None = OBJECT_SIZE,
        *,
        batch: int = DEFAULT_BATCH,
        step: float | None = None,
        device: int = 0,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        **look: Any,
    ) -> None:
        super().__init__()
        self.options = stream_options(object, poses, size, batch=batch, step=step, device=device, **look)
        self.transform = transform
        self.epoch = 0
        self._stream: RenderStream | None = None

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next iteration yields, as ``DistributedSampler.set_epoch``."""
        self.epoch = epoch_check(epoch)

    def __len__(self) -> int:
        """Poses per epoch of a finite source; TypeError for ``random:inf``, which has no length."""
        if not self.options.finite:
            raise TypeError(f"{self.options.source.spec} streams without end: it has no length")
        return self.options.pose_count

    def __iter__(self) -> Iterator[Item]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if self._stream is None:
            self._stream = RenderStream.from_options(self.options)
        for images, labels in self._stream.batches(self.epoch, worker, workers):
            tensors = batch_tensors(labels)
            for i in range(len(images)):
                image = to_float_image(images[i])
                if self.transform is not None:
                    image = self.transform(image)
                yield image, {name: t[i].clone() for name, t in tensors.items()}

    def close(self) -> None:
        """Release this process's GL context, if iterating here opened one; harmless twice.
        Iterating again opens a new one. This does not make a later fork safe (see the module
        docstring): use ``multiprocessing_context="spawn"``. ``with StreamingDataset(...) as
        dataset:`` closes on leaving."""
        if self._stream is not None:
            self._stream.close()

    def __enter__(self) -> StreamingDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        """One short line: class, what is drawn, the pose source, poses per epoch, size and batch."""
        o = self.options
        obj = o.scene.object_name
        if obj.startswith("mesh:"):
            obj = "mesh:" + Path(obj[5:]).name
        source = o.source.spec if o.source.kind != "file" else f"file:{Path(o.source.path).name}"
        count = o.pose_count if o.finite else "inf"
        return f"{type(self).__name__}(object={obj!r}, poses={source!r}, count={count}, size={o.size}, batch={o.batch})"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_stream"] = None  # a GL context never travels to another process
        return state
