"""OUT as every build sees it: its lock, manifest, chunk records, temporaries, shard parts and sealing.

The files themselves are the layout's (:mod:`gpu_render.dataset.layouts`); every file goes
through :mod:`gpu_render.dataset.atomic`, so it appears under its final name only when
complete. A chunk is recorded (``OUT/.progress/chunk_{k:06d}.json``) only after all of its
files are in place, so a build killed at any moment resumes by redoing unrecorded chunks.
Shards write disjoint chunks, records and parts; a plain build of the same options then finds
every chunk recorded and seals the dataset with its whole files and manifest.json. One build
(or one shard) writes OUT at a time: :class:`~gpu_render.dataset.lock.BuildLock`.

The folder knows nothing of options or GL: it is handed a layout.
"""

from __future__ import annotations

import os
import shutil
import time
from functools import cached_property
from pathlib import Path
from typing import Any

from gpu_render.dataset.atomic import (
    TMP_MARK,
    atomic_write_bytes,
    atomic_write_json,
    create,
    is_temporary,
    replacing,
    set_temporary_tag,
    temporary_name,
    temporary_tag,
)
from gpu_render.dataset.existing import differences, ours_before_manifest
from gpu_render.dataset.layout import (
    GENERATOR,
    LABELS,
    MANIFEST,
    POSES,
    PROGRESS,
    SHARDS,
    chunk_record,
    file_digest,
    image_name,
    image_path,
    npy_path,
    part_path,
    read_manifest,
    read_parts,
    read_progress,
    whole_file_digest,
)
from gpu_render.dataset.layouts import Layout
from gpu_render.dataset.lock import BuildLock
from gpu_render.dataset.owned import BuildFiles, real_folder, refuse_links, remove_build, replaced_files
from gpu_render.dataset.sink import ImageSink, LayerFiles
from gpu_render.errors import UsageError

# Re-exported: callers of the writer use these names from here.
__all__ = [
    "LABELS",
    "MANIFEST",
    "POSES",
    "DatasetFolder",
    "ImageSink",
    "LayerFiles",
    "atomic_write_bytes",
    "file_digest",
    "image_name",
    "image_path",
    "npy_path",
    "read_manifest",
    "read_parts",
    "read_progress",
    "replacing",
    "tag_shard_temporaries",
    "write_chunk_record",
]


