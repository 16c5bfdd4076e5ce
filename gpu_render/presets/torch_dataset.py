"""A PyTorch ``Dataset`` over one split of a preset's output (``pip install 'gpu_render[torch]'``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from gpu_render.presets.load import load_preset


class PresetDataset(Dataset):
    """Items ``(image, class_index, rotation)``, or with ``equivalents=True``
    ``(image, class_index, rotation, equivalents)``.

    image: float32 (3, S, S) RGB in [0, 1]. class_index: int64 () (SYMSOL's shape order, or
    ModelNet10's category order). rotation: float32 (3, 3) R (SCENES.md). equivalents: float32
    (K, 3, 3), element 0 R: the orbit of a featureless SYMSOL shape (K fixed per shape), the
    visual equivalents of tetX and cylO (K varies: use a collate_fn that keeps lists), (1, 3, 3)
    R alone where there are none (sphereX, ModelNet10).
    """

    def __init__(self, root: str | Path, split: str = "train", equivalents: bool = False) -> None:
        self.data = load_preset(root, split)
        self.with_equivalents = equivalents

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        image = torch.from_numpy(np.array(self.data.image(index))).permute(2, 0, 1).to(torch.float32).div_(255.0)
        rotation = self.data.rotation(index)
        items = (image, torch.tensor(self.data.class_index(index), dtype=torch.int64),
                 torch.tensor(rotation, dtype=torch.float32))
        if not self.with_equivalents:
            return items
        eq = self.data.equivalents(index)
        return (*items, torch.tensor(np.array(eq if eq is not None else rotation[None]), dtype=torch.float32))
