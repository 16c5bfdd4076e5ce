"""WebDataset tar shards: ``OUT/{size}/shard-{k:06d}.tar``, one shard per chunk k and size.

A sample is the run of adjacent tar members sharing a key (FORMATS.md, WebDataset): the
pose's index as ``{index:06d}`` (no dot), with members ``{key}.jpg`` (or ``.png``), ``{key}.json``
and, when the build has a class, ``{key}.cls``. The json holds ``index`` (0-based),
``quaternion`` (4,) w first, w >= 0, ``matrix`` (3, 3) the column-vector rotation R (object
frame to camera frame, as poses.npz), and ``class`` (a name) and ``class_index`` where there
is a class. Floats are written with Python's repr, so they read back bit-exact.

Shards are written with :mod:`tarfile`'s header code into one buffer, then atomically (temporary
name, then rename): a shard is either whole or absent. docs/PERFORMANCE.md says why not
webdataset's ``TarWriter`` (it is slower per sample and needs webdataset to build). Headers
carry mtime 0, mode 0444 and no owner names, so two builds write the same bytes.
"""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from gpu_render.dataset.atomic import atomic_write_bytes
from gpu_render.dataset.decoded import DecodedImages
from gpu_render.dataset.encode import ENCODERS
from gpu_render.dataset.layout import file_digest

SHARD_PATTERN = "shard-{:06d}.tar"
BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE


def shard_name(chunk: int) -> str:
    return SHARD_PATTERN.format(chunk)


def shard_path(out: Path, size: int, chunk: int) -> Path:
    """``OUT/{size}/shard-{chunk:06d}.tar``."""
    return out / str(size) / shard_name(chunk)


def sample_key(index: int) -> str:
    """The WebDataset key of pose ``index`` (0-based): six digits or more, never a dot."""
    return f"{index:06d}"


def sample_json(
    index: int, quaternion: list[float], matrix: list[list[float]], class_name: str | None, class_index: int | None
) -> bytes:
    """The ``json`` member of one sample: exactly ``json.dumps(record, sort_keys=True)`` of
    {class?, class_index?, index, matrix, quaternion}, formatted directly (5x faster; a test
    checks it against json). quaternion: 4 floats, matrix: 3 rows of 3 floats."""
    head = _class_fields(class_name, class_index)
    q = ", ".join(map(repr, quaternion))
    m = "], [".join(", ".join(map(repr, row)) for row in matrix)
    return f'{{{head}"index": {index}, "matrix": [[{m}]], "quaternion": [{q}]}}'.encode()


def _class_fields(class_name: str | None, class_index: int | None) -> str:
    fields: dict[str, object] = {}
    if class_name is not None:
        fields["class"] = class_name
    if class_index is not None:
        fields["class_index"] = int(class_index)
    return json.dumps(fields, sort_keys=True)[1:-1] + ", " if fields else ""


def _header_template() -> bytes:
    info = tarfile.TarInfo("x")
    info.mtime, info.mode = 0, 0o444
    return info.tobuf(format=tarfile.USTAR_FORMAT, encoding="utf-8", errors="strict")


#: A ustar header of a regular file: mode 0444, uid/gid 0, mtime 0, no owner names.
_HEADER = _header_template()


def tar_header(name: str, size: int) -> bytes:
    """The ustar header tarfile writes for a regular file ``name`` (ASCII, < 100 bytes) of
    ``size`` bytes with mode 0444 and mtime 0, filled in from a template (10x faster)."""
    raw = name.encode("ascii")
    if len(raw) >= 100 or size >= 8**11:
        raise ValueError(f"a ustar member name below 100 bytes and a size below 8 GiB, got {name!r}, {size}")
    header = bytearray(_HEADER)
    header[0:100] = raw.ljust(100, b"\0")
    header[124:136] = b"%011o\0" % size
    header[148:156] = b"        "
    header[148:155] = b"%06o\0" % sum(header)
    return bytes(header)


def tar_member(name: str, data: bytes) -> bytes:
    """One regular-file tar member (ustar header, data, zero padding to a 512-byte block)."""
    return tar_header(name, len(data)) + data + bytes(-len(data) % BLOCK)


def tar_end(length: int) -> bytes:
    """The end of an archive whose members take ``length`` bytes: two zero blocks, then zeros
    up to a whole 10240-byte record, as tarfile writes."""
    length += 2 * BLOCK
    return bytes(2 * BLOCK + (-length % RECORD))


def sample_members(key: str, members: list[tuple[str, bytes]]) -> bytes:
    return b"".join(tar_member(f"{key}.{ext}", data) for ext, data in members)


