"""One ModelNet10-SO3 database: an LMDB environment that grows as it fills, built under
``{name}.Rawjpg.lmdb.partial`` and renamed to ``{name}.Rawjpg.lmdb`` only when complete.

The ``lmdb`` package is the one Spherical Regression and image2sphere read these with.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import lmdb
import numpy as np

from gpu_render.dataset.atomic import replacing

#: First map size; doubled whenever a write would not fit (a full train_100V is ~400k images).
INITIAL_MAP = 64 << 20
PARTIAL = ".partial"
#: Pickle protocol 2: the originals were written by Python 2 (readers pass encoding="latin1").
PICKLE_PROTOCOL = 2


def db_name(name: str) -> str:
    """``train_100V`` -> ``train_100V.Rawjpg.lmdb``."""
    return f"{name}.Rawjpg.lmdb"


class GrowingLmdb:
    """An LMDB environment in ``folder`` (created if need be) whose map doubles when full."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        size = max(INITIAL_MAP, _file_size(folder / "data.mdb") * 2)
        self.env: Any = lmdb.open(str(folder), map_size=size, subdir=True, meminit=True, max_dbs=0)

    def put_many(self, items: list[tuple[bytes, bytes]]) -> None:
        """Store every (key, value) in one transaction (all or none), growing the map as needed."""
        while True:
            try:
                with self.env.begin(write=True) as txn:
                    for key, value in items:
                        txn.put(key, value)
                return
            except lmdb.MapFullError:
                self.env.set_mapsize(self.env.info()["map_size"] * 2)

    def close(self) -> None:
        """Flush and close the environment (once; later calls do nothing)."""
        if self.env is not None:
            self.env.sync(True)
            self.env.close()
            self.env = None


class PortablePickler(pickle.Pickler):
    """Pickles numpy arrays as ``numpy.array(list)``, a name every numpy version has: numpy 2
    would otherwise name ``numpy._core.multiarray``, which numpy 1.x readers cannot import.
    The arrays read back as float64 (or whatever the list's values make)."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            return np.array, (obj.tolist(),)
        return NotImplemented


def write_pickle(path: Path, obj: Any) -> None:
    """Pickle ``obj`` to ``path`` atomically, protocol 2, numpy arrays portably."""
    with replacing(path) as tmp, open(tmp, "wb") as f:
        PortablePickler(f, protocol=PICKLE_PROTOCOL).dump(obj)


def _file_size(path: Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
