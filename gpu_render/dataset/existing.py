"""What OUT already holds, as a resuming or replacing build asks about it."""

from __future__ import annotations

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


def same_npy(path: Path, array: np.ndarray) -> bool:
    """Whether ``path`` is a readable .npy holding exactly ``array``."""
    if not path.exists():
        return False
    try:
        return bool(np.array_equal(np.load(path, mmap_mode="r"), array))
    except (OSError, ValueError):
        return False


def same_npz(path: Path, arrays: dict[str, np.ndarray]) -> bool:
    """Whether ``path`` is a readable .npz holding exactly ``arrays`` (same names, same values)."""
    if not path.exists():
        return False
    try:
        with np.load(path) as data:
            return set(data.files) == set(arrays) and all(np.array_equal(data[k], v) for k, v in arrays.items())
    except (OSError, ValueError):
        return False


def differences(old: Any, new: dict[str, Any]) -> str:
    """The keys whose values differ between an existing dataset's signature and this build's, as
    one line ("k: old there, new now, ...")."""
    if not isinstance(old, dict):
        return "unknown options"
    keys = [k for k in new if old.get(k) != new[k]]
    return ", ".join(f"{k}: {old.get(k)!r} there, {new[k]!r} now" for k in keys) or "unknown options"
