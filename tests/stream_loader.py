"""Run by tests/test_stream.py in a fresh process, whose parent holds no GL context: StreamingDataset
under a DataLoader with 2 forked workers. Saves what the loader gave to the .npz named by argv[1]."""

from __future__ import annotations

import sys
from itertools import islice

import numpy as np
from torch.utils.data import DataLoader

from gpu_render.stream import StreamingDataset

#: (name, object) of the finite epochs; both streamed as the builds in test_stream.py are made.
FINITE = (("clpr", "clpr-cube"), ("cylO", "cylO"))
POSES, SIZE, BATCH = "random:300:5", 32, 64
INF_BATCHES = 6


def collect(loader: DataLoader) -> dict[str, np.ndarray]:
    parts: dict[str, list[np.ndarray]] = {}
    for images, labels in loader:
        parts.setdefault("image", []).append(images.numpy())
        for name, t in labels.items():
            parts.setdefault(name, []).append(t.numpy())
    return {name: np.concatenate(p) for name, p in parts.items()}


def main(out: str) -> None:
    saved: dict[str, np.ndarray] = {}
    for name, obj in FINITE:
        ds = StreamingDataset(object=obj, poses=POSES, size=SIZE, batch=BATCH)
        got = collect(DataLoader(ds, batch_size=50, num_workers=2, timeout=120))
        saved.update({f"{name}_{k}": v for k, v in got.items()})
    inf = StreamingDataset(object="cylO", poses="random:inf:5", size=SIZE, batch=16)
    for run, epoch in (("a", 0), ("b", 0), ("c", 1)):
        inf.set_epoch(epoch)
        loader = DataLoader(inf, batch_size=8, num_workers=2, timeout=120)
        got = collect(islice(loader, INF_BATCHES))  # type: ignore[arg-type]
        saved.update({f"inf{run}_{k}": v for k, v in got.items()})
    # The way out once the parent has drawn (here it draws a batch itself): spawned workers.
    inf.set_epoch(0)
    first = next(iter(inf))
    saved["parent_index"] = first[1]["index"].numpy()[None]
    saved["parent_image"] = first[0].numpy()[None]
    spawned = DataLoader(inf, batch_size=8, num_workers=1, timeout=120, multiprocessing_context="spawn")
    got = collect(islice(spawned, 2))  # type: ignore[arg-type]
    saved.update({f"spawn_{k}": v for k, v in got.items()})
    np.savez(out, **saved)


if __name__ == "__main__":
    main(sys.argv[1])
