"""An optional PyTorch ``Dataset`` over a built dataset (``pip install 'gpu_render[torch]'``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from gpu_render.extras import needs

with needs("torch"):
    import torch
    from torch.utils.data import Dataset

from gpu_render.dataset.loader import load
from gpu_render.scene.solids import builtin_object
from gpu_render.scene.symmetry import padded_set

#: Label representations, with the shape each item's label has.
LABEL_SHAPES = {
    "quaternion": (4,),
    "matrix": (3, 3),
    "euler": (3,),
    "keypoints": (8, 2),
    "labels": (8, 6),
}


#: Representations only the cLPR cube has.
CLPR_ONLY = ("euler", "keypoints", "labels")


class CLPRDataset(Dataset):
    """Items are ``(image, label)``, then ``equivalents`` with ``equivalents=True``, then
    ``class`` with ``classes=True``: ``(image, label[, equivalents][, class])``.

    image: float32 tensor (3, S, S), RGB in [0, 1], rows top-down (after ``transform``, if any).
    label: float32 tensor in the chosen representation: ``quaternion`` (4,) w first, w >= 0;
    ``matrix`` (3, 3) column-vector R, object frame to camera frame; and for the cLPR cube
    only ``euler`` (3,) cLPR radians; ``keypoints`` (8, 2) pixels at this size, y down;
    ``labels`` (8, 6) the cLPR row.
    equivalents: float32 (G, 3, 3), every rotation that gives this very image, element 0 the
    pose's own R (:meth:`gpu_render.dataset.loader.Dataset.equivalents`). G is the object's
    symmetry group size: the featureless solids' sets are the whole orbit (12, 24, 60, 360,
    720); tetX's (G 12) and cylO's (G 720) visual sets vary per pose and are padded with R up
    to G, as StreamingDataset's are, so torch's default collate stacks a batch and a minimum
    over the rows is the minimum over the set (``len(dataset.data.equivalents(i))`` is its
    size). Only for datasets of objects that have them.
    class: int64 tensor (), the SYMSOL class index (0..7, FORMATS.md's order; the same as a wds
    sample's ``cls``). Only for builds of a SYMSOL solid (mesh files and the cube have no index).
    """

    def __init__(
        self,
        root: str | Path,
        size: int,
        label: str = "quaternion",
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        equivalents: bool = False,
        classes: bool = False,
    ) -> None:
        if label not in LABEL_SHAPES:
            raise ValueError(f"label must be one of {', '.join(LABEL_SHAPES)}, got {label!r}")
        self.data = load(root)
        if size not in self.data.images:
            raise ValueError(f"{root} has sizes {self.data.sizes}, not {size}")
        if label in CLPR_ONLY and self.data.labels is None:
            raise ValueError(
                f"label {label!r} exists for the cLPR cube only; {self.data.object} has quaternion and matrix"
            )
        if equivalents and self.data.equivalents(0) is None:
            raise ValueError(f"{self.data.object} has no equivalent rotations (only the SYMSOL solids but sphereX do)")
        if classes and self.data.class_index is None:
            raise ValueError(f"{self.data.object} has no class index (only builds of a SYMSOL solid have one)")
        self.size, self.label, self.transform, self.with_equivalents = size, label, transform, equivalents
        # Ragged visual sets (tetX, cylO) are padded to the group's size; whole orbits already have it.
        ragged = equivalents and "visual_offsets" in self.data.poses
        self._width = len(builtin_object(str(self.data.object)).symmetry) if ragged else 0
        self._class = torch.tensor(self.data.class_index, dtype=torch.int64) if classes else None
        names = {
            "quaternion": "quaternion",
            "matrix": "matrix",
            "euler": "euler_clpr",
            "keypoints": f"keypoints_{size}",
        }
        self._labels = np.asarray(self.data.labels) if label == "labels" else self.data.poses[names[label]]
        self._closed = False

    def __len__(self) -> int:
        return len(self.data)

    def close(self) -> None:
        """Close the dataset's files (poses.npz); harmless twice. Items cannot be read after it.
        ``with CLPRDataset(...) as dataset:`` closes on leaving."""
        self.data.close()
        self._closed = True

    def __enter__(self) -> CLPRDataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        """One short line: class, path, what is drawn, pose count, size and label."""
        obj = self.data.object
        if obj.startswith("mesh:"):
            obj = "mesh:" + Path(obj[5:]).name
        return (
            f"{type(self).__name__}(path={str(self.data.root)!r}, object={obj!r}, poses={len(self)}, "
            f"size={self.size}, label={self.label!r})"
        )

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        if self._closed:
            raise ValueError(f"{self!r} is closed: make a new one to read it again")
        pixels = np.array(self.data.images[self.size][index])  # a writable copy for torch
        image = torch.from_numpy(pixels).permute(2, 0, 1).to(torch.float32).div_(255.0)
        if self.transform is not None:
            image = self.transform(image)
        label = torch.tensor(np.array(self._labels[index]), dtype=torch.float32)  # a copy: memmaps are read-only
        item: tuple[torch.Tensor, ...] = (image, label)
        if self.with_equivalents:
            eq = self.data.equivalents(index)
            assert eq is not None
            if self._width:
                eq = padded_set(eq, self._width)
            item += (torch.tensor(np.array(eq), dtype=torch.float32),)
        if self._class is not None:
            item += (self._class.clone(),)
        return item
