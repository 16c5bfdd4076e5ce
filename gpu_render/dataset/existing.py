"""What OUT already holds, as a resuming or replacing build asks about it."""

from __future__ import annotations

import struct
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from gpu_render.dataset.atomic import is_temporary
from gpu_render.dataset.layout import PROGRESS, SHARDS
from gpu_render.dataset.lock import is_lock_file


def ours_before_manifest(path: Path) -> bool:
    """Whether ``path`` in an OUT without manifest or shard parts can be a build's own: a
    temporary, ``.progress``, a lock file, or a ``shards`` folder whose first part is still
    being written (it holds only temporaries)."""
    name = path.name
    if is_temporary(name) or is_lock_file(name) or name == PROGRESS:
        return True
    if name == SHARDS and path.is_dir():
        try:
            return all(is_temporary(p.name) for p in path.iterdir())
        except FileNotFoundError:
            return True  # removed while we looked: a sealing build was cleaning up
    return False


#: What reading a damaged .npy or .npz raises: numpy (its header parser: SyntaxError,
#: tokenize.TokenError), zipfile, zlib and struct each have their own, and a flipped flag bit
#: makes zipfile ask for a password (RuntimeError).
DAMAGED = (
    OSError,
    ValueError,
    EOFError,
    KeyError,
    SyntaxError,
    RuntimeError,
    OverflowError,
    MemoryError,
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    tokenize.TokenError,
)


def same_npy(path: Path, array: np.ndarray) -> bool:
    """Whether ``path`` is a readable .npy holding exactly ``array`` (a damaged one is not)."""
    if not path.exists():
        return False
    try:
        return bool(np.array_equal(np.load(path, mmap_mode="r"), array))
    except DAMAGED:
        return False


def same_npz(path: Path, arrays: dict[str, np.ndarray]) -> bool:
    """Whether ``path`` is a readable .npz holding exactly ``arrays`` (same names, same values;
    a damaged one is not)."""
    if not path.exists():
        return False
    try:
        with open(path, "rb") as f, np.load(f) as data:  # our own handle: numpy leaks its own on a bad zip
            return set(data.files) == set(arrays) and all(np.array_equal(data[k], v) for k, v in arrays.items())
    except DAMAGED:
        return False


def differences(old: Any, new: dict[str, Any]) -> str:
    """The keys whose values differ between an existing dataset's signature and this build's, as
    one line ("k: old there, new now, ...")."""
    if not isinstance(old, dict):
        return "unknown options"
    keys = [k for k in new if old.get(k) != new[k]]
    return ", ".join(f"{k}: {old.get(k)!r} there, {new[k]!r} now" for k in keys) or "unknown options"
