"""Writing .npz files array by array and rows by rows, so that arrays larger than memory
(ModelNet10-SO3's 400k images, SYMSOL's (45000, 720, 3, 3) cylinder sets) never sit in memory.

The result is an ordinary npz (a zip of .npy members, zip64 where needed) that ``np.load``
reads. Member timestamps are fixed, so the same arrays give the same bytes.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from typing import BinaryIO

import numpy as np

_EPOCH = (1980, 1, 1, 0, 0, 0)


class NpzStream:
    """An npz being written to the open binary file ``f``; ``compress`` deflates its members
    (as ``np.savez_compressed``). Use as a context manager, then close ``f``."""

    def __init__(self, f: BinaryIO, compress: bool = False) -> None:
        self._zip = zipfile.ZipFile(f, "w", allowZip64=True)
        self._method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED

    def add(self, name: str, dtype: np.dtype | type, shape: tuple[int, ...], blocks: Iterable[np.ndarray]) -> None:
        """Add array ``name`` of ``shape`` and ``dtype`` (C order) from ``blocks``: consecutive
        row blocks (m, *shape[1:]) whose rows add up to ``shape[0]``. Raises ValueError otherwise."""
        dtype = np.dtype(dtype)
        info = zipfile.ZipInfo(name + ".npy", date_time=_EPOCH)
        info.compress_type = self._method
        info.external_attr = 0o644 << 16
        rows = 0
        with self._zip.open(info, "w", force_zip64=True) as member:
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)}
            np.lib.format.write_array_header_1_0(member, header)  # as np.save writes it
            for block in blocks:
                block = np.ascontiguousarray(block, dtype=dtype)
                if block.shape[1:] != tuple(shape[1:]):
                    raise ValueError(f"{name}: a block of shape {block.shape} does not fit {tuple(shape)}")
                member.write(block.tobytes())
                rows += len(block)
        if rows != (shape[0] if shape else 1):
            raise ValueError(f"{name}: got {rows} rows, expected {shape[0] if shape else 1}")

    def add_array(self, name: str, array: np.ndarray) -> None:
        """Add a whole array (any shape, scalars included)."""
        array = np.asarray(array)
        if array.ndim == 0:
            self.add(name, array.dtype, (), [array.reshape(1)])
        else:
            self.add(name, array.dtype, array.shape, [array])

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> NpzStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
