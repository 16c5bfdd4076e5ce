"""Reading a preset's output for training: ``gpu_render.load(OUT, split)``.

One split of a SYMSOL output (``train``, ``test``) or of a ModelNet10-SO3 output (``train``,
``limited_train``, ``test``: the databases ``train_{TRAIN}V``, ``train_{TEST}V``, ``test_{TEST}V``),
indexed 0..N-1 in the benchmark loaders' order: SYMSOL's shapes one after another, ModelNet's
views in the pickles' order. Images are decoded when indexed; nothing is read in full up front
except one shape's rotations.npz array when first used.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import lmdb
import numpy as np
import simplejpeg
from PIL import Image

from gpu_render.dataset.layout import MANIFEST
from gpu_render.presets.lmdb_store import db_name
from gpu_render.presets.options import MODELNET10_CATEGORIES, SYMSOL_SHAPES
from gpu_render.rotations.quaternion import quaternion_to_matrix
from gpu_render.scene.solids import builtin_object


def preset_manifest(root: Path) -> dict[str, Any] | None:
    """The manifest of a preset's output in ``root``, or None when ``root`` holds none."""
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("preset") else None


class SymsolSplit:
    """One split of a ``--preset symsol`` output: ``len()`` images of ``shapes``, shape by shape."""

    class_names = SYMSOL_SHAPES

    def __init__(self, root: Path, manifest: dict[str, Any], split: str) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"a SYMSOL output has splits train and test, not {split!r}")
        sig = manifest["signature"]
        self.root, self.split, self.size = root, split, int(sig["size"])
        self.shapes = tuple(sig["shapes"])
        self.count = int(sig["views"][0 if split == "train" else 1])
        self._rotations = np.load(root / split / "rotations.npz")
        self._poses = np.load(root / split / "poses.npz")
        self._cache: dict[str, np.ndarray] = {}
        self._closed = False

    def __len__(self) -> int:
        return self.count * len(self.shapes)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(path={str(self.root)!r}, split={self.split!r}, images={len(self)}, "
            f"shapes={len(self.shapes)}, size={self.size})"
        )

    def close(self) -> None:
        """Close the split's npz files; harmless twice. Images and labels cannot be read after it."""
        self._rotations.close()
        self._poses.close()
        self._closed = True

    def __enter__(self) -> SymsolSplit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _where(self, index: int) -> tuple[str, int]:
        if self._closed:
            raise ValueError(f"{self!r} is closed: open it again with gpu_render.load")
        if not 0 <= index < len(self):
            raise IndexError(f"image {index} is out of range for {len(self)}")
        return self.shapes[index // self.count], index % self.count

    def _array(self, shape: str) -> np.ndarray:
        if shape not in self._cache:
            self._cache[shape] = self._rotations[shape]
        return self._cache[shape]

    def image(self, index: int) -> np.ndarray:
        """(S, S, 3) uint8 RGB, rows top-down."""
        shape, i = self._where(index)
        with Image.open(self.root / self.split / "images" / f"{shape}_{i:05d}.png") as im:
            return np.asarray(im.convert("RGB"))

    def rotation(self, index: int) -> np.ndarray:
        """(3, 3) float64 R of SCENES.md (object frame to camera frame)."""
        shape, i = self._where(index)
        return np.asarray(self._poses[f"{shape}_matrix"][i])

    def class_index(self, index: int) -> int:
        return SYMSOL_SHAPES.index(self._where(index)[0])

    @property
    def largest_set(self) -> int:
        """The most rows ``equivalents`` can give in this split: the largest symmetry group
        among its shapes (a marked shape's visual equivalents are a subset of its group's orbit)."""
        return max(len(builtin_object(shape).symmetry) for shape in self.shapes)

    def equivalents(self, index: int) -> np.ndarray | None:
        """(K, 3, 3) float32, element 0 R: the symmetry orbit of a featureless shape, the
        visual equivalents of tetX and cylO; None for sphereX."""
        shape, i = self._where(index)
        if f"{shape}_visual_offsets" in self._poses:
            offsets = self._poses[f"{shape}_visual_offsets"]
            return np.asarray(self._poses[f"{shape}_visual_equivalents"][offsets[i] : offsets[i + 1]])
        rows = self._array(shape)
        return np.asarray(rows[i]) if rows.shape[1] > 1 else None


class ModelNetSplit:
    """One database of a ``--preset modelnet10-so3`` output, in its pickles' order."""

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
        self._closed = False

    def _database(self) -> lmdb.Environment:
        """The LMDB environment, opened read-only on first use (py-lmdb lets a process open an
        environment once at a time: :meth:`close` releases it)."""
        if self._closed:
            raise ValueError(f"{self!r} is closed: open it again with gpu_render.load")
        if self._env is None:
            self._env = lmdb.open(str(self.folder), readonly=True, lock=False)
        return self._env

    def __len__(self) -> int:
        return len(self.keys)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(path={str(self.root)!r}, split={self.split!r}, "
            f"database={self.folder.name!r}, images={len(self)}, size={self.size})"
        )

    def close(self) -> None:
        """Close the LMDB environment, so that this process can open the database again (through
        ``gpu_render.load`` or ``lmdb.open``); harmless twice. Images cannot be read after it."""
        if self._env is not None:
            self._env.close()
            self._env = None
        self._closed = True

    def __enter__(self) -> ModelNetSplit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def image(self, index: int) -> np.ndarray:
        """(S, S, 3) uint8, three equal (grey) channels."""
        with self._database().begin() as txn:
            data = txn.get(self.keys[index].encode())
        if data is None:
            raise KeyError(f"{self.folder}: no image {self.keys[index]}")
        return np.repeat(simplejpeg.decode_jpeg(data, colorspace="GRAY"), 3, axis=2)

    def rotation(self, index: int) -> np.ndarray:
        """(3, 3) float64 R of SCENES.md, from the quaternion."""
        return quaternion_to_matrix(self._quats[index : index + 1])[0]

    def class_index(self, index: int) -> int:
        return MODELNET10_CATEGORIES.index(self.keys[index].split(".")[0].rsplit("_", 1)[0])

    #: ``equivalents`` gives none: at most R alone.
    largest_set = 1

    def equivalents(self, index: int) -> None:
        """Meshes have no symmetry group here."""
        return None


def load_preset(root: str | Path, split: str = "train") -> SymsolSplit | ModelNetSplit:
    """Open ``split`` of the preset output in ``root``. Raises ValueError when it is not a
    complete preset output or has no such split."""
    root = Path(root)
    manifest = preset_manifest(root)
    if manifest is None:
        raise ValueError(f"{root} holds no preset output (no manifest.json naming a preset)")
    if not manifest.get("complete"):
        raise ValueError(f"{root} is an unfinished build: re-run its build command to finish it")
    if manifest["preset"] == "symsol":
        return SymsolSplit(root, manifest, split)
    return ModelNetSplit(root, manifest, split)
