"""Writing images into OUT from the encoder processes: positioned writes into npy files, or
one encoded file per image. Picklable, so each encoder process holds its own."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from gpu_render.dataset.atomic import atomic_write_bytes
from gpu_render.dataset.encode import ENCODERS
from gpu_render.dataset.layout import LAYERS, file_digest, image_name, layer_path, npy_path, partial_path

_npy_files: dict[str, tuple[int, int]] = {}  # path -> (open descriptor, offset of the data)


def _npy_data(path: str) -> tuple[int, int]:
    """An open descriptor of an .npy file and where its array data starts (once per encoder process)."""
    if path not in _npy_files:
        _npy_files[path] = open_npy_data(path)
    return _npy_files[path]


def open_npy_data(path: str) -> tuple[int, int]:
    """Open an .npy file for positioned writes: (descriptor, byte offset of its array data)."""
    header = np.load(path, mmap_mode="r")  # reads the header only; .offset is where data starts
    offset = int(header.offset)
    del header
    return os.open(path, os.O_WRONLY), offset


def pwrite_rows(fd: int, offset: int, start: int, rows: np.ndarray) -> None:
    """Write ``rows`` (n, ...) as rows ``start ..`` of the C-order array at ``offset`` in ``fd``."""
    data = np.ascontiguousarray(rows).data.cast("B")
    at = offset + start * (rows[0].nbytes if len(rows) else 0)
    while data:
        written = os.pwrite(fd, data, at)
        data, at = data[written:], at + written


@dataclass(frozen=True)
class ImageSink:
    """Writes images into OUT's layout; picklable, so encoder processes can hold one.

    For npy it fills the ``images_{size}.npy.partial`` files that :class:`DatasetWriter`
    created, by positioned writes (no memory map, so a worker's memory stays small).
    """

    out: Path
    format: str

    #: Whether each write must get a whole chunk (the encoder pool splits chunks otherwise).
    whole_chunks: ClassVar[bool] = False

    def write(self, size: int, start: int, images: np.ndarray) -> list[bytes]:
        """Write poses ``start .. start+len(images)-1`` at ``size``; return each file's digest.

        images: (n, size, size, 3) uint8 RGB, rows top-down.
        """
        if images.shape[1:] != (size, size, 3):
            raise ValueError(f"expected images of shape (n, {size}, {size}, 3), got {images.shape}")
        if self.format == "npy":
            fd, offset = _npy_data(str(partial_path(npy_path(self.out, size))))
            pwrite_rows(fd, offset, start, images)
            return [file_digest(image.tobytes()) for image in images]
        encode = ENCODERS[self.format]
        folder = os.path.join(self.out, str(size))  # str, not Path: pathlib costs ~20 us per file
        digests = []
        for k, image in enumerate(images):
            data = encode(image)
            atomic_write_bytes(os.path.join(folder, image_name(start + k, self.format)), data)
            digests.append(file_digest(data))
        return digests


class LayerFiles:
    """Positioned writes into the ``mask_{S}.npy.partial`` and ``depth_{S}.npy.partial`` files
    that :class:`~gpu_render.dataset.writer.DatasetWriter` created; one per writing process."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._files: dict[str, tuple[int, int]] = {}  # .partial path -> (descriptor, data offset)

    def write(self, size: int, start: int, mask: np.ndarray, depth: np.ndarray) -> None:
        """Write poses ``start ..`` at ``size``: mask (n, S, S) uint8, depth (n, S, S) float32 camera z."""
        for (kind, dtype), array in zip(LAYERS, (mask, depth), strict=False):
            if array.dtype != dtype or array.shape[1:] != (size, size):
                raise ValueError(
                    f"{kind} must be (n, {size}, {size}) {np.dtype(dtype)}, got {array.shape} {array.dtype}"
                )
            path = str(partial_path(layer_path(self.out, kind, size)))
            if path not in self._files:
                self._files[path] = open_npy_data(path)
            pwrite_rows(*self._files[path], start, array)

    def close(self) -> None:
        for fd, _ in self._files.values():
            os.close(fd)
        self._files.clear()
