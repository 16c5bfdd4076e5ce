"""Benchmark the streaming dataset against the torch Dataset reading a built dataset.

    python tools/bench_stream.py --objects cylO,icosa --sizes 64,224 --poses 2048 --repeat 3 --json out.json

For each size: a jpg build of ``random:N:SEED`` (made first, untimed), then, interleaved run by
run, one epoch of each side through the same DataLoader settings (batch size, workers, no
shuffle): ``TorchDataset(build, size=S)`` decoding the jpg files, and
``StreamingDataset(object, random:N:SEED, S)`` rendering the same poses. The training loop
takes each batch and sums its images (so every pixel is touched). Reported: images per second
of each side (median of ``--repeat`` epochs, worker start-up included, as in a real epoch: a
streaming worker opens its GL context and compiles its shaders then), the seconds to the first
batch, and the ratio streaming / disk. The target: a ratio of at least 1 at 64 and 224 px.

This process opens no GL context itself (the build runs in a subprocess), so the DataLoader
may fork its workers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from gpu_render import __version__
from gpu_render.cli.arg_types import sizes_type
from gpu_render.presets.torch_dataset import TorchDataset
from gpu_render.stream import StreamingDataset

#: The target: streaming delivers at least this many times the disk dataset's images/s.
TARGET_RATIO = 1.0


def epoch_rate(dataset: Dataset, batch_size: int, workers: int) -> tuple[float, float]:
    """One epoch of ``dataset`` through a DataLoader: (images per second, start-up included;
    seconds until the first batch arrived)."""
    t0 = time.perf_counter()
    count, checksum, first = 0, 0.0, None
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False)
    for images, _ in loader:
        if first is None:
            first = time.perf_counter() - t0
        checksum += float(images.sum())  # the "training step": every pixel read once
        count += len(images)
    seconds = time.perf_counter() - t0
    if count == 0 or checksum <= 0 or first is None:
        raise RuntimeError("the epoch delivered no images")
    return count / seconds, first


def build(out: Path, obj: str, poses: str, size: int, batch: int) -> None:
    cmd = [
        sys.executable,
        "-m",
        "gpu_render.build",
        "--object",
        obj,
        "--poses",
        poses,
        "--sizes",
        str(size),
        "--format",
        "jpg",
        "--batch",
        str(batch),
        "--out",
        str(out),
    ]
    subprocess.run(cmd, check=True, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--objects", default="cylO,icosa", help="what to draw, comma-separated (default cylO,icosa)")
    p.add_argument("--sizes", type=sizes_type, default=(64, 224), help="image sides, px (default 64,224)")
    p.add_argument("--poses", type=int, default=2048, help="poses per epoch (default 2048)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk", type=int, default=64, help="stream chunk = the build's --batch (default 64)")
    p.add_argument("--batch-size", type=int, default=32, help="DataLoader batch size (default 32)")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers (default 2)")
    p.add_argument("--repeat", type=int, default=3, help="epochs of each side; the median is reported")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    a = p.parse_args(argv)
    poses = f"random:{a.poses}:{a.seed}"
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        for obj, size in [(o, s) for o in a.objects.split(",") for s in a.sizes]:
            out = Path(tmp) / f"{obj.replace(':', '_').replace('/', '_')}-jpg{size}"
            build(out, obj, poses, size, a.chunk)
            disk_ds = TorchDataset(out, size=size)
            stream_ds = StreamingDataset(obj, poses, size, batch=a.chunk)
            disk, stream = [], []
            for _ in range(a.repeat):  # interleaved: both sides see the same machine load
                disk.append(epoch_rate(disk_ds, a.batch_size, a.workers))
                stream.append(epoch_rate(stream_ds, a.batch_size, a.workers))
            row = {
                "object": obj,
                "size": size,
                "disk_images_per_s": statistics.median(r for r, _ in disk),
                "stream_images_per_s": statistics.median(r for r, _ in stream),
                "disk_first_batch_s": statistics.median(f for _, f in disk),
                "stream_first_batch_s": statistics.median(f for _, f in stream),
                "disk_runs": [r for r, _ in disk],
                "stream_runs": [r for r, _ in stream],
            }
            row["ratio"] = row["stream_images_per_s"] / row["disk_images_per_s"]
            row["target_met"] = row["ratio"] >= TARGET_RATIO
            results.append(row)
            print(
                f"{obj:8s} {size:4d} px  disk (jpg, TorchDataset) {row['disk_images_per_s']:8.0f} img/s   "
                f"stream {row['stream_images_per_s']:8.0f} img/s   ratio {row['ratio']:.2f}"
                f"  ({'meets' if row['target_met'] else 'misses'} the target of {TARGET_RATIO:g}); first batch after "
                f"{row['disk_first_batch_s']:.2f} s / {row['stream_first_batch_s']:.2f} s",
                flush=True,
            )
    report = {
        "version": __version__,
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "objects": a.objects,
        "poses": poses,
        "chunk": a.chunk,
        "batch_size": a.batch_size,
        "workers": a.workers,
        "repeat": a.repeat,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "results": results,
    }
    if a.json is not None:
        a.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
