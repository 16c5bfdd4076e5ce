"""Writing a build into OUT: images (by encoder processes), chunk records, labels, the manifest.

The folder's layout is :mod:`gpu_render.dataset.layout`; every file goes through
:mod:`gpu_render.dataset.atomic`, so it appears under its final name only when complete. A
chunk is recorded only after all of its files are in place, so a build killed at any moment
resumes by redoing unrecorded chunks. Shards write disjoint chunks, records and parts; a plain
build of the same options then finds every chunk recorded and seals the dataset with its
labels and manifest.json. One build (or one shard) writes OUT at a time:
:class:`~gpu_render.dataset.lock.BuildLock`.

The writer is told what to write (:class:`WriteSpec`) and knows nothing of options or GL.
"""

from __future__ import annotations

import os
import shutil
import time
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from gpu_render import __version__
from gpu_render.dataset.atomic import (
    TMP_MARK,
    atomic_save_npy,
    atomic_save_npz,
    atomic_write_bytes,
    atomic_write_json,
    create,
    is_temporary,
    replacing,
    set_temporary_tag,
    temporary_name,
    temporary_tag,
)
from gpu_render.dataset.existing import differences, ours_before_manifest, same_npy, same_npz
from gpu_render.dataset.imagenet3d import ANNOTATIONS, IMAGES, Annotations, cad_vertices
from gpu_render.dataset.imagenet3d_tree import write_tree
from gpu_render.dataset.layout import (
    GENERATOR,
    LABELS,
    LAYERS,
    MANIFEST,
    POSES,
    PROGRESS,
    SHARDS,
    chunk_digest,
    chunk_record,
    file_digest,
    image_name,
    image_path,
    layer_path,
    npy_path,
    part_path,
    partial_path,
    read_manifest,
    read_parts,
    read_progress,
    whole_file_digest,
)
from gpu_render.dataset.lock import BuildLock
from gpu_render.dataset.owned import (
    BuildFiles,
    build_files,
    real_folder,
    refuse_links,
    remove_build,
    replaced_files,
)
from gpu_render.dataset.sink import ImageSink, LayerFiles, make_sink
from gpu_render.dataset.space import check_room, claim_space
from gpu_render.dataset.write_spec import Plan, WriteSpec
from gpu_render.errors import UsageError

# Re-exported: callers of the writer use these names from here.
__all__ = [
    "LABELS",
    "MANIFEST",
    "POSES",
    "DatasetWriter",
    "ImageSink",
    "LayerFiles",
    "WriteSpec",
    "atomic_write_bytes",
    "check_room",
    "chunk_digest",
    "file_digest",
    "image_name",
    "image_path",
    "make_sink",
    "npy_path",
    "read_manifest",
    "read_parts",
    "read_progress",
    "replacing",
    "tag_shard_temporaries",
    "write_chunk_record",
]


