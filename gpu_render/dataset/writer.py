"""The dataset on disk: layout, atomic writes, chunk records and the manifest.

Layout of OUT:
    manifest.json                  what was built, how, and a checksum per chunk
    labels.npy                     float64 (N, 8, 6)
    poses.npz                      quaternion, matrix, euler_clpr, keypoints_{size}, node/face_visible
    {size}/cube1_index_{i+1}.jpg   (or .png) one image per pose, 1-based names as in 2018
    images_{size}.npy              format npy: uint8 (N, S, S, 3), memory-mappable
    .progress/chunk_{k}.json       while building: one record per finished chunk
    .lock, .lock-shard-K-of-N      while building: the lock of the build (or shard) writing OUT
    shards/part-{K}-of-{N}.json    while building with --shard K/N: that shard's manifest part

Every file appears under its final name only when complete: it is written under a
temporary name in the same folder, then renamed. A chunk is recorded only after all of its
files are in place, so a build killed at any moment resumes by redoing unrecorded chunks.
Shards write disjoint chunks, records and parts; a plain build of the same options then
finds every chunk recorded and seals the dataset with labels.npy and manifest.json.
One build (or one shard) writes OUT at a time: :class:`~gpu_render.dataset.lock.BuildLock`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpu_render import __version__
from gpu_render.dataset.encode import ENCODERS
from gpu_render.dataset.lock import BuildLock, is_lock_file
from gpu_render.errors import UsageError
from gpu_render.options import BuildOptions
from gpu_render.scene.plan import PosePlan

GENERATOR = "gpu_render"
MANIFEST = "manifest.json"
LABELS = "labels.npy"
POSES = "poses.npz"
PROGRESS = ".progress"
SHARDS = "shards"
TMP_MARK = ".tmp-"


def image_name(index: int, fmt: str) -> str:
    """File name of pose ``index`` (0-based): the 2018 names are 1-based."""
    return f"cube1_index_{index + 1}.{fmt}"


def image_path(out: Path, size: int, index: int, fmt: str) -> Path:
    return out / str(size) / image_name(index, fmt)


def npy_path(out: Path, size: int) -> Path:
    return out / f"images_{size}.npy"


def partial_path(path: Path) -> Path:
    """Where an npy image file grows until the build is complete."""
    return path.with_name(path.name + ".partial")


def part_path(out: Path, shard: int, count: int) -> Path:
    return out / SHARDS / f"part-{shard}-of-{count}.json"


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
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    with replacing(path) as tmp, open(tmp, "wb") as f:  # a file object: np.save would append ".npy" to a name
        np.save(f, array)


def atomic_save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez under a temporary name, then rename (numpy writes fixed zip timestamps: deterministic)."""
    with replacing(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} is not a readable gpu_render {what} ({exc})") from None
    if not isinstance(data, dict) or data.get("generator") != GENERATOR:
        raise UsageError(f"{path} was not written by gpu_render; choose another --out")
    return data


def read_manifest(out: Path) -> dict[str, Any] | None:
    """The manifest of OUT, or None when there is none. Raises UsageError if it is not ours."""
    path = out / MANIFEST
    return _read_json(path, "manifest") if path.exists() else None


def read_parts(out: Path) -> list[dict[str, Any]]:
    """The shard manifest parts in OUT (none for unsharded builds)."""
    folder = out / SHARDS
    return [_read_json(p, "shard part") for p in sorted(folder.glob("part-*.json"))] if folder.is_dir() else []


def read_progress(out: Path) -> dict[int, dict[str, Any]]:
    """Chunk records of a build in progress, by chunk index."""
    done: dict[int, dict[str, Any]] = {}
    folder = out / PROGRESS
    if folder.is_dir():
        for p in folder.glob("chunk_*.json"):
            record = json.loads(p.read_text())
            done[int(record["chunk"])] = record
    return done


def chunk_digest(file_digests: Iterable[bytes]) -> str:
    """A chunk's checksum: sha256 over the sha256 of each of its files, sizes then poses in order."""
    h = hashlib.sha256()
    for d in file_digests:
        h.update(d)
    return h.hexdigest()


def file_digest(data: bytes) -> bytes:
    """The per-file sha256 that :func:`chunk_digest` combines (for npy: the image's raw bytes)."""
    return hashlib.sha256(data).digest()


