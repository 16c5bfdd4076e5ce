"""What the writer is told about a build (:class:`WriteSpec`) and what it reads of a plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class WriteSpec:
    """What one build writes, as the writer needs to know it.

    out: OUT. sizes: image sides, px. format: jpg, png or npy. pose_count: N.
    signature: JSON-able; decides the dataset's bytes (a resume must match it exactly).
    described: JSON-able, the manifest's record of how it was asked for (the options).
    overwrite: replace a dataset of another signature. shard: (K, N) or None.
    layers: also write mask_{S}.npy and depth_{S}.npy.
    image_format: the image files' encoding inside wds shards (jpg or png).
    class_name, class_index: the build's class, where it has one (wds json and cls).
    layout: ``flat`` (OUT/{size}/...) or ``imagenet3d`` (OUT/images/{class}/{name}.JPEG,
    OUT/annotations/{class}/{name}.npz, OUT/lists/..., OUT/CAD/{class}/01.off).
    val_fraction: imagenet3d: the share of poses in the val list.
    cad_positions: imagenet3d: the object's triangles (T, 3, 3) float32, object frame, for its CAD file.
    """

    out: Path
    sizes: tuple[int, ...]
    format: str
    pose_count: int
    signature: dict[str, Any] = field(default_factory=dict)
    described: dict[str, Any] = field(default_factory=dict)
    overwrite: bool = False
    shard: tuple[int, int] | None = None
    layers: bool = False
    image_format: str = "jpg"
    class_name: str | None = None
    class_index: int | None = None
    layout: str = "flat"
    val_fraction: float = 0.0
    cad_positions: np.ndarray | None = field(default=None, compare=False, repr=False)


class Plan:
    """What the writer reads of a plan (gpu_render.scene.scene.Plan): ``labels`` and ``rich_labels``."""

    labels: np.ndarray | None

    def rich_labels(self, sizes: tuple[int, ...]) -> dict[str, np.ndarray]:  # pragma: no cover - protocol
        raise NotImplementedError
