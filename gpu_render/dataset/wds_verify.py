"""Checking a wds build's shards (for ``gpu_render.verify``): every sample present, in order,
decodable, with the json and cls the poses say. Reads files only; knows nothing of GL."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from gpu_render.dataset.wds import read_shard, sample_digest, sample_key, shard_path

LABEL_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Expected:
    """What the samples must hold. quaternion (N, 4), matrix (N, 3, 3) float64, as poses.npz."""

    image_format: str
    quaternion: np.ndarray | None
    matrix: np.ndarray | None
    class_name: str | None
    class_index: int | None


@dataclass(frozen=True)
class Checked:
    """One pose's result: its pixels (S, S, 3) uint8 or None, its sample digest or None, problems."""

    index: int
    pixels: np.ndarray | None
    digest: bytes | None
    problems: tuple[str, ...]


def check_shards(
    out: Path, size: int, chunks: dict[int, tuple[int, int]], poses: list[int], want: Expected
) -> Iterator[Checked]:
    """Check the shards at ``size`` that hold any of ``poses``; chunks: k -> (start, stop).

    Yields the result of each pose in ``poses``, in order; the problems of a shard's other
    poses come with the first of its poses that is in ``poses``.
    """
    wanted = set(poses)
    for k, (start, stop) in sorted(chunks.items()):
        if not wanted.intersection(range(start, stop)):
            continue
        results = list(check_shard(out, size, k, start, stop, want))
        others = tuple(p for c in results if c.index not in wanted for p in c.problems)
        for n, c in enumerate(c for c in results if c.index in wanted):
            yield Checked(c.index, c.pixels, c.digest, c.problems + others) if n == 0 and others else c


def check_shard(out: Path, size: int, chunk: int, start: int, stop: int, want: Expected) -> Iterator[Checked]:
    """Check shard ``chunk`` at ``size``, which must hold poses ``start .. stop-1`` in order.

    Yields one :class:`Checked` per pose of the range (a missing or broken shard: each pose
    gets no pixels, and the first carries the problem).
    """
    path = shard_path(out, size, chunk)
    try:
        samples = list(read_shard(path))
    except FileNotFoundError:
        yield from _lost(start, stop, f"{path}: missing")
        return
    except (OSError, tarfile.TarError, EOFError) as exc:
        yield from _lost(start, stop, f"{path}: not a whole tar ({exc})")
        return
    keys = [k for k, _ in samples]
    expected_keys = [sample_key(i) for i in range(start, stop)]
    if keys != expected_keys:
        yield from _lost(start, stop, f"{path}: holds samples {_brief(keys)}, expected {_brief(expected_keys)}")
        return
    for i, (_key, members) in zip(range(start, stop), samples, strict=False):
        yield _check_sample(path, size, i, members, want)


def _check_sample(path: Path, size: int, i: int, members: list[tuple[str, bytes]], want: Expected) -> Checked:
    where = f"{path}: sample {sample_key(i)}"
    exts = [e for e, _ in members]
    expected_exts = [want.image_format, "json"] + (["cls"] if want.class_index is not None else [])
    if exts != expected_exts:
        return Checked(i, None, None, (f"{where} has members {exts}, expected {expected_exts}",))
    data = dict(members)
    problems = []
    pixels = None
    try:
        with Image.open(io.BytesIO(data[want.image_format])) as im:
            im.load()
            pixels = np.asarray(im.convert("RGB"))
        if pixels.shape != (size, size, 3):
            problems.append(f"{where}: image is {pixels.shape[1]}x{pixels.shape[0]}, expected {size}x{size}")
            pixels = None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        problems.append(f"{where}: image does not decode ({exc})")
    try:
        label = json.loads(data["json"])
        problems += _label_problems(where, i, label, want)
    except ValueError as exc:
        problems.append(f"{where}: json does not parse ({exc})")
    if want.class_index is not None and data.get("cls") != str(want.class_index).encode():
        problems.append(f"{where}: cls is {data.get('cls')!r}, expected {want.class_index}")
    return Checked(i, pixels, sample_digest(members), tuple(problems))


def _label_problems(where: str, i: int, label: object, want: Expected) -> list[str]:
    if not isinstance(label, dict):
        return [f"{where}: json is not an object"]
    problems = []
    if label.get("index") != i:
        problems.append(f"{where}: json index is {label.get('index')!r}, expected {i}")
    for key, array in (("quaternion", want.quaternion), ("matrix", want.matrix)):
        if array is None:
            continue
        try:
            got = np.asarray(label.get(key), dtype=np.float64)
            ok = got.shape == array[i].shape and bool(np.allclose(got, array[i], rtol=0, atol=LABEL_TOLERANCE))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            problems.append(f"{where}: json {key} differs from poses.npz")
    if label.get("class") != want.class_name or label.get("class_index") != want.class_index:
        problems.append(f"{where}: json class is {label.get('class')!r}, expected {want.class_name!r}")
    return problems


def _lost(start: int, stop: int, problem: str) -> Iterator[Checked]:
    for i in range(start, stop):
        yield Checked(i, None, None, (problem,) if i == start else ())


def _brief(keys: list[str]) -> str:
    return f"{keys[0]}..{keys[-1]} ({len(keys)})" if keys else "none"