_npy_files: dict[str, tuple[int, int]] = {}  # path -> (open descriptor, offset of the data)


def _npy_data(path: str) -> tuple[int, int]:
    """An open descriptor of an .npy file and where its array data starts (once per process)."""
    if path not in _npy_files:
        header = np.load(path, mmap_mode="r")  # reads the header only; .offset is where data starts
        offset = int(header.offset)
        del header
        _npy_files[path] = (os.open(path, os.O_WRONLY), offset)
    return _npy_files[path]


@dataclass(frozen=True)
class ImageSink:
    """Writes images into OUT's layout; picklable, so encoder processes can hold one.

    For npy it fills the ``images_{size}.npy.partial`` files that :class:`DatasetWriter`
    created, by positioned writes (no memory map, so a worker's memory stays small).
    """

    out: Path
    format: str

    def write(self, size: int, start: int, images: np.ndarray) -> list[bytes]:
        """Write poses ``start .. start+len(images)-1`` at ``size``; return each file's digest.

        images: (n, size, size, 3) uint8 RGB, rows top-down.
        """
        if images.shape[1:] != (size, size, 3):
            raise ValueError(f"expected images of shape (n, {size}, {size}, 3), got {images.shape}")
        if self.format == "npy":
            fd, offset = _npy_data(str(partial_path(npy_path(self.out, size))))
            data = memoryview(np.ascontiguousarray(images)).cast("B")
            at = offset + start * size * size * 3
            while data:
                written = os.pwrite(fd, data, at)
                data, at = data[written:], at + written
            return [file_digest(image.tobytes()) for image in images]
        encode = ENCODERS[self.format]
        folder = os.path.join(self.out, str(size))  # str, not Path: pathlib costs ~20 us per file
        digests = []
        for k, image in enumerate(images):
            data = encode(image)
            atomic_write_bytes(os.path.join(folder, image_name(start + k, self.format)), data)
            digests.append(file_digest(data))
        return digests


