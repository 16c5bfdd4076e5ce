"""Atomic file writes: every file appears under its final name only when complete.

A file is written under a temporary name in its own folder (``.{name}.tmp-{tag}``) and then
renamed over the final name, so a crash never leaves a truncated file where a reader looks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

TMP_MARK = ".tmp-"


def is_temporary(name: str) -> bool:
    return name.startswith(".") and TMP_MARK in name


_tmp_tag = str(os.getpid())


def set_temporary_tag(tag: str) -> None:
    """Name this process's temporaries ``.{name}.tmp-{tag}-{pid}`` (shards clean only their own)."""
    global _tmp_tag
    _tmp_tag = f"{tag}-{os.getpid()}"


def _tmp_name(path: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}{TMP_MARK}{_tmp_tag}")


@contextmanager
def replacing(path: Path | str) -> Iterator[str]:
    """Yield a temporary name beside ``path``; it becomes ``path`` (by rename) only if the
    block completes, and is removed otherwise. Readers never see a half-written file."""
    path = os.fspath(path)
    tmp = _tmp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):  # the block may have failed before creating it
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary name in the same folder, then rename.

    Plain ``os`` calls on ``str`` paths: a build writes a million small files, and Python's
    buffered file objects and pathlib cost more per file than the system calls themselves.
    """
    with replacing(path) as tmp:
        fd = create(tmp)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def create(tmp: str) -> int:
    """Open ``tmp`` for writing, created or truncated, never through a symbolic link (OSError
    ELOOP there): a descriptor."""
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    with replacing(path) as tmp, os.fdopen(create(tmp), "wb") as f:  # a file object: np.save would append ".npy"
        np.save(f, array)


def atomic_save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez under a temporary name, then rename (numpy writes fixed zip timestamps: deterministic)."""
    with replacing(path) as tmp, os.fdopen(create(tmp), "wb") as f:
        np.savez(f, allow_pickle=True, **arrays)


def temporary_tag() -> str:
    """This process's tag in temporary names (``{tag}-{pid}`` or ``{pid}``)."""
    return _tmp_tag


def temporary_name(path: str) -> str:
    """The temporary name beside ``path`` that this process writes it under."""
    return _tmp_name(path)
