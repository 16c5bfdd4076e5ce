"""``gpu_render.load(OUT[, split][, size])`` for every layout, and the presets' splits.

A build opens as :class:`gpu_render.dataset.loader.Dataset`; a preset's output opens one split:
SYMSOL's ``train`` or ``test``, ModelNet10-SO3's ``train``, ``limited_train`` or ``test`` (the
databases ``train_{TRAIN}V``, ``train_{TEST}V``, ``test_{TEST}V``), indexed 0..N-1 in the
benchmark loaders' order: SYMSOL's shapes one after another, ModelNet's views in the pickles'
order. Each is a :class:`~gpu_render.dataset.loader.Loaded`. Images are decoded when indexed.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import lmdb
import numpy as np
import simplejpeg
from PIL import Image

from gpu_render.dataset.layout import MANIFEST
from gpu_render.dataset.layouts.lmdb_store import db_name
from gpu_render.dataset.layouts.modelnet import MODELNET10_CATEGORIES
from gpu_render.dataset.layouts.symsol import SYMSOL_SHAPES
from gpu_render.dataset.loader import Arrays, Loaded, label_names, load_build, pose_labels
from gpu_render.rotations.quaternion import quaternion_to_matrix
from gpu_render.scene.solids import builtin_object


def preset_manifest(root: Path) -> dict[str, Any] | None:
    """The manifest of a preset's output in ``root``, or None when ``root`` holds none."""
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("preset") else None