@dataclass(frozen=True, eq=False)
class WdsSink:
    """Writes one shard per (chunk, size); picklable, so encoder processes can hold one.

    quaternion: (N, 4) float64, matrix: (N, 3, 3) float64, the labels each json carries.
    batch: poses per chunk, so that poses ``start ..`` at chunk start k*batch go to shard k.
    Each call must be handed a whole chunk (``whole_chunks``: the encoder pool never splits one).
    """

    out: Path
    image_format: str
    batch: int
    quaternion: np.ndarray = field(repr=False)
    matrix: np.ndarray = field(repr=False)
    class_name: str | None = None
    class_index: int | None = None

    whole_chunks: ClassVar[bool] = True

    def members(self, index: int, image: bytes) -> list[tuple[str, bytes]]:
        """The (extension, bytes) members of pose ``index``'s sample, in tar order."""
        out = [
            (self.image_format, image),
            (
                "json",
                sample_json(
                    index,
                    self.quaternion[index].tolist(),
                    self.matrix[index].tolist(),
                    self.class_name,
                    self.class_index,
                ),
            ),
        ]
        if self.class_index is not None:
            out.append(("cls", str(self.class_index).encode()))
        return out

    def write(self, size: int, start: int, images: np.ndarray) -> list[bytes]:
        """Write chunk ``start // batch`` at ``size`` as one shard; return each sample's digest
        (sha256 over its members' bytes in order). images: (n, size, size, 3) uint8 RGB."""
        if images.shape[1:] != (size, size, 3):
            raise ValueError(f"expected images of shape (n, {size}, {size}, 3), got {images.shape}")
        if start % self.batch:
            raise ValueError(f"a shard starts at a chunk boundary (a multiple of {self.batch}), not {start}")
        encode = ENCODERS[self.image_format]
        parts, digests = [], []
        for k, image in enumerate(images):
            members = self.members(start + k, encode(image))
            parts.append(sample_members(sample_key(start + k), members))
            digests.append(sample_digest(members))
        length = sum(len(p) for p in parts)
        parts.append(tar_end(length))
        atomic_write_bytes(os.path.join(self.out, str(size), shard_name(start // self.batch)), b"".join(parts))
        return digests


def sample_digest(members: list[tuple[str, bytes]]) -> bytes:
    """The digest a chunk record combines for one sample: sha256 of its members' bytes in order."""
    return file_digest(b"".join(data for _, data in members))


def read_shard(path: Path) -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """The samples of one shard in order: (key, [(extension, bytes), ...]).

    Raises OSError when the file is missing and tarfile.TarError when it is not a whole tar.
    """
    with tarfile.open(path, mode="r:") as tar:
        key: str | None = None
        members: list[tuple[str, bytes]] = []
        for info in tar:
            if not info.isfile():
                raise tarfile.TarError(f"{info.name} is not a regular file")
            k, _, ext = info.name.partition(".")
            f = tar.extractfile(info)
            assert f is not None
            data = f.read()
            if len(data) != info.size:
                raise tarfile.TarError(f"{info.name} is cut short")
            if k != key:
                if key is not None:
                    yield key, members
                key, members = k, []
            members.append((ext, data))
        if key is not None:
            yield key, members


class ShardIndex:
    """Where each member of a shard's samples lies: key -> extension -> (offset, length)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.members: dict[str, dict[str, tuple[int, int]]] = {}
        with tarfile.open(path, mode="r:") as tar:
            for info in tar:
                key, _, ext = info.name.partition(".")
                self.members.setdefault(key, {})[ext] = (info.offset_data, info.size)

    def read(self, key: str, ext: str) -> bytes:
        offset, length = self.members[key][ext]
        with open(self.path, "rb") as f:
            f.seek(offset)
            return f.read(length)


class ShardImages(DecodedImages):
    """The (N, S, S, 3) uint8 RGB images of one size of a wds build, decoded when indexed.

    ``images[i]`` is (S, S, 3); a slice or an index array gives (k, S, S, 3). Pose i is in
    shard ``i // batch``; each shard's member table is read once, on first use.
    """

    def __init__(self, root: Path, size: int, image_format: str, batch: int, count: int) -> None:
        super().__init__(size, count)
        self.root, self.image_format, self.batch = root, image_format, batch
        self._shards: dict[int, ShardIndex] = {}

    def encoded(self, index: int) -> bytes:
        """The image file's bytes of pose ``index`` (0-based)."""
        if not -self.count <= index < self.count:
            raise IndexError(f"pose {index} is out of range for {self.count} poses")
        index %= self.count
        chunk = index // self.batch
        if chunk not in self._shards:
            self._shards[chunk] = ShardIndex(shard_path(self.root, self.size, chunk))
        return self._shards[chunk].read(sample_key(index), self.image_format)
