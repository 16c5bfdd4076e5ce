"""The dataset on disk: layout, atomic writes, chunk records and the manifest.

Layout of OUT:
    manifest.json                  what was built, how, and a checksum per chunk
    labels.npy                     float64 (N, 8, 6)
    {size}/cube1_index_{i+1}.jpg   (or .png) one image per pose, 1-based names as in 2018
    images_{size}.npy              format npy: uint8 (N, S, S, 3), memory-mappable
    .progress/chunk_{k}.json       while building: one record per finished chunk

Every file appears under its final name only when complete: it is written under a
temporary name in the same folder, then renamed. A chunk is recorded only after all of its
files are in place, so a build killed at any moment resumes by redoing unrecorded chunks.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .encode import ENCODERS
from .errors import OutputError, UsageError
from .options import BuildOptions

GENERATOR = "gpu_render"
MANIFEST = "manifest.json"
LABELS = "labels.npy"
PROGRESS = ".progress"
TMP_MARK = ".tmp-"


def image_name(index: int, fmt: str) -> str:
    """File name of pose ``index`` (0-based): the 2018 names are 1-based."""
    return f"cube1_index_{index + 1}.{fmt}"


def image_path(out: Path, size: int, index: int, fmt: str) -> Path:
    return out / str(size) / image_name(index, fmt)


def npy_path(out: Path, size: int) -> Path:
    return out / f"images_{size}.npy"


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary name in the same folder, then rename."""
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_manifest(out: Path) -> dict[str, Any] | None:
    """The manifest of OUT, or None when there is none. Raises UsageError if unreadable."""
    path = out / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} is not a readable gpu_render manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("generator") != GENERATOR:
        raise UsageError(f"{out} holds a manifest.json that gpu_render did not write; choose another --out")
    return manifest


def chunk_digest(file_digests: Iterable[bytes]) -> str:
    """A chunk's checksum: sha256 over the sha256 of each of its files, sizes then poses in order."""
    h = hashlib.sha256()
    for d in file_digests:
        h.update(d)
    return h.hexdigest()


