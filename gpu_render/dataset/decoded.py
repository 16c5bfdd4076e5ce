"""The images of one size of a build, decoded from their encoded files when indexed: what
:mod:`gpu_render.dataset.loader` hands out for jpg and png builds, whatever holds the files."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


class DecodedImages:
    """The (N, S, S, 3) uint8 RGB images of one size, decoded when indexed.

    ``images[i]`` is (S, S, 3), rows top-down; a slice or an index array gives (k, S, S, 3).
    Subclasses say where pose i's encoded image is (:meth:`encoded`), 0 <= i < count.
    """

    def __init__(self, size: int, count: int) -> None:
        self.size, self.count = size, count

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.count, self.size, self.size, 3)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    def __len__(self) -> int:
        return self.count

    def encoded(self, index: int) -> bytes:
        """The encoded image file's bytes of pose ``index`` (0 <= index < count)."""
        raise NotImplementedError

    def _one(self, index: int) -> np.ndarray:
        if not -self.count <= index < self.count:
            raise IndexError(f"pose {index} is out of range for {self.count} poses")
        with Image.open(io.BytesIO(self.encoded(index % self.count))) as im:
            return np.asarray(im.convert("RGB"))

    def __getitem__(self, key: int | slice | np.ndarray) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self._one(int(key))
        indices = range(self.count)[key] if isinstance(key, slice) else np.asarray(key).ravel()
        out = np.empty((len(indices), self.size, self.size, 3), dtype=np.uint8)
        for k, i in enumerate(indices):
            out[k] = self._one(int(i))
        return out