class DatasetWriter:
    """Writes one build (or one shard of it) into OUT.

    It checks OUT, records chunks and seals the build, on the build's main thread; the
    images themselves are written by encoder processes through an :class:`ImageSink`.
    """

    def __init__(self, spec: WriteSpec, renderer: str) -> None:
        self.spec = spec
        self.out = spec.out
        self.renderer = renderer
        self.shard = spec.shard
        self._partials: list[Path] = []  # npy files that grow under their .partial names
        self.complete = False  # open() found this very dataset already complete: nothing to write
        self._lock = BuildLock(spec.out, spec.shard)
        #: --layout imagenet3d: writes each chunk's annotations (set by :meth:`open`), else None.
        self.annotations: Annotations | None = None
        self._layers = LayerFiles(spec.out)
        #: How the build ran, for the manifest: engine name, workers and each one's node and
        #: GL_RENDERER (set by the engine before :meth:`finalize`); None leaves it out.
        self.engine: dict[str, Any] | None = None
        tag_shard_temporaries(self.shard)

    # -- opening ---------------------------------------------------------------------------

    def open(self, plan: Plan) -> dict[int, dict[str, Any]]:
        """Check OUT, then start or resume the build there. Returns the chunks already done.

        Raises UsageError when OUT is a file, not writable, holds something that is not a
        gpu_render dataset, or holds one built with other options (without --overwrite).
        """
        out = self.out
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out} is a file, not a folder")
        existing = read_manifest(out) if out.is_dir() else None
        parts = read_parts(out) if out.is_dir() else []
        if out.is_dir() and existing is None and not parts:
            foreign = sorted(p.name for p in out.iterdir() if not ours_before_manifest(p))
            if foreign:
                raise UsageError(
                    f"--out {out} holds files that are not a gpu_render dataset ({', '.join(foreign[:3])}"
                    f"{', ...' if len(foreign) > 3 else ''}); choose an empty or new folder"
                )
        try:
            out.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()  # before anything else in OUT is touched; UsageError if taken
            probe = temporary_name(os.path.join(out, "probe"))
            os.close(create(probe))
            os.unlink(probe)
        except OSError as exc:
            raise UsageError(f"--out {out} is not writable: {exc.strerror or exc}") from None
        # Read again under the lock: a build that held it until a moment ago may have changed them.
        existing, parts = read_manifest(out), read_parts(out)

        signature = self.spec.signature
        found = [m for m in [existing, *parts] if m is not None and m.get("signature") != signature]
        if found:
            if not self.spec.overwrite:
                raise UsageError(
                    f"--out {out} holds a dataset built with other options "
                    f"({differences(found[0].get('signature'), signature)}); "
                    "use the same options to resume, another --out, or --overwrite to replace it"
                )
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
        self._remove_stale_temporaries()
        rich = plan.rich_labels(self.spec.sizes) if self.writes_labels or self.spec.layout == "imagenet3d" else {}
        if self.writes_labels:
            if plan.labels is not None and not same_npy(out / LABELS, plan.labels):
                atomic_save_npy(out / LABELS, plan.labels)
            if not same_npz(out / POSES, rich):
                atomic_save_npz(out / POSES, rich)
        if self.spec.layout == "imagenet3d" and self.spec.cad_positions is not None:
            self.annotations = Annotations(
                out, str(self.spec.class_name), self.spec.sizes[0], rich, cad_vertices(self.spec.cad_positions)
            )
        self._prepare_images(resume=bool(done))
        return done

    def close(self) -> None:
        """Release OUT's lock (taken by :meth:`open`); call it once the build has stopped writing."""
        self._layers.close()
        self._lock.release()

    @property
    def writes_labels(self) -> bool:
        """Unsharded builds and shard 0 write labels.npy (cLPR) and poses.npz; other shards leave them alone."""
        return self.shard is None or self.shard[0] == 0

    def owns(self, chunk: int) -> bool:
        """Whether this build (or shard) is the one to write ``chunk``."""
        return self.shard is None or chunk % self.shard[1] == self.shard[0]

    def _own(self, chunks: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
        return {k: v for k, v in chunks.items() if self.owns(k)}

    @cached_property
    def files(self) -> BuildFiles:
        """What this build writes in OUT (:mod:`gpu_render.dataset.owned`)."""
        try:
            return build_files(self.spec.signature)
        except ValueError as exc:
            raise UsageError(f"--out {self.out}: this build cannot name its files ({exc})") from None

    def _remove_stale_temporaries(self) -> None:
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

    def _prepare_images(self, resume: bool) -> None:
        n = self.spec.pose_count
        for size in self.spec.sizes:
            if self.spec.format == "npy":
                self._prepare_array(npy_path(self.out, size), (n, size, size, 3), np.dtype(np.uint8), resume)
            elif self.spec.layout == "imagenet3d":
                for top in (IMAGES, ANNOTATIONS):
                    (self.out / top / str(self.spec.class_name)).mkdir(parents=True, exist_ok=True)
            else:
                (self.out / str(size)).mkdir(exist_ok=True)
            if self.spec.layers:
                for kind, dtype in LAYERS:
                    self._prepare_array(layer_path(self.out, kind, size), (n, size, size), np.dtype(dtype), resume)

    def _prepare_array(self, final: Path, shape: tuple[int, ...], dtype: np.dtype, resume: bool) -> None:
        """Create (or, resuming, check) the ``.partial`` file an array grows in until the build is sealed."""
        partial = partial_path(final)
        for path in (partial, final):
            if path.is_symlink():  # the encoders would write through it
                raise UsageError(
                    f"--out {self.out}: {path} is a symbolic link; the build writes only files of its "
                    "own inside OUT: remove it, or choose another --out"
                )
        if resume and partial.exists():
            mm = np.load(partial, mmap_mode="r")
            if mm.shape != shape or mm.dtype != dtype:
                raise UsageError(f"{partial} holds {mm.dtype} {mm.shape}, expected {dtype} {shape}")
            del mm
        elif final.exists():
            return
        else:
            # Writes the header and sets the length; the writers fill the rest.
            np.lib.format.open_memmap(partial, mode="w+", dtype=dtype, shape=shape).flush()
        claim_space(partial)
        self._partials.append(final)

    def write_layers(self, size: int, start: int, mask: np.ndarray, depth: np.ndarray) -> None:
        """Write poses ``start ..`` of the layers at ``size``: mask (n, S, S) uint8, depth (n, S, S) float32."""
        self._layers.write(size, start, mask, depth)

    def finish_chunk(self, chunk: int, start: int, stop: int, digest: str) -> dict[str, Any]:
        """Record a chunk whose files are all in place."""
        return write_chunk_record(self.out, chunk, start, stop, digest)

    def finalize(self, chunks: dict[int, dict[str, Any]], seconds: float) -> None:
        """Seal the build: npy files to their final names, ``--layout imagenet3d``'s lists and
        CAD model, then the complete manifest.

        A shard instead marks its part complete; the dataset is sealed by a plain build.
        """
        if self.shard is not None:
            self._write_record(complete=True, chunks=self._own(chunks), seconds=seconds)
            return
        # Every writer has stopped: temporaries left by one that was killed mid-write (an
        # engine's restarted worker) are no part of the dataset.
        self._remove_stale_temporaries()
        for final in self._partials:
            os.replace(partial_path(final), final)
        self._partials.clear()
        if self.spec.layout == "imagenet3d" and self.spec.cad_positions is not None:
            write_tree(
                self.out,
                str(self.spec.class_name),
                self.spec.pose_count,
                self.spec.val_fraction,
                self.spec.cad_positions,
            )
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
        o = self.spec
        record = {
            "generator": GENERATOR,
            "version": __version__,
            "complete": complete,
            "signature": o.signature,
            "options": o.described,
            "pose_count": o.pose_count,
            "sizes": list(o.sizes),
            "format": o.format,
            "renderer": self.renderer,
            "seconds": None if seconds is None else round(seconds, 3),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) if complete else None,
            "chunks": {str(k): chunks[k] for k in sorted(chunks)},
        }
        if self.engine is not None:
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


def write_chunk_record(out: Path, chunk: int, start: int, stop: int, digest: str) -> dict[str, Any]:
    """Record chunk ``chunk`` (poses ``start .. stop-1``) of OUT, whose files are all in place.

    Any process that wrote the chunk's files may record it (a local build's main process, a
    Ray worker); the record is written atomically, so it exists whole or not at all. When
    ``digest`` is a :class:`~gpu_render.dataset.layout.ChunkDigest` the record also keeps its
    files' short digests (``digests``), by which verify names a changed file.
    """
    record = chunk_record({"chunk": chunk, "start": start, "stop": stop, "sha256": digest})
    atomic_write_json(out / PROGRESS / f"chunk_{chunk:06d}.json", record)
    return record
