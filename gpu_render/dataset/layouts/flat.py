"""The layouts of ``python -m gpu_render.build`` without ``--preset``: files per size (jpg,
png), one array per size (npy), WebDataset shards (wds), or ``--layout imagenet3d``; with
labels.npy (the cLPR cube), poses.npz and, with ``--layers``, mask and depth arrays
(:mod:`gpu_render.dataset.layout` names the files)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from gpu_render.dataset.atomic import atomic_save_npy, atomic_save_npz
from gpu_render.dataset.existing import same_npy, same_npz
from gpu_render.dataset.imagenet3d import ANNOTATIONS, IMAGES, Annotations, Imagenet3dSink, cad_vertices
from gpu_render.dataset.imagenet3d_tree import write_tree
from gpu_render.dataset.layout import LABELS, LAYERS, POSES, layer_path, npy_path, partial_path
from gpu_render.dataset.layouts import ChunkWrite
from gpu_render.dataset.owned import BuildFiles, build_files
from gpu_render.dataset.sink import ImageSink, LayerFiles
from gpu_render.dataset.space import check_room, claim_space
from gpu_render.dataset.wds import WdsSink
from gpu_render.errors import UsageError
from gpu_render.rotations.sources import PoseSource
from gpu_render.scene.scene import Plan, Scene


@dataclass(frozen=True, eq=False)
class FlatLayout:
    """One scene drawn at every pose of ``source``.

    scene: what is drawn. source, pose_count: the poses (the first ``pose_count``). sizes:
    image sides, px. format: jpg, png, npy or wds. batch: poses per chunk. signature,
    described: the manifest's ``signature`` and ``options``. layers: also write mask and depth
    arrays. image_format: the encoding inside wds shards. class_name, class_index: the build's
    class, where it has one. layout: ``flat`` or ``imagenet3d``. val_fraction: imagenet3d's val share.
    """

    scene: Scene
    source: PoseSource
    pose_count: int
    sizes: tuple[int, ...]
    format: str
    batch: int
    signature: dict[str, Any] = field(default_factory=dict)
    described: dict[str, Any] = field(default_factory=dict)
    layers: bool = False
    image_format: str = "jpg"
    class_name: str | None = None
    class_index: int | None = None
    layout: str = "flat"
    val_fraction: float = 0.0
    title: str = ""
    record_engine: bool = True

    @cached_property
    def plan(self) -> Plan:
        """Every pose of the build (made once per process, when first asked for)."""
        return self.scene.plan(self.source, self.pose_count)

    @property
    def cad_positions(self) -> np.ndarray | None:
        obj = getattr(self.scene, "object", None)
        return None if obj is None else obj.positions

    def manifest_fields(self) -> dict[str, Any]:
        return {
            "options": self.described,
            "pose_count": self.pose_count,
            "sizes": list(self.sizes),
            "format": self.format,
        }

    def chunks(self) -> dict[int, tuple[int, int]]:
        return chunk_ranges(self.pose_count, self.batch)

    def group(self, chunk: int) -> int:
        return 0

    def draw(self, group: int) -> tuple[Scene, Plan, int]:
        return self.scene, self.plan, 0

    def sink(self, out: Path) -> ImageSink | WdsSink | Imagenet3dSink:
        """WebDataset shards for format wds, the ImageNet3D layout's class folder for
        ``layout`` imagenet3d, else files per size."""
        if self.layout == "imagenet3d":
            return Imagenet3dSink(out, str(self.class_name))
        if self.format != "wds":
            return ImageSink(out, self.format)
        labels = self.plan.rich_labels(())  # each sample's json carries its quaternion and matrix
        return WdsSink(
            out,
            self.image_format,
            self.batch,
            labels["quaternion"],
            labels["matrix"],
            self.class_name,
            self.class_index,
        )

    def settle(self, out: Path, chunk: int, results: list[bytes]) -> tuple[list[bytes], dict[str, Any]]:
        return results, {}

    def chunk_writers(self, out: Path) -> tuple[LayerFiles | None, ChunkWrite | None]:
        layers = LayerFiles(out) if self.layers else None
        positions, annotate = self.cad_positions, None
        if self.layout == "imagenet3d" and positions is not None:
            rich = self.plan.rich_labels(self.sizes)
            annotate = Annotations(out, str(self.class_name), self.sizes[0], rich, cad_vertices(positions)).write
        return layers, annotate

    def files(self) -> BuildFiles:
        return build_files(self.signature)

    def partial_names(self) -> tuple[str, ...]:
        return ()

    def check(self, out: Path) -> None:
        return None

    def check_room(self, out: Path) -> None:
        check_room(out, self.format, self.pose_count, self.sizes, layers=self.layers)

    def prepare(self, out: Path, resume: bool, writes_labels: bool) -> None:
        """labels.npy and poses.npz (unless they hold these very arrays), the folders of the
        images, and the ``.partial`` files that npy images and layers grow in."""
        plan = self.plan
        rich = plan.rich_labels(self.sizes) if writes_labels or self.layout == "imagenet3d" else {}
        if writes_labels:
            if plan.labels is not None and not same_npy(out / LABELS, plan.labels):
                atomic_save_npy(out / LABELS, plan.labels)
            if not same_npz(out / POSES, rich):
                atomic_save_npz(out / POSES, rich)
        n = self.pose_count
        for size in self.sizes:
            if self.format == "npy":
                _prepare_array(out, npy_path(out, size), (n, size, size, 3), np.dtype(np.uint8), resume)
            elif self.layout == "imagenet3d":
                for top in (IMAGES, ANNOTATIONS):
                    (out / top / str(self.class_name)).mkdir(parents=True, exist_ok=True)
            else:
                (out / str(size)).mkdir(exist_ok=True)
            if self.layers:
                for kind, dtype in LAYERS:
                    _prepare_array(out, layer_path(out, kind, size), (n, size, size), np.dtype(dtype), resume)

    def seal(self, out: Path, progress: bool) -> None:
        """npy files to their final names, ``--layout imagenet3d``'s lists and CAD model."""
        for size in self.sizes:
            arrays = [npy_path(out, size)] if self.format == "npy" else []
            arrays += [layer_path(out, kind, size) for kind, _ in LAYERS] if self.layers else []
            for final in arrays:
                if partial_path(final).exists():
                    os.replace(partial_path(final), final)
        if self.layout == "imagenet3d" and self.cad_positions is not None:
            write_tree(out, str(self.class_name), self.pose_count, self.val_fraction, self.cad_positions)


