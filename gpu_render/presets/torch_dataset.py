""":class:`TorchDataset`: a PyTorch ``Dataset`` over any dataset ``gpu_render.load`` opens
(``pip install 'gpu_render[torch]'``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpu_render.extras import needs

with needs("torch"):
    from torch.utils.data import Dataset

from gpu_render.presets.load import load
from gpu_render.reading import Closing, TorchItem, torch_item


class TorchDataset(Closing, Dataset):
    """Items ``(image, labels)`` of ``gpu_render.load(root, split, size)``, for every layout.

    image: float32 tensor (3, S, S), RGB in [0, 1], rows top-down; then ``transform(image)``.
    labels: dict of tensors, :meth:`gpu_render.dataset.loader.Loaded.pose` of the item: its
    poses.npz arrays (``matrix`` (3, 3) R, ``quaternion`` (4,) w first, ...), ``class`` where
    there is one and ``equivalents`` (W, 3, 3) with ``equivalent_count`` where the objects have
    equivalent sets; int64 for ``class`` and ``equivalent_count``, bool for flags, float32 for
    the rest; fixed shapes per dataset, so torch's default collate batches them. Then
    ``target_transform(labels)`` (e.g. ``lambda y: y["quaternion"]`` for plain (4,) targets).
    ``data`` is the opened dataset; ``close()`` or ``with`` closes it.
    """

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        size: int | None = None,
        *,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[Any], Any] | None = None,
    ) -> None:
        self.data = load(root, split, size)
        self.transform, self.target_transform = transform, target_transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> TorchItem:
        image, labels = self.data[index]
        return torch_item(image, labels, self.transform, self.target_transform)

    def _fields(self) -> dict[str, object]:
        return {**self.data._fields(), "size": self.data.size}

    def _release(self) -> None:
        self.data.close()
