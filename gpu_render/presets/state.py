"""OUT of a preset build: its lock, its manifest and its chunk records (resume).

A preset build writes ``OUT/manifest.json`` (``"preset"`` names it) first with
``complete: false``, records each chunk in ``OUT/.progress/chunk_{k:06d}.json`` once all of its
images are in place, and seals the manifest at the end with ``complete: true`` and the sha256
of each file it wrote whole (``files``: label files, pickles, npz files). A killed build is
resumed by the same command: recorded chunks are skipped, the rest are written again (to the
same bytes, since everything is seeded). Another command's dataset in OUT is refused.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gpu_render import __version__
from gpu_render.dataset.atomic import atomic_write_json, is_temporary
from gpu_render.dataset.existing import differences
from gpu_render.dataset.layout import (
    GENERATOR,
    MANIFEST,
    PROGRESS,
    chunk_record,
    read_manifest,
    read_progress,
    whole_file_digest,
)
from gpu_render.dataset.lock import BuildLock, is_lock_file
from gpu_render.dataset.space import free_space
from gpu_render.errors import UsageError


class PresetState:
    """The lock, manifest and chunk records of one preset build in ``out``."""

    def __init__(self, out: Path, signature: dict[str, Any], renderer: str = "") -> None:
        self.out = out
        self.signature = signature
        self.renderer = renderer
        self._lock = BuildLock(out)
        self.done: dict[int, dict[str, Any]] = {}

    def prepare(self, partial_names: Iterable[str] = ()) -> bool:
        """Check OUT without writing into it, then create it if need be. Returns True when this
        call created OUT (empty). ``partial_names``: names in OUT that a killed build of these
        options may have left besides temporaries (e.g. unsealed databases).

        Raises UsageError when OUT is a file, holds something else, or is not writable.
        """
        out = self.out
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out} is a file, not a folder")
        existing = read_manifest(out) if out.is_dir() else None
        if existing is None and out.is_dir():
            ours = set(partial_names) | {PROGRESS}
            foreign = sorted(
                p.name for p in out.iterdir() if not (p.name in ours or is_temporary(p.name) or is_lock_file(p.name))
            )
            if foreign:
                raise UsageError(
                    f"--out {out} holds files that are not a gpu_render dataset "
                    f"({', '.join(foreign[:3])}); choose an empty or new folder"
                )
        if existing is not None and existing.get("signature") != self.signature:
            raise UsageError(
                f"--out {out} holds a dataset built with other options "
                f"({differences(existing.get('signature'), self.signature)}); "
                "use the same options to resume, or another --out"
            )
        created = not out.exists()
        try:
            out.mkdir(parents=True, exist_ok=True)
            if not os.access(out, os.W_OK):
                raise PermissionError(13, "Permission denied", str(out))
        except OSError as exc:
            raise UsageError(f"--out {out} is not writable: {exc.strerror or exc}") from None
        return created

    def open(self, partial_names: Iterable[str] = ()) -> bool:
        """Lock OUT and start or resume there. Returns True when OUT already holds this very
        dataset, complete. ``partial_names`` as for :meth:`prepare`.

        Raises UsageError when OUT is a file, holds something else, or is not writable.
        """
        out = self.out
        self.prepare(partial_names)
        try:
            self._lock.acquire()
        except OSError as exc:
            raise UsageError(f"--out {out} is not writable: {exc.strerror or exc}") from None
        existing = read_manifest(out)
        if existing is not None and existing.get("complete") and existing.get("signature") == self.signature:
            return True
        self.done = read_progress(out)
        self._write(complete=False)
        (out / PROGRESS).mkdir(exist_ok=True)
        return False

    def record(self, chunk: int, record: dict[str, Any]) -> None:
        """Record a chunk whose files are all in place (with its files' short digests when its
        ``sha256`` is a :class:`~gpu_render.dataset.layout.ChunkDigest`)."""
        record = chunk_record({"chunk": chunk, **record})
        atomic_write_json(self.out / PROGRESS / f"chunk_{chunk:06d}.json", record)
        self.done[chunk] = record

    def seal(self, seconds: float, extra: dict[str, Any] | None = None) -> None:
        """Mark the dataset complete, with a sha256 of each file it wrote whole, and drop the
        chunk records."""
        from gpu_render.presets.owned import preset_files  # it reads the presets' layouts, which use this module

        whole = preset_files(self.signature).whole
        files = {name: whole_file_digest(self.out / name) for name in whole if (self.out / name).is_file()}
        self._write(complete=True, seconds=seconds, extra={**(extra or {}), "files": files})
        shutil.rmtree(self.out / PROGRESS, ignore_errors=True)

    def close(self) -> None:
        self._lock.release()

    def _write(self, complete: bool, seconds: float | None = None, extra: dict[str, Any] | None = None) -> None:
        record = {
            "generator": GENERATOR,
            "version": __version__,
            "preset": self.signature["preset"],
            "complete": complete,
            "signature": self.signature,
            "renderer": self.renderer,
            "seconds": None if seconds is None else round(seconds, 3),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) if complete else None,
            "chunks": {str(k): self.done[k] for k in sorted(self.done)},
            **(extra or {}),
        }
        atomic_write_json(self.out / MANIFEST, record)


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


def remove_temporaries(folder: Path) -> None:
    """Delete the temporaries a killed build left in ``folder`` (they never carry final names)."""
    if folder.is_dir():
        with os.scandir(folder) as entries:
            for entry in entries:
                if is_temporary(entry.name):
                    os.unlink(entry.path)