def chunk_ranges(pose_count: int, batch: int) -> dict[int, tuple[int, int]]:
    """Chunk k -> (first pose, one past its last pose), for ``pose_count`` poses in chunks of ``batch``."""
    return {k: (k * batch, min(pose_count, (k + 1) * batch)) for k in range((pose_count + batch - 1) // batch)}


def _prepare_array(out: Path, final: Path, shape: tuple[int, ...], dtype: np.dtype, resume: bool) -> None:
    """Create (or, resuming, check) the ``.partial`` file an array grows in until the build is sealed."""
    partial = partial_path(final)
    for path in (partial, final):
        if path.is_symlink():  # the encoders would write through it
            raise UsageError(
                f"--out {out}: {path} is a symbolic link; the build writes only files of its "
                "own inside OUT: remove it, or choose another --out"
            )
    if resume and partial.exists():
        mm = np.load(partial, mmap_mode="r")
        if mm.shape != shape or mm.dtype != dtype:
            raise UsageError(f"{partial} holds {mm.dtype} {mm.shape}, expected {dtype} {shape}")
        del mm
    elif final.exists():
        return
    else:
        # Writes the header and sets the length; the writers fill the rest.
        np.lib.format.open_memmap(partial, mode="w+", dtype=dtype, shape=shape).flush()
    claim_space(partial)
