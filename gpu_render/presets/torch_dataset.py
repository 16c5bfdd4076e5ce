"""A PyTorch ``Dataset`` over one split of a preset's output (``pip install 'gpu_render[torch]'``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gpu_render.extras import needs

with needs("torch"):
    import torch
    from torch.utils.data import Dataset

from gpu_render.presets.load import load_preset
from gpu_render.scene.symmetry import padded_set


class PresetDataset(Dataset):
    """Items ``(image, class_index, rotation)``, or with ``equivalents=True``
    ``(image, class_index, rotation, equivalents, equivalent_count)``.

    image: float32 (3, S, S) RGB in [0, 1]. class_index: int64 () (SYMSOL's shape order, or
    ModelNet10's category order). rotation: float32 (3, 3) R (SCENES.md). equivalents: float32
    (G, 3, 3), every rotation that gives this very image, element 0 R: the orbit of a
    featureless SYMSOL shape, the visual equivalents of tetX and cylO, R alone where there are
    none (sphereX, ModelNet10); padded with R up to G, the largest set of the split's shapes
    (the largest symmetry group among them, 720 with cyl or cylO; 1 for ModelNet10), as
    StreamingDataset pads its ``equivalents``, so that torch's default collate stacks a batch
    of mixed shapes. equivalent_count: int64 (), how many leading rows are the set (the rest
    repeat R, so a minimum over the row is the minimum over the set).
    """

    def __init__(self, root: str | Path, split: str = "train", equivalents: bool = False) -> None:
        self.data = load_preset(root, split)
        self.with_equivalents = equivalents
        self.width = self.data.largest_set

    def __len__(self) -> int:
        return len(self.data)

    def close(self) -> None:
        """Close the split's files (:meth:`SymsolSplit.close`, :meth:`ModelNetSplit.close`);
        harmless twice. ``with PresetDataset(...) as dataset:`` closes on leaving."""
        self.data.close()

    def __enter__(self) -> PresetDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        """One short line: class, path, split, image count and size."""
        data = self.data
        return (
            f"{type(self).__name__}(path={str(data.root)!r}, split={data.split!r}, images={len(self)}, "
            f"size={data.size})"
        )

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        image = torch.from_numpy(np.array(self.data.image(index))).permute(2, 0, 1).to(torch.float32).div_(255.0)
        rotation = self.data.rotation(index)
        items = (
            image,
            torch.tensor(self.data.class_index(index), dtype=torch.int64),
            torch.tensor(rotation, dtype=torch.float32),
        )
        if not self.with_equivalents:
            return items
        eq = self.data.equivalents(index)
        eq = np.asarray(eq, dtype=np.float32) if eq is not None else rotation[None].astype(np.float32)
        return (*items, torch.from_numpy(padded_set(eq, self.width)), torch.tensor(len(eq), dtype=torch.int64))
