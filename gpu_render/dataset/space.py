"""Room on OUT's filesystem: refused up front when it is short, claimed when a file is made."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gpu_render.dataset.layout import LABELS, LAYERS, layer_path, npy_path, partial_path
from gpu_render.errors import UsageError

GIB = 2**30


def check_room(out: Path, fmt: str, n: int, sizes: tuple[int, ...], layers: bool = False) -> None:
    """Refuse a build of ``n`` poses at ``sizes`` whose npy files cannot fit on OUT's
    filesystem, before anything is allocated or written.

    The npy files still to be created (``images_{size}.npy`` at N*S*S*3 bytes per size for
    format npy, ``mask_{size}.npy`` and ``depth_{size}.npy`` at N*S*S*(1+4) with ``layers``,
    each unless it or its ``.partial``, whose space was claimed when it was made, already
    exists; and labels.npy) are compared with the space ``os.statvfs`` reports free for OUT, or
    for the nearest folder above it that exists. Raises UsageError. Encoded images are not
    counted: their sizes are not known until they are encoded.
    """
    if (fmt != "npy" and not layers) or (out.exists() and not out.is_dir()):
        return  # DatasetWriter.open refuses an OUT that is a file
    arrays: list[tuple[Path, int]] = []
    for size in sizes:
        if fmt == "npy":
            arrays.append((npy_path(out, size), size * size * 3))
        if layers:
            arrays += [(layer_path(out, kind, size), size * size * np.dtype(dtype).itemsize) for kind, dtype in LAYERS]
    need = 0
    for final, per_pose in arrays:
        if not (final.exists() or partial_path(final).exists()):
            need += n * per_pose + 128  # + the .npy header
    if not (out / LABELS).exists():
        need += n * 8 * 6 * 8 + 128
    if need == 0:
        return
    room = free_space(out)
    if room is None:
        return  # cannot tell: the writes themselves will report a full disk, one line and resumable
    where, free = room
    if need > free:
        asked = ",".join(str(s) for s in sizes)
        raise UsageError(
            f"--out {out}: No space left on device for {n} poses at sizes {asked} as npy: they need "
            f"{need / GIB:.1f} GiB ({need} bytes), but the filesystem of {where} has {free / GIB:.1f} GiB "
            f"({free} bytes) free; free some space and re-run the same command, or choose another --out, "
            "fewer poses or smaller sizes"
        )


def claim_space(path: Path) -> None:
    """Allocate a sparse file's blocks now: a full disk is then a clean ENOSPC naming the file,
    rather than a SIGBUS later when a page of its memory mapping is first written."""
    with open(path, "r+b") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, os.path.getsize(path))
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(path)) from None


def free_space(out: Path) -> tuple[Path, int] | None:
    """(the folder measured, bytes free to this user) on OUT's filesystem, measured at OUT or
    the nearest folder above it that exists; None when the system cannot tell."""
    where = out.absolute()
    while not where.is_dir() and where != where.parent:
        where = where.parent
    try:
        st = os.statvfs(where)
    except OSError:
        return None
    return where, st.f_bavail * st.f_frsize


def check_free(out: Path, need: int, what: str) -> None:
    """Refuse (UsageError) a build whose files of known size (``need`` bytes, ``what``) cannot
    fit in the space free on OUT's filesystem (or the nearest folder above OUT that exists).
    Encoded images are not counted: their sizes are not known until they are encoded."""
    room = free_space(out)
    if room is None:
        return  # cannot tell: a full disk is then reported by the writes, one line and resumable
    where, free = room
    if need > free:
        raise UsageError(
            f"--out {out}: No space left on device for {what}: {readable_bytes(need)} needed, "
            f"{readable_bytes(free)} free on the filesystem of {where}; free some space or choose "
            "another --out or fewer --views"
        )


def readable_bytes(n: int) -> str:
    """``n`` bytes for a person: ``512 B``, ``3.2 KiB``, ``1.5 MiB``, ``2.0 GiB``, ``1.1 TiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