class SymsolSplit(Loaded):
    """One split of a ``--preset symsol`` output: ``len()`` images of ``shapes``, shape by shape.

    Items' labels: the poses.npz arrays every shape of the split has (``matrix``, ``quaternion``,
    ``translation``, ``intrinsics_{S}``, the viewpoint), ``class``, and ``equivalents`` padded to
    :attr:`largest_set`, the largest symmetry group among the shapes (720 with cyl or cylO).
    """

    class_names = SYMSOL_SHAPES

    def __init__(self, root: Path, manifest: dict[str, Any], split: str) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"a SYMSOL output has splits train and test, not {split!r}")
        sig = manifest["signature"]
        self.root, self.split, self.size = root, split, int(sig["size"])
        self.shapes = tuple(sig["shapes"])
        self.count = int(sig["views"][0 if split == "train" else 1])
        self._rotations = Arrays(root / split / "rotations.npz")
        self._poses = Arrays(root / split / "poses.npz")
        self._names = set.intersection(*(label_names(self._poses, f"{s}_") for s in self.shapes))
        self.largest_set = max(len(builtin_object(shape).symmetry) for shape in self.shapes)

    def __len__(self) -> int:
        return self.count * len(self.shapes)

    def _fields(self) -> dict[str, object]:
        return dict(path=str(self.root), split=self.split, images=len(self), shapes=len(self.shapes), size=self.size)

    def _where(self, index: int) -> tuple[str, int]:
        index = self._index(index)
        return self.shapes[index // self.count], index % self.count

    def _image(self, index: int) -> np.ndarray:
        shape, i = self._where(index)
        with Image.open(self.root / self.split / "images" / f"{shape}_{i:05d}.png") as im:
            return np.asarray(im.convert("RGB"))

    def _labels(self, index: int) -> dict[str, np.ndarray]:
        shape, i = self._where(index)
        return pose_labels(self._poses, i, self._names, f"{shape}_")

    def class_index(self, index: int) -> int:
        """The shape's index in SYMSOL's order (:attr:`class_names`)."""
        return SYMSOL_SHAPES.index(self._where(index)[0])

    def equivalents(self, index: int) -> np.ndarray | None:
        """(K, 3, 3) float32, element 0 R: the symmetry orbit of a featureless shape, the
        visual equivalents of tetX and cylO; None for sphereX."""
        shape, i = self._where(index)
        if f"{shape}_visual_offsets" in self._poses:
            offsets = self._poses[f"{shape}_visual_offsets"]
            return np.asarray(self._poses[f"{shape}_visual_equivalents"][offsets[i] : offsets[i + 1]])
        rows = self._rotations[shape]
        return np.asarray(rows[i]) if rows.shape[1] > 1 else None


class ModelNetSplit(Loaded):
    """One database of a ``--preset modelnet10-so3`` output, in its pickles' order. Images are
    grey, as three equal channels; items' labels: ``quaternion`` (4,) float64 (w first),
    ``matrix`` (3, 3) float64 R and ``class`` (ModelNet10's category order)."""

    class_names = MODELNET10_CATEGORIES

    def __init__(self, root: Path, manifest: dict[str, Any], split: str) -> None:
        train, test = (int(v) for v in manifest["signature"]["views"])
        names = {"train": f"train_{train}V", "limited_train": f"train_{min(train, test)}V", "test": f"test_{test}V"}
        if split not in names:
            raise ValueError(f"a ModelNet10-SO3 output has splits {', '.join(names)}, not {split!r}")
        self.root, self.split, self.size = root, split, int(manifest["signature"]["size"])
        self.folder = root / db_name(names[split])
        with open(self.folder / "viewID2quat.pkl", "rb") as f:
            quats = pickle.load(f, encoding="latin1")
        self.keys = list(quats)
        self._quats = np.array([np.asarray(quats[k], dtype=np.float64) for k in self.keys]).reshape(-1, 4)
        self._env: lmdb.Environment | None = None

    def _database(self) -> lmdb.Environment:
        """The LMDB environment, opened read-only on first use (py-lmdb lets a process open an
        environment once at a time: :meth:`close` releases it)."""
        self._check_open()
        if self._env is None:
            self._env = lmdb.open(str(self.folder), readonly=True, lock=False)
        return self._env

    def __len__(self) -> int:
        return len(self.keys)

    def _fields(self) -> dict[str, object]:
        fields = dict(path=str(self.root), split=self.split, database=self.folder.name)
        return {**fields, "images": len(self), "size": self.size}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_env": None}  # a spawned DataLoader worker opens the database itself

    def _release(self) -> None:
        """Close the LMDB environment, so that this process can open the database again."""
        if self._env is not None:
            self._env.close()
            self._env = None

    def _image(self, index: int) -> np.ndarray:
        with self._database().begin() as txn:
            data = txn.get(self.keys[index].encode())
        if data is None:
            raise KeyError(f"{self.folder}: no image {self.keys[index]}")
        return np.repeat(simplejpeg.decode_jpeg(data, colorspace="GRAY"), 3, axis=2)

    def _labels(self, index: int) -> dict[str, np.ndarray]:
        q = self._quats[index]
        return {"quaternion": q, "matrix": quaternion_to_matrix(q[None])[0]}

    def class_index(self, index: int) -> int:
        """The view's category in ModelNet10's order (:attr:`class_names`)."""
        return MODELNET10_CATEGORIES.index(self.keys[self._index(index)].split(".")[0].rsplit("_", 1)[0])


def load(root: str | os.PathLike[str], split: str | None = None, size: int | None = None) -> Loaded:
    """Open the dataset in ``root``: a build (``size``: the images ``data[i]`` gives, default the
    largest built), or ``split`` of a preset's output (default ``train``). Raises ValueError
    when it is not a complete gpu_render dataset, or has no such split or size."""
    root = Path(root)
    manifest = preset_manifest(root)
    if manifest is None:
        if split is not None:
            raise ValueError(f"{root} is a build, not a --preset output: it has no splits")
        return load_build(root, size)
    if not manifest.get("complete"):
        raise ValueError(f"{root} is an unfinished build: re-run its build command to finish it")
    if manifest["preset"] == "render4cnn":
        raise ValueError(
            f"{root} is a Render for CNN set of crops of many sizes: read its images by poses.npz's names "
            "(docs/RENDER4CNN.md), or with image2sphere's Pascal3DSynth"
        )
    if size is not None and size != int(manifest["signature"]["size"]):
        raise ValueError(f"{root} has size {manifest['signature']['size']}, not {size}")
    kind = SymsolSplit if manifest["preset"] == "symsol" else ModelNetSplit
    return kind(root, manifest, split or "train")