class DatasetWriter:
    """Writes one build into OUT. Thread-safe for :meth:`write_images` on distinct poses."""

    def __init__(self, options: BuildOptions, renderer: str) -> None:
        self.options = options
        self.out = options.out
        self.renderer = renderer
        self._npy: dict[int, np.memmap] = {}
        self.started = time.time()

    # -- opening ---------------------------------------------------------------------------

    def open(self, labels: np.ndarray) -> dict[int, dict[str, Any]]:
        """Check OUT, start or resume the build there. Returns the chunks already done.

        Raises UsageError when OUT is a file, not writable, holds something that is not a
        gpu_render dataset, or holds one built with other options (without --overwrite).
        """
        out = self.out
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out} is a file, not a folder")
        existing = read_manifest(out) if out.is_dir() else None
        if out.is_dir() and existing is None:
            foreign = sorted(p.name for p in out.iterdir())
            if foreign:
                raise UsageError(
                    f"--out {out} holds files that are not a gpu_render dataset ({', '.join(foreign[:3])}"
                    f"{', ...' if len(foreign) > 3 else ''}); choose an empty or new folder"
                )
        try:
            out.mkdir(parents=True, exist_ok=True)
            probe = out / f".probe{TMP_MARK}{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise UsageError(f"--out {out} is not writable: {exc.strerror or exc}") from None

        signature = self.options.dataset_signature()
        if existing is not None and existing.get("signature") != signature:
            if not self.options.overwrite:
                raise UsageError(
                    f"--out {out} holds a dataset built with other options ({_differences(existing.get('signature'), signature)}); "
                    "use the same options to resume, another --out, or --overwrite to replace it"
                )
            self._remove_dataset(existing)
            existing = None

        done: dict[int, dict[str, Any]] = {}
        if existing is not None:
            if existing.get("complete"):
                done = {int(k): v for k, v in existing.get("chunks", {}).items()}
            else:
                done = self._read_progress()
        self._write_manifest(complete=False, chunks=done)
        (out / PROGRESS).mkdir(exist_ok=True)
        self._remove_stale_temporaries()
        if not (out / LABELS).exists() or not np.array_equal(np.load(out / LABELS, mmap_mode="r"), labels):
            atomic_save_npy(out / LABELS, labels)
        self._prepare_images(resume=bool(done))
        return done

    def _remove_dataset(self, manifest: dict[str, Any]) -> None:
        """--overwrite: remove what an earlier build wrote, and nothing else."""
        sig = manifest.get("signature") or {}
        for size in sig.get("sizes", []):
            folder = self.out / str(int(size))
            if folder.is_dir():
                shutil.rmtree(folder)
            for p in (npy_path(self.out, int(size)), _partial(npy_path(self.out, int(size)))):
                p.unlink(missing_ok=True)
        if (self.out / PROGRESS).is_dir():
            shutil.rmtree(self.out / PROGRESS)
        (self.out / LABELS).unlink(missing_ok=True)

    def _read_progress(self) -> dict[int, dict[str, Any]]:
        done = {}
        folder = self.out / PROGRESS
        if folder.is_dir():
            for p in folder.glob("chunk_*.json"):
                record = json.loads(p.read_text())
                done[int(record["chunk"])] = record
        return done

    def _remove_stale_temporaries(self) -> None:
        """Delete temporary files a killed build left behind (they never carry final names)."""
        folders = [self.out, self.out / PROGRESS] + [self.out / str(s) for s in self.options.sizes]
        for folder in folders:
            if folder.is_dir():
                with os.scandir(folder) as entries:
                    for entry in entries:
                        if entry.name.startswith(".") and TMP_MARK in entry.name:
                            os.unlink(entry.path)

    def _prepare_images(self, resume: bool) -> None:
        n = self.options.pose_count
        for size in self.options.sizes:
            if self.options.format == "npy":
                final = npy_path(self.out, size)
                partial = _partial(final)
                shape = (n, size, size, 3)
                if resume and partial.exists():
                    self._npy[size] = np.lib.format.open_memmap(partial, mode="r+")
                    if self._npy[size].shape != shape:
                        raise UsageError(f"{partial} has shape {self._npy[size].shape}, expected {shape}")
                elif not final.exists():
                    self._npy[size] = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
            else:
                (self.out / str(size)).mkdir(exist_ok=True)

    # -- writing ---------------------------------------------------------------------------

    def write_images(self, size: int, start: int, images: np.ndarray) -> list[bytes]:
        """Write poses ``start .. start+len(images)-1`` at ``size``; return each file's sha256.

        images: (n, size, size, 3) uint8 RGB, rows top-down. Runs in encoder threads.
        """
        digests = []
        fmt = self.options.format
        if fmt == "npy":
            target = self._npy.get(size)
            if target is not None:
                target[start : start + len(images)] = images
            for image in images:
                digests.append(hashlib.sha256(image.tobytes()).digest())
            return digests
        encode = ENCODERS[fmt]
        for k, image in enumerate(images):
            data = encode(image)
            atomic_write_bytes(image_path(self.out, size, start + k, fmt), data)
            digests.append(hashlib.sha256(data).digest())
        return digests

    def finish_chunk(self, chunk: int, start: int, stop: int, digest: str) -> dict[str, Any]:
        """Record a chunk whose files are all in place."""
        record = {"chunk": chunk, "start": start, "stop": stop, "sha256": digest}
        atomic_write_json(self.out / PROGRESS / f"chunk_{chunk:06d}.json", record)
        return record

    def finalize(self, chunks: dict[int, dict[str, Any]], seconds: float) -> None:
        """Move npy files to their final names and write the complete manifest."""
        for size, mm in self._npy.items():
            mm.flush()
            del mm
            os.replace(_partial(npy_path(self.out, size)), npy_path(self.out, size))
        self._npy.clear()
        self._write_manifest(complete=True, chunks=chunks, seconds=seconds)
        shutil.rmtree(self.out / PROGRESS)

    def _write_manifest(self, complete: bool, chunks: dict[int, dict[str, Any]], seconds: float | None = None) -> None:
        o = self.options
        manifest = {
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
        atomic_write_json(self.out / MANIFEST, manifest)


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def _differences(old: Any, new: dict[str, Any]) -> str:
    if not isinstance(old, dict):
        return "unknown options"
    keys = [k for k in new if old.get(k) != new[k]]
    return ", ".join(f"{k}: {old.get(k)!r} there, {new[k]!r} now" for k in keys) or "unknown options"
