"""A build job: everything one build is asked to do, whichever engine runs it.

The command line (``python -m gpu_render.build``) and :func:`gpu_render.build` make a
:class:`BuildJob`; the engines (:mod:`gpu_render.engines.local`,
:mod:`gpu_render.engines.ray_engine`) run it through its layout
(:meth:`BuildJob.layout`): flat files, npy, wds, imagenet3d, or a benchmark preset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_render.dataset.imagenet3d_tree import DEFAULT_VAL_FRACTION
from gpu_render.dataset.layouts import Layout
from gpu_render.dataset.layouts.flat import FlatLayout
from gpu_render.dataset.layouts.modelnet import ModelNetLayout, ModelNetSpec
from gpu_render.dataset.layouts.render4cnn import Render4cnnLayout, Render4cnnSpec
from gpu_render.dataset.layouts.symsol import SymsolLayout, SymsolSpec
from gpu_render.rotations.sources import PoseSource
from gpu_render.scene.scene import ClprScene, Scene
from gpu_render.scene.solids import object_class

DEFAULT_SIZES = (32, 64, 128, 256)
DEFAULT_BATCH = 512
#: The benchmark presets (``--preset NAME``) and the spec each is made from.
PRESETS = ("symsol", "modelnet10-so3", "render4cnn")
PresetSpec = SymsolSpec | ModelNetSpec | Render4cnnSpec


@dataclass(frozen=True)
class BuildJob:
    """Everything one build is asked to do.

    source: where the rotations come from (``--poses``, with ``--step`` for the cLPR grid).
    sizes: image sides, px, ascending. format: jpg, png, npy or wds (WebDataset tar shards).
    image_format: the encoding of wds shards' images, jpg or png.
    layout: flat (OUT/{size}/...) or imagenet3d (OUT/images|annotations|lists|CAD/...; one size, jpg).
    val_fraction: imagenet3d: the share of poses in its val list, in [0, 1).
    out: output folder. limit: build only the first ``limit`` poses (None: all).
    batch: poses per chunk; a chunk is rendered, encoded and recorded as one unit.
    device: GPU in CUDA numbering (the EGL device is chosen by
    :func:`~gpu_render.render.egl_devices.egl_device_for_cuda`). scene: what is drawn (the
    cLPR cube, or an object with its camera and look; its ``antialias`` is MSAA). layers: also
    write mask and depth arrays.
    workers: encoder processes. overwrite: replace an existing dataset of other options.
    shard: (K, N) to build only chunks k with k % N == K, or None for all.
    engine: local (this process and its encoders) or ray (actors on a Ray cluster).
    ray_address: the Ray cluster to join (None: RAY_ADDRESS, else a local Ray instance).
    worker_cpus: CPUs of one Ray worker, its render process plus its encoders (None: the
    cluster's CPUs per GPU, or 2 on a CPU-only cluster).
    preset: a benchmark's own layout (``--preset``); the scene and pose options above then
    do not apply. version: gpu_render's, as the manifest records it.
    """

    source: PoseSource = PoseSource("clpr")
    sizes: tuple[int, ...] = DEFAULT_SIZES
    format: str = "jpg"
    out: Path = Path("clpr")
    limit: int | None = None
    batch: int = DEFAULT_BATCH
    device: int = 0
    scene: Scene = ClprScene()
    layers: bool = False
    workers: int = 1
    overwrite: bool = False
    shard: tuple[int, int] | None = None
    image_format: str = "jpg"
    layout: str = "flat"
    engine: str = "local"
    ray_address: str | None = None
    worker_cpus: int | None = None
    val_fraction: float = DEFAULT_VAL_FRACTION
    preset: PresetSpec | None = None
    version: str = ""

    @property
    def antialias(self) -> bool:
        return self.scene.antialias

    @property
    def is_clpr(self) -> bool:
        return isinstance(self.scene, ClprScene)

    @property
    def preset_name(self) -> str | None:
        """``symsol``, ``modelnet10-so3``, ``render4cnn``, or None for a scene build."""
        if self.preset is None:
            return None
        if isinstance(self.preset, Render4cnnSpec):
            return "render4cnn"
        return "symsol" if isinstance(self.preset, SymsolSpec) else "modelnet10-so3"

    @property
    def pose_count(self) -> int:
        """Poses this build writes: the source's, cut to ``limit``."""
        total = self.source.size()
        return total if self.limit is None else min(self.limit, total)

    @property
    def title(self) -> str:
        """What the progress bar names."""
        what = self.preset_name or ("cLPR" if self.is_clpr else self.scene.object_name)
        return what if self.shard is None else f"{what} shard {self.shard[0]}/{self.shard[1]}"

    def make_layout(self) -> Layout:
        """The layout this job writes (raises UsageError for a bad ModelNet10 tree)."""
        if isinstance(self.preset, SymsolSpec):
            return SymsolLayout(self.preset, title=self.title)
        if isinstance(self.preset, ModelNetSpec):
            return ModelNetLayout(self.preset, title=self.title)
        if isinstance(self.preset, Render4cnnSpec):
            return Render4cnnLayout(self.preset, title=self.title)
        return FlatLayout(
            scene=self.scene,
            source=self.source,
            pose_count=self.pose_count,
            sizes=self.sizes,
            format=self.format,
            batch=self.batch,
            signature=self.dataset_signature(),
            described=self.as_json(),
            layers=self.layers,
            image_format=self.image_format,
            class_name=self.class_name,
            class_index=self.class_index,
            layout=self.layout,
            val_fraction=self.val_fraction,
            title=self.title,
        )

    def dataset_signature(self) -> dict[str, Any]:
        """The options that decide the dataset's bytes; a resume must match them exactly.

        A cLPR build's signature has the keys it had before scenes existed, so datasets built
        then still resume; an object build adds its scene (object, camera, look) and layers.
        """
        if self.preset is not None:
            return self.make_layout().signature
        clpr = self.source.kind == "clpr"
        signature = {
            "poses": self.source.spec,
            "step": self.source.step if clpr else None,
            "poses_sha256": self.source.sha256 or None,
            "limit": self.limit,
            "pose_count": self.pose_count,
            "sizes": list(self.sizes),
            "format": self.format,
            "antialias": self.antialias,
            "batch": self.batch,
        }
        if self.format == "wds":
            signature["image_format"] = self.image_format
        if self.layout != "flat":
            signature["layout"], signature["class"] = self.layout, self.class_name
        if self.layout == "imagenet3d":
            signature["val_fraction"] = self.val_fraction
        if not self.is_clpr:
            signature.update(self.scene.describe())
            signature["layers"] = self.layers
        return signature

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source.spec,
            "sizes": list(self.sizes),
            "format": self.format,
            "out": str(self.out),
            "limit": self.limit,
            "batch": self.batch,
            "device": self.device,
            "antialias": self.antialias,
            "object": self.scene.object_name,
            "layers": self.layers,
            "workers": self.workers,
            "overwrite": self.overwrite,
            "shard": None if self.shard is None else f"{self.shard[0]}/{self.shard[1]}",
            **({"image_format": self.image_format} if self.format == "wds" else {}),
            **({"layout": self.layout} if self.layout != "flat" else {}),
            **({"val_fraction": self.val_fraction} if self.layout == "imagenet3d" else {}),
            "engine": self.engine,
        }

    @property
    def class_name(self) -> str | None:
        return object_class(self.scene.object_name)[0]

    @property
    def class_index(self) -> int | None:
        return object_class(self.scene.object_name)[1]