class DatasetFolder:
    """One build (or one shard of it) of ``layout`` in ``out``.

    It checks OUT, records chunks and seals the build, on the build's main thread; the images
    themselves are written by encoder processes through the layout's sink.
    """

    def __init__(
        self,
        out: Path,
        layout: Layout,
        renderer: str = "",
        shard: tuple[int, int] | None = None,
        overwrite: bool = False,
        version: str = "",
    ) -> None:
        self.out = out
        self.layout = layout
        self.renderer = renderer
        self.shard = shard
        self.overwrite = overwrite
        self.version = version  # gpu_render's, as the manifest records it
        self.complete = False  # open() found this very dataset already complete: nothing to write
        self.created = False  # check() made OUT (still empty until open())
        self._lock = BuildLock(out, shard)
        #: How the build ran, for the manifest: engine name, workers and each one's node and
        #: GL_RENDERER (set by the engine before :meth:`finalize`); None leaves it out.
        self.engine: dict[str, Any] | None = None
        tag_shard_temporaries(shard)

    @cached_property
    def files(self) -> BuildFiles:
        """What this build writes in OUT (:mod:`gpu_render.dataset.owned`)."""
        try:
            return self.layout.files()
        except ValueError as exc:
            raise UsageError(f"--out {self.out}: this build cannot name its files ({exc})") from None

    # -- opening ---------------------------------------------------------------------------

    def check(self) -> None:
        """Check OUT without writing into it, then create it if need be (``created``).

        Raises UsageError when OUT is a file, not writable, holds something that is not a
        gpu_render dataset, or holds one built with other options (without --overwrite).
        """
        out = self.out
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out} is a file, not a folder")
        existing = read_manifest(out) if out.is_dir() else None
        parts = read_parts(out) if out.is_dir() else []
        if out.is_dir() and existing is None and not parts:
            ours = set(self.layout.partial_names())
            foreign = sorted(p.name for p in out.iterdir() if not (p.name in ours or ours_before_manifest(p)))
            if foreign:
                raise UsageError(
                    f"--out {out} holds files that are not a gpu_render dataset ({', '.join(foreign[:3])}"
                    f"{', ...' if len(foreign) > 3 else ''}); choose an empty or new folder"
                )
        if not self.overwrite:
            self._refuse_other([existing, *parts])
        self.created = not out.exists()
        try:
            out.mkdir(parents=True, exist_ok=True)
            probe = temporary_name(os.path.join(out, "probe"))
            os.close(create(probe))
            os.unlink(probe)
        except OSError as exc:
            raise UsageError(f"--out {out} is not writable: {exc.strerror or exc}") from None

    def undo_create(self) -> None:
        """Remove OUT again when :meth:`check` made it and nothing was written there since."""
        if self.created and self.out.is_dir() and not any(self.out.iterdir()):
            self.out.rmdir()
        self.created = False

    def _refuse_other(self, manifests: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
        signature = self.layout.signature
        found = [m for m in manifests if m is not None and m.get("signature") != signature]
        if found and not self.overwrite:
            raise UsageError(
                f"--out {self.out} holds a dataset built with other options "
                f"({differences(found[0].get('signature'), signature)}); "
                + (
                    "use the same options to resume, or another --out"
                    if "preset" in signature
                    else "use the same options to resume, another --out, or --overwrite to replace it"
                )
            )
        return found

    def open(self) -> dict[int, dict[str, Any]]:
        """Lock OUT, then start or resume the build there. Returns the chunks already done
        (with ``complete`` set when OUT already holds this very dataset, sealed).

        Raises UsageError as :meth:`check`, and when another build holds OUT's lock.
        """
        out = self.out
        try:
            out.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()  # before anything else in OUT is touched; UsageError if taken
        except OSError as exc:
            raise UsageError(f"--out {out} is not writable: {exc.strerror or exc}") from None
        # Read again under the lock: a build that held it until a moment ago may have changed them.
        existing, parts = read_manifest(out), read_parts(out)
        found = self._refuse_other([existing, *parts])
        if found:  # --overwrite
            old = [replaced_files(out, m) for m in found]  # all checked before anything is removed
            refuse_links(out, self.files)
            for files in old:
                remove_build(out, files)
            existing, parts = None, []
        if existing is not None and existing.get("complete"):
            self.complete = True  # leave a finished dataset exactly as it is
            return {int(k): v for k, v in existing.get("chunks", {}).items()}
        refuse_links(out, self.files)
        done = read_progress(out)
        self._write_record(complete=False, chunks=self._own(done))
        (out / PROGRESS).mkdir(exist_ok=True)
        self.remove_stale_temporaries()
        self.layout.prepare(out, resume=bool(done), writes_labels=self.writes_labels)
        return done

    def close(self) -> None:
        """Release OUT's lock (taken by :meth:`open`); call it once the build has stopped writing."""
        self._lock.release()

    @property
    def writes_labels(self) -> bool:
        """Unsharded builds and shard 0 write the labels written at the start; other shards leave them alone."""
        return self.shard is None or self.shard[0] == 0

    def owns(self, chunk: int) -> bool:
        """Whether this build (or shard) is the one to write ``chunk``."""
        return self.shard is None or chunk % self.shard[1] == self.shard[0]

    def _own(self, chunks: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
        return {k: v for k, v in chunks.items() if self.owns(k)}

    def remove_stale_temporaries(self) -> None:
        """Delete temporaries a killed build left behind (they never carry final names).

        A shard deletes only its own, since other shards may be writing beside it.
        """
        own = f"{TMP_MARK}{temporary_tag().rsplit('-', 1)[0]}-" if self.shard is not None else TMP_MARK
        for declared in self.files.folders:
            folder = real_folder(self.out, declared.path)
            if folder is not None:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        if is_temporary(entry.name) and own in entry.name and entry.is_file(follow_symlinks=False):
                            os.unlink(entry.path)

    # -- chunks and sealing ------------------------------------------------------------------

    def finalize(self, chunks: dict[int, dict[str, Any]], seconds: float, progress: bool = False) -> None:
        """Seal the build: the layout's whole files, then the complete manifest.

        A shard instead marks its part complete; the dataset is sealed by a plain build.
        """
        if self.shard is not None:
            self._write_record(complete=True, chunks=self._own(chunks), seconds=seconds)
            return
        # Every writer has stopped: temporaries left by one that was killed mid-write (an
        # engine's restarted worker) are no part of the dataset.
        self.remove_stale_temporaries()
        self.layout.seal(self.out, progress)
        # The files written whole (labels, layers) get a sha256 each: the chunks cover the images.
        files = {name: whole_file_digest(self.out / name) for name in self.files.whole if (self.out / name).is_file()}
        self._write_record(complete=True, chunks=chunks, seconds=seconds, files=files)
        for folder in (self.out / PROGRESS, self.out / SHARDS):
            if folder.is_dir():
                shutil.rmtree(folder)

    def _write_record(
        self,
        complete: bool,
        chunks: dict[int, dict[str, Any]],
        seconds: float | None = None,
        files: dict[str, str] | None = None,
    ) -> None:
        """Write manifest.json, or this shard's part of it. files: relative path -> sha256 of
        each file written whole (sealing only)."""
        record = {
            "generator": GENERATOR,
            "version": self.version,
            "complete": complete,
            "signature": self.layout.signature,
            **self.layout.manifest_fields(),
            "renderer": self.renderer,
            "seconds": None if seconds is None else round(seconds, 3),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) if complete else None,
            "chunks": {str(k): chunks[k] for k in sorted(chunks)},
        }
        if self.engine is not None and self.layout.record_engine:
            record["engine"] = self.engine
        if files is not None:
            record["files"] = files
        if self.shard is None:
            atomic_write_json(self.out / MANIFEST, record)
        else:
            record["shard"] = list(self.shard)
            (self.out / SHARDS).mkdir(exist_ok=True)
            atomic_write_json(part_path(self.out, *self.shard), record)


def tag_shard_temporaries(shard: tuple[int, int] | None) -> None:
    """Name this process's temporaries, and those of processes it forks later, after shard
    (K, N), so that a shard's resume removes exactly its own leftovers. Call it before the
    encoder processes fork. Nothing happens for a plain build (shard None)."""
    if shard is not None:
        set_temporary_tag(f"s{shard[0]}of{shard[1]}")


def write_chunk_record(
    out: Path, chunk: int, start: int, stop: int, digests: list[bytes], **more: Any
) -> dict[str, Any]:
    """Record chunk ``chunk`` (images ``start .. stop-1``, whose files have the sha256
    ``digests``) of OUT, whose files are all in place; ``more``: the layout's own fields.

    Any process that wrote the chunk's files may record it (a local build's main process, a
    Ray worker); the record is written atomically, so it exists whole or not at all.
    """
    record = chunk_record(chunk, start, stop, digests, **more)
    atomic_write_json(out / PROGRESS / f"chunk_{chunk:06d}.json", record)
    return record
