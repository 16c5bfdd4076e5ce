"""Benchmark writing WebDataset shards: webdataset's ``TarWriter`` against this project's
tarfile-header writer (:class:`gpu_render.dataset.wds.WdsSink`'s way), on the same samples.

    python tools/bench_wds.py --shards 40 --per-shard 512 --size 64 --repeat 7

Samples are real encoded images (simplejpeg, as a build's) of smooth random pictures, each
with the json a build writes. Each run writes ``--shards`` shards of ``--per-shard`` samples
(image + json + cls) under a temporary name, then renames them, as a build does; the two
writers alternate run by run, and the median seconds per run and per sample are printed with
the ratio TarWriter / tarfile. Encoding is done once, before timing: only writing is timed.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gpu_render.dataset.atomic import atomic_write_bytes, replacing
from gpu_render.dataset.encode import ENCODERS
from gpu_render.dataset.wds import read_shard, sample_json, sample_key, sample_members, tar_end
from gpu_render.extras import MissingExtra, require


def samples(count: int, size: int, fmt: str, seed: int) -> list[tuple[str, list[tuple[str, bytes]]]]:
    """``count`` samples (key, [(ext, bytes)]), with images of ``size`` px encoded as ``fmt``."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (count, 8, 8, 3), dtype=np.uint8)
    images = np.repeat(np.repeat(base, size // 8, axis=1), size // 8, axis=2)  # blocky, JPEG-sized like renders
    out = []
    eye, q = np.eye(3), np.array([1.0, 0.0, 0.0, 0.0])
    for i, image in enumerate(images):
        members = [
            (fmt, ENCODERS[fmt](np.ascontiguousarray(image))),
            ("json", sample_json(i, q.tolist(), eye.tolist(), "tet", 0)),
            ("cls", b"0"),
        ]
        out.append((sample_key(i), members))
    return out


def write_tarfile(folder: str, shards: list[list[tuple[str, list[tuple[str, bytes]]]]]) -> None:
    for k, shard in enumerate(shards):
        parts = [sample_members(key, members) for key, members in shard]
        parts.append(tar_end(sum(len(p) for p in parts)))
        atomic_write_bytes(os.path.join(folder, f"shard-{k:06d}.tar"), b"".join(parts))


def write_tarwriter(folder: str, shards: list[list[tuple[str, list[tuple[str, bytes]]]]]) -> None:
    for k, shard in enumerate(shards):
        with replacing(os.path.join(folder, f"shard-{k:06d}.tar")) as tmp, open(tmp, "wb") as f:
            with require("webdataset").TarWriter(f, mtime=0.0, encoder=False) as sink:
                for key, members in shard:
                    sink.write({"__key__": key, **dict(members)})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shards", type=int, default=40)
    p.add_argument("--per-shard", type=int, default=512)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--image-format", choices=tuple(ENCODERS), default="jpg")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--tmp", type=Path, default=None)
    a = p.parse_args(argv)
    try:
        wds = require("webdataset")  # the peer writer measured here
    except MissingExtra as exc:
        print(exc.command_error("bench_wds"), file=sys.stderr)
        return 2
    if min(a.shards, a.per_shard, a.size, a.repeat) < 1:
        p.error("--shards, --per-shard, --size and --repeat must be positive")
    every = samples(a.shards * a.per_shard, a.size, a.image_format, 0)
    shards = [every[k * a.per_shard : (k + 1) * a.per_shard] for k in range(a.shards)]
    n = len(every)
    print(
        f"bench_wds: {a.shards} shards x {a.per_shard} samples, {a.size} px {a.image_format}, "
        f"{sum(len(d) for _, m in every for _, d in m) / n:.0f} bytes/sample; {platform.node()}, "
        f"{os.cpu_count()} cores, python {sys.version.split()[0]}, webdataset {wds.__version__}, "
        f"{time.strftime('%Y-%m-%d')}",
        flush=True,
    )
    writers = {"tarfile": write_tarfile, "TarWriter": write_tarwriter}
    runs: dict[str, list[float]] = {name: [] for name in writers}
    scratch = Path(tempfile.mkdtemp(prefix="gpu_render-bench-wds-", dir=a.tmp))
    try:
        for r in range(a.repeat):
            for name, write in writers.items():
                folder = scratch / f"{name}-{r}"  # kept until the end: deleting slows creation (bench.py)
                folder.mkdir()
                t0 = time.perf_counter()
                write(str(folder), shards)
                runs[name].append(time.perf_counter() - t0)
        same = all(
            [(k, sorted(m)) for k, m in read_shard(scratch / "tarfile-0" / f)]
            == [(k, sorted(m)) for k, m in read_shard(scratch / "TarWriter-0" / f)]
            for f in os.listdir(scratch / "tarfile-0")
        )  # TarWriter orders a sample's members by name
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    med = {name: statistics.median(v) for name, v in runs.items()}
    for name, m in med.items():
        print(
            f"  {name:<10} median {m:.3f} s per run, {m / n * 1e6:.1f} us per sample "
            f"(runs {', '.join(f'{x:.3f}' for x in runs[name])})"
        )
    print(f"  ratio TarWriter / tarfile: {med['TarWriter'] / med['tarfile']:.2f}; same samples read back: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
