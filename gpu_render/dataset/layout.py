"""The layout of a dataset folder (OUT): file names, and reading what a build records.

manifest.json                  what was built, how, checksums of its chunks and whole files
labels.npy                     cLPR only: float64 (N, 8, 6)
poses.npz                      every label array of the scene (see docs/LABELS.md)
{size}/cube1_index_{i+1}.jpg   (or .png) one image per pose, 1-based names as in 2018
images_{size}.npy              format npy: uint8 (N, S, S, 3), memory-mappable
{size}/shard-{k:06d}.tar       format wds: chunk k's samples (gpu_render.dataset.wds)
images/, annotations/, lists/, CAD/   --layout imagenet3d (gpu_render.dataset.imagenet3d)
mask_{size}.npy, depth_{size}.npy   --layers: uint8 (N, S, S) and float32 (N, S, S)
.progress/chunk_{k}.json       while building: one record per finished chunk
.lock, .lock-shard-K-of-N      while building: the lock of the build (or shard) writing OUT
shards/part-{K}-of-{N}.json    while building with --shard K/N: that shard's manifest part
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gpu_render.dataset.atomic import TMP_MARK, is_temporary
from gpu_render.errors import UsageError

__all__ = ["TMP_MARK", "is_temporary"]

GENERATOR = "gpu_render"
MANIFEST = "manifest.json"
LABELS = "labels.npy"
POSES = "poses.npz"
PROGRESS = ".progress"
SHARDS = "shards"
#: The --layers arrays: name and dtype, one (N, S, S) file per size.
LAYERS = (("mask", "uint8"), ("depth", "float32"))


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


def layer_path(out: Path, kind: str, size: int) -> Path:
    """``mask_{size}.npy`` or ``depth_{size}.npy`` (--layers)."""
    return out / f"{kind}_{size}.npy"


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


#: Bytes of each file's sha256 that a chunk record keeps (``digests``), to name a changed file.
SHORT_DIGEST = 4


def chunk_digest(file_digests: Iterable[bytes]) -> str:
    """A chunk's checksum (hex sha256) over the sha256 of each of its files, sizes then poses in order."""
    h = hashlib.sha256()
    for d in file_digests:
        h.update(d)
    return h.hexdigest()


def file_digest(data: bytes) -> bytes:
    """The per-file sha256 that :func:`chunk_digest` combines (for npy: the image's raw bytes)."""
    return hashlib.sha256(data).digest()


def chunk_record(chunk: int, start: int, stop: int, digests: list[bytes], **more: Any) -> dict[str, Any]:
    """The record of chunk ``chunk`` (images ``start .. stop-1``) whose files have the sha256
    ``digests`` (in the checksum's order): its ``sha256`` (:func:`chunk_digest`) and ``digests``,
    base64 of the first :data:`SHORT_DIGEST` bytes of each, which :func:`short_digests` reads
    back to name a changed file; ``more``: the layout's own fields (e.g. the model it drew)."""
    record: dict[str, Any] = {"chunk": chunk, **more, "start": start, "stop": stop, "sha256": chunk_digest(digests)}
    if digests:
        record["digests"] = base64.b64encode(b"".join(d[:SHORT_DIGEST] for d in digests)).decode("ascii")
    return record


def short_digests(record: Any) -> list[bytes] | None:
    """The short digests a chunk record keeps, one per file in the checksum's order, or None
    when it keeps none (records of earlier versions) or they do not read."""
    text = record.get("digests") if isinstance(record, dict) else None
    if not isinstance(text, str):
        return None
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeError):
        return None
    if len(raw) % SHORT_DIGEST:
        return None
    return [raw[i : i + SHORT_DIGEST] for i in range(0, len(raw), SHORT_DIGEST)]


def changed_files(record: Any, digests: list[bytes]) -> list[int] | None:
    """Positions (in the checksum's order) of the files whose sha256 ``digests`` differ from
    what chunk ``record`` keeps; None when the record keeps no short digests for that many files."""
    short = short_digests(record)
    if short is None or len(short) != len(digests):
        return None
    return [i for i, (d, s) in enumerate(zip(digests, short, strict=False)) if d[:SHORT_DIGEST] != s]


def whole_file_digest(path: Path, block: int = 1 << 24) -> str:
    """Hex sha256 of the file at ``path``, read in blocks (a layer file may be many GB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(block):
            h.update(data)
    return h.hexdigest()