class DatasetWriter:
    """Writes one build (or one shard of it) into OUT.

    It checks OUT, records chunks and seals the build, on the build's main thread; the
    images themselves are written by encoder processes through an :class:`ImageSink`.
    """

    def __init__(self, options: BuildOptions, renderer: str) -> None:
        self.options = options
        self.out = options.out
        self.renderer = renderer
        self.shard = options.shard
        self._partials: list[int] = []  # sizes whose npy file grows under its .partial name
        self.complete = False  # open() found this very dataset already complete: nothing to write
        self._lock = BuildLock(options.out, options.shard)
        if self.shard is not None:
            set_temporary_tag(f"s{self.shard[0]}of{self.shard[1]}")

    # -- opening ---------------------------------------------------------------------------

    def open(self, plan: PosePlan) -> dict[int, dict[str, Any]]:
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
            foreign = sorted(p.name for p in out.iterdir() if not _ours_before_manifest(p))
            if foreign:
                raise UsageError(
                    f"--out {out} holds files that are not a gpu_render dataset ({', '.join(foreign[:3])}"
                    f"{', ...' if len(foreign) > 3 else ''}); choose an empty or new folder"
                )
        try:
            out.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()  # before anything else in OUT is touched; UsageError if taken
            probe = _tmp_name(os.path.join(out, "probe"))
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
            os.unlink(probe)
        except OSError as exc:
            raise UsageError(f"--out {out} is not writable: {exc.strerror or exc}") from None
        # Read again under the lock: a build that held it until a moment ago may have changed them.
        existing, parts = read_manifest(out), read_parts(out)

        signature = self.options.dataset_signature()
        found = [m for m in [existing, *parts] if m is not None and m.get("signature") != signature]
        if found:
            if not self.options.overwrite:
                raise UsageError(
                    f"--out {out} holds a dataset built with other options "
                    f"({_differences(found[0].get('signature'), signature)}); "
                    "use the same options to resume, another --out, or --overwrite to replace it"
                )
            for m in found:
                self._remove_dataset(m)
            existing, parts = None, []

        if existing is not None and existing.get("complete"):
            self.complete = True  # leave a finished dataset exactly as it is
            return {int(k): v for k, v in existing.get("chunks", {}).items()}
        done = read_progress(out)
        self._write_record(complete=False, chunks=self._own(done))
        (out / PROGRESS).mkdir(exist_ok=True)
        self._remove_stale_temporaries()
        if self.writes_labels:
            if not _same_npy(out / LABELS, plan.labels):
                atomic_save_npy(out / LABELS, plan.labels)
            rich = plan.rich_labels(self.options.sizes)
            if not _same_npz(out / POSES, rich):
                atomic_save_npz(out / POSES, rich)
        self._prepare_images(resume=bool(done))
        return done

    def close(self) -> None:
        """Release OUT's lock (taken by :meth:`open`); call it once the build has stopped writing."""
        self._lock.release()

    @property
    def writes_labels(self) -> bool:
        """Unsharded builds and shard 0 write labels.npy and poses.npz; other shards leave them alone."""
        return self.shard is None or self.shard[0] == 0

    def owns(self, chunk: int) -> bool:
        """Whether this build (or shard) is the one to write ``chunk``."""
        return self.shard is None or chunk % self.shard[1] == self.shard[0]

    def _own(self, chunks: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
        return {k: v for k, v in chunks.items() if self.owns(k)}

    def _remove_dataset(self, manifest: dict[str, Any]) -> None:
        """--overwrite: remove what an earlier build wrote, and nothing else."""
        sig = manifest.get("signature") or {}
        for size in sig.get("sizes", []):
            folder = self.out / str(int(size))
            if folder.is_dir():
                shutil.rmtree(folder)
            for p in (npy_path(self.out, int(size)), partial_path(npy_path(self.out, int(size)))):
                p.unlink(missing_ok=True)
        for folder in (self.out / PROGRESS, self.out / SHARDS):
            if folder.is_dir():
                shutil.rmtree(folder)
        (self.out / LABELS).unlink(missing_ok=True)
        (self.out / POSES).unlink(missing_ok=True)
        (self.out / MANIFEST).unlink(missing_ok=True)

    def _remove_stale_temporaries(self) -> None:
        """Delete temporaries a killed build left behind (they never carry final names).

        A shard deletes only its own, since other shards may be writing beside it.
        """
        own = f"{TMP_MARK}{_tmp_tag.rsplit('-', 1)[0]}-" if self.shard is not None else TMP_MARK
        folders = [self.out, self.out / PROGRESS, self.out / SHARDS] + [self.out / str(s) for s in self.options.sizes]
        for folder in folders:
            if folder.is_dir():
                with os.scandir(folder) as entries:
                    for entry in entries:
                        if is_temporary(entry.name) and own in entry.name:
                            os.unlink(entry.path)

    def _prepare_images(self, resume: bool) -> None:
        n = self.options.pose_count
        for size in self.options.sizes:
            if self.options.format != "npy":
                (self.out / str(size)).mkdir(exist_ok=True)
                continue
            final = npy_path(self.out, size)
            partial = partial_path(final)
            shape = (n, size, size, 3)
            if resume and partial.exists():
                mm = np.load(partial, mmap_mode="r")
                if mm.shape != shape or mm.dtype != np.uint8:
                    raise UsageError(f"{partial} holds {mm.dtype} {mm.shape}, expected uint8 {shape}")
                del mm
            elif final.exists():
                continue
            else:
                # Writes the header and sets the length; the encoder processes fill the rest.
                np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape).flush()
            _claim_space(partial)
            self._partials.append(size)

    def finish_chunk(self, chunk: int, start: int, stop: int, digest: str) -> dict[str, Any]:
        """Record a chunk whose files are all in place."""
        record = {"chunk": chunk, "start": start, "stop": stop, "sha256": digest}
        atomic_write_json(self.out / PROGRESS / f"chunk_{chunk:06d}.json", record)
        return record

    def finalize(self, chunks: dict[int, dict[str, Any]], seconds: float) -> None:
        """Seal the build: npy files to their final names and the complete manifest.

        A shard instead marks its part complete; the dataset is sealed by a plain build.
        """
        if self.shard is not None:
            self._write_record(complete=True, chunks=self._own(chunks), seconds=seconds)
            return
        for size in self._partials:
            os.replace(partial_path(npy_path(self.out, size)), npy_path(self.out, size))
        self._partials.clear()
        self._write_record(complete=True, chunks=chunks, seconds=seconds)
        for folder in (self.out / PROGRESS, self.out / SHARDS):
            if folder.is_dir():
                shutil.rmtree(folder)

    def _write_record(self, complete: bool, chunks: dict[int, dict[str, Any]], seconds: float | None = None) -> None:
        """Write manifest.json, or this shard's part of it."""
        o = self.options
        record = {
            "generator": GENERATOR,
            "version": __version__,
            "complete": complete,
            "signature": o.dataset_signature(),
            "options": o.as_json(),
            "pose_count": o.pose_count,
            "sizes": list(o.sizes),
            "format": o.format,
            "renderer": self.renderer,
            "seconds": None if seconds is None else round(seconds, 3),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) if complete else None,
            "chunks": {str(k): chunks[k] for k in sorted(chunks)},
        }
        if self.shard is None:
            atomic_write_json(self.out / MANIFEST, record)
        else:
            record["shard"] = list(self.shard)
            (self.out / SHARDS).mkdir(exist_ok=True)
            atomic_write_json(part_path(self.out, *self.shard), record)


