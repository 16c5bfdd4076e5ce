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
from typing import Any

from gpu_render.extras import needs

with needs("torch"):
    from torch.utils.data import IterableDataset, get_worker_info

from gpu_render.cli.scene_options import OBJECT_SIZE
from gpu_render.reading import Closing, TorchItem, torch_item
from gpu_render.scene.scene import CLPR_OBJECT
from gpu_render.stream.options import DEFAULT_BATCH, stream_options
from gpu_render.stream.render_stream import RenderStream, epoch_check, stream_fields


class StreamingDataset(Closing, IterableDataset):
    """Items ``(image, labels)`` rendered on demand: no dataset on disk.

    image: float32 tensor (3, S, S), RGB in [0, 1], rows top-down, exactly
    ``TorchDataset``'s conversion of the uint8 image a ``--format npy`` build of the same
    options and ``batch`` writes; then ``transform(image)``.
    labels: dict of tensors: ``index`` int64 () the pose's position in its source (or in the
    epoch's stream, for ``random:inf``); ``quaternion`` float32 (4,) w first, w >= 0;
    ``matrix`` float32 (3, 3) column-vector R, object frame to camera frame; cLPR cube:
    ``euler`` (3,), ``keypoints`` (8, 2) px at S, ``labels`` (8, 6); SYMSOL solids: ``class``
    int64 (); objects with symmetries: ``equivalents`` float32 (G, 3, 3) and
    ``equivalent_count`` int64 () (:func:`gpu_render.stream.labels.object_chunk_labels`).
    All fixed shapes per object, so torch's default collate batches them; then
    ``target_transform(labels)``.

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
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[Any], Any] | None = None,
        **look: Any,
    ) -> None:
        super().__init__()
        self.options = stream_options(object, poses, size, batch=batch, step=step, device=device, **look)
        self.transform, self.target_transform = transform, target_transform
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

    def __iter__(self) -> Iterator[TorchItem]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if self._stream is None:
            self._stream = RenderStream.from_options(self.options)
        for images, labels in self._stream.batches(self.epoch, worker, workers):
            for i in range(len(images)):
                row = {name: a[i] for name, a in labels.items()}
                yield torch_item(images[i], row, self.transform, self.target_transform)

    def _release(self) -> None:
        """Release this process's GL context, if iterating here opened one. Iterating again opens
        a new one. This does not make a later fork safe (see the module docstring): use
        ``multiprocessing_context="spawn"``."""
        if self._stream is not None:
            self._stream.close()

    def _fields(self) -> dict[str, Any]:
        return stream_fields(self.options)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_stream"] = None  # a GL context never travels to another process
        return state
