"""Reading a built dataset for training: ``gpu_render.load(OUT)``.

Nothing is read in full up front: labels are memory-mapped, ``poses.npz`` arrays load on
first use, npy images are memory-mapped and jpg/png images are decoded when indexed.
Needs numpy (and Pillow, a dependency anyway, to decode jpg/png); never torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gpu_render.dataset.decoded import DecodedImages
from gpu_render.dataset.imagenet3d import image_file
from gpu_render.dataset.layout import LABELS, MANIFEST, POSES, image_path, npy_path
from gpu_render.dataset.wds import ShardImages
from gpu_render.scene.solids import object_class


class ImageFiles(DecodedImages):
    """The (N, S, S, 3) uint8 RGB images of one size, decoded from jpg/png files when indexed.

    ``images[i]`` is (S, S, 3); a slice or an index array gives (k, S, S, 3).
    """

    def __init__(self, root: Path, size: int, fmt: str, count: int, class_folder: str | None = None) -> None:
        super().__init__(size, count)
        self.root, self.format, self.class_folder = root, fmt, class_folder

    def path(self, index: int) -> Path:
        if self.class_folder is not None:  # --layout imagenet3d
            return image_file(self.root, self.class_folder, index)
        return image_path(self.root, self.size, index, self.format)

    def encoded(self, index: int) -> bytes:
        return self.path(index).read_bytes()


@dataclass
class Dataset:
    """A built dataset: the cLPR cube or any scene object.

    labels: cLPR builds: (N, 8, 6) float64, memory-mapped (see the spec's label array);
        None for scene objects, whose labels are all in ``poses``.
    poses: the arrays of poses.npz by name, each loaded on first use. cLPR: quaternion,
        matrix, euler_clpr, keypoints_{size}, node/face_visible. Scene objects (SCENES.md):
        matrix, quaternion, translation, intrinsics_{size}, and where the object has them
        rotations_equivalent, mark_visible, visual_equivalents with visual_offsets,
        object_centre and object_scale, and the PASCAL3D+/ImageNet3D viewpoint (azimuth,
        elevation, theta, distance, viewport, focal_{size}, px_{size}, py_{size}).
    images: size -> (N, S, S, 3) uint8 RGB: a read-only memmap for npy builds, ShardImages
        (decoded from the tar shards) for wds builds, else ImageFiles (in OUT/images/{class}/ for
        --layout imagenet3d).
    """

    root: Path
    manifest: dict[str, Any]
    labels: np.ndarray | None
    poses: Mapping[str, np.ndarray]
    images: dict[int, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.manifest["pose_count"])

    @property
    def object(self) -> str:
        """What the images show: ``clpr-cube``, a SYMSOL solid's name or ``mesh:PATH``."""
        return str(self.manifest.get("signature", {}).get("object") or "clpr-cube")

    @property
    def class_name(self) -> str | None:
        """The class of every image: the SYMSOL solid's name or the mesh file's stem; None for the cube."""
        return object_class(self.object if self.object != "clpr-cube" else None)[0]

    @property
    def class_index(self) -> int | None:
        """The SYMSOL class index (0..7, in FORMATS.md's order); None for mesh files and the cube."""
        return object_class(self.object if self.object != "clpr-cube" else None)[1]

    def equivalents(self, index: int) -> np.ndarray | None:
        """The rotations that give pose ``index``'s very image: (K, 3, 3), element 0 its own R.

        The whole symmetry orbit for the featureless solids, the visual equivalents for tetX
        and cylO, None for objects without either (the cLPR cube, sphereX, mesh files).
        """
        if "rotations_equivalent" in self.poses:
            return np.asarray(self.poses["rotations_equivalent"][index])
        if "visual_offsets" in self.poses:
            offsets = self.poses["visual_offsets"]
            return np.asarray(self.poses["visual_equivalents"][offsets[index] : offsets[index + 1]])
        return None

    @property
    def sizes(self) -> list[int]:
        return sorted(self.images)

    def close(self) -> None:
        """Close poses.npz (its arrays already read stay usable). ``with gpu_render.load(OUT) as
        data:`` closes on leaving; closing twice is harmless."""
        closer = getattr(self.poses, "close", None)
        if closer is not None:
            closer()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        """One short line: class, path, what is drawn, pose count, sizes and format."""
        obj = self.object
        if obj.startswith("mesh:"):
            obj = "mesh:" + Path(obj[5:]).name
        sizes = ",".join(str(s) for s in self.sizes)
        return (
            f"{type(self).__name__}(path={str(self.root)!r}, object={obj!r}, poses={len(self)}, "
            f"sizes=[{sizes}], format={self.manifest.get('format')!r})"
        )


def load(root: str | Path) -> Dataset:
    """Open the dataset in ``root``. Raises ValueError unless it is a complete gpu_render build."""
    root = Path(root)
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except FileNotFoundError:
        raise ValueError(f"{root} has no {MANIFEST}: not a gpu_render dataset") from None
    if manifest.get("generator") != "gpu_render":
        raise ValueError(f"{root / MANIFEST} was not written by gpu_render")
    if not manifest.get("complete"):
        raise ValueError(f"{root} is an unfinished build: finish it (python -m gpu_render.verify {root} says how)")
    n, fmt = int(manifest["pose_count"]), manifest["format"]
    labels = np.load(root / LABELS, mmap_mode="r") if (root / LABELS).exists() else None
    poses: Mapping[str, np.ndarray] = np.load(root / POSES) if (root / POSES).exists() else {}
    images: dict[int, Any] = {}
    for size in manifest["sizes"]:
        size = int(size)
        if fmt == "npy":
            images[size] = np.load(npy_path(root, size), mmap_mode="r")
        elif fmt == "wds":
            sig = manifest["signature"]
            images[size] = ShardImages(root, size, sig["image_format"], int(sig["batch"]), n)
        else:
            sig = manifest.get("signature", {})
            folder = str(sig["class"]) if sig.get("layout") == "imagenet3d" else None
            images[size] = ImageFiles(root, size, fmt, n, folder)
    return Dataset(root, manifest, labels, poses, images)