def _ours_before_manifest(path: Path) -> bool:
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


GIB = 2**30


def check_room(out: Path, fmt: str, n: int, sizes: tuple[int, ...]) -> None:
    """Refuse an npy build of ``n`` poses at ``sizes`` whose files cannot fit on OUT's
    filesystem, before anything is allocated or written.

    The files still to be created (``images_{size}.npy`` at N*S*S*3 bytes per size, unless it
    or its ``.partial``, whose space was claimed when it was made, already exists; and
    labels.npy) are compared with the space ``os.statvfs`` reports free for OUT, or for the
    nearest folder above it that exists. Raises UsageError. Other formats are not checked:
    their sizes are not known until the images are encoded.
    """
    if fmt != "npy" or (out.exists() and not out.is_dir()):
        return  # DatasetWriter.open refuses an OUT that is a file
    need = 0
    for size in sizes:
        final = npy_path(out, size)
        if not (final.exists() or partial_path(final).exists()):
            need += n * size * size * 3 + 128  # + the .npy header
    if not (out / LABELS).exists():
        need += n * 8 * 6 * 8 + 128
    if need == 0:
        return
    where = out.absolute()
    while not where.is_dir() and where != where.parent:
        where = where.parent
    try:
        st = os.statvfs(where)
    except OSError:
        return  # cannot tell: the writes themselves will report a full disk, one line and resumable
    free = st.f_bavail * st.f_frsize
    if need > free:
        asked = ",".join(str(s) for s in sizes)
        raise UsageError(
            f"--out {out}: No space left on device for {n} poses at sizes {asked} as npy: they need "
            f"{need / GIB:.1f} GiB ({need} bytes), but the filesystem of {where} has {free / GIB:.1f} GiB "
            f"({free} bytes) free; free some space and re-run the same command, or choose another --out, "
            "fewer poses or smaller sizes"
        )


def _claim_space(path: Path) -> None:
    """Allocate a sparse file's blocks now: a full disk is then a clean ENOSPC naming the file,
    rather than a SIGBUS later when a page of its memory mapping is first written."""
    with open(path, "r+b") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, os.path.getsize(path))
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(path)) from None


def _same_npy(path: Path, array: np.ndarray) -> bool:
    if not path.exists():
        return False
    try:
        return bool(np.array_equal(np.load(path, mmap_mode="r"), array))
    except (OSError, ValueError):
        return False


def _same_npz(path: Path, arrays: dict[str, np.ndarray]) -> bool:
    if not path.exists():
        return False
    try:
        with np.load(path) as data:
            return set(data.files) == set(arrays) and all(np.array_equal(data[k], v) for k, v in arrays.items())
    except (OSError, ValueError):
        return False


def _differences(old: Any, new: dict[str, Any]) -> str:
    if not isinstance(old, dict):
        return "unknown options"
    keys = [k for k in new if old.get(k) != new[k]]
    return ", ".join(f"{k}: {old.get(k)!r} there, {new[k]!r} now" for k in keys) or "unknown options"
