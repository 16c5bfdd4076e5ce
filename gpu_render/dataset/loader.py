"""Reading a built dataset for training: ``gpu_render.load(OUT)``.

:class:`Loaded` is what ``gpu_render.load`` returns for every layout; :class:`Dataset` is the
flat, wds and imagenet3d layouts' (gpu_render.presets.load has the presets'). Nothing is read in
full up front: labels and npy images are memory-mapped, ``poses.npz`` arrays load on first use
and jpg/png images are decoded when indexed. Needs numpy and Pillow; never torch.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from gpu_render.dataset.decoded import DecodedImages
from gpu_render.dataset.imagenet3d import image_file
from gpu_render.dataset.layout import LABELS, MANIFEST, POSES, image_path, layer_path, npy_path
from gpu_render.dataset.wds import ShardImages
from gpu_render.reading import Closing
from gpu_render.scene.solids import BUILTIN_OBJECTS, builtin_object, object_class
from gpu_render.scene.symmetry import padded_set

#: poses.npz arrays that hold one value for every pose (not one row per pose).
SHARED_LABEL = re.compile(r"viewport|object_centre|object_scale|(intrinsics|focal|px|py)_\d+")
#: poses.npz arrays that items give as ``equivalents``, ``equivalent_count`` and ``class`` instead.
NOT_ITEM_LABELS = ("rotations_equivalent", "visual_equivalents", "visual_offsets", "class_index")


class Arrays(Mapping[str, np.ndarray]):
    """The arrays of an .npz file by name, each opened on first use and kept: a read-only
    memmap for a stored (uncompressed) member, as gpu_render writes them, so nothing is read in
    full and forked DataLoader workers share the pages; a compressed member is read whole."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._kept: dict[str, np.ndarray] = {}
        with np.load(path) as z:
            self.files: list[str] = list(z.files)

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._kept:
            if name not in self.files:
                raise KeyError(f"{self.path.name} has no array {name!r}")
            self._kept[name] = self._mapped(name)
        return self._kept[name]

    def _mapped(self, name: str) -> np.ndarray:
        with zipfile.ZipFile(self.path) as z, open(self.path, "rb") as f:
            info = z.getinfo(f"{name}.npy")
            if info.compress_type == zipfile.ZIP_STORED:
                f.seek(info.header_offset + 26)  # the local header's name and extra lengths
                f.seek(info.header_offset + 30 + sum(np.frombuffer(f.read(4), dtype="<u2").tolist()))
                fmt = np.lib.format
                read = fmt.read_array_header_1_0 if fmt.read_magic(f) == (1, 0) else fmt.read_array_header_2_0
                shape, fortran, dtype = read(f)
                if shape and 0 not in shape and not dtype.hasobject:
                    order: Literal["F", "C"] = "F" if fortran else "C"
                    return np.memmap(self.path, dtype=dtype, mode="r", offset=f.tell(), shape=shape, order=order)
        with np.load(self.path) as arrays:
            return arrays[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)


def label_names(arrays: Mapping[str, np.ndarray], prefix: str = "") -> set[str]:
    """The NAMEs of the poses.npz arrays ``{prefix}NAME`` that items carry (not :data:`NOT_ITEM_LABELS`)."""
    return {n[len(prefix) :] for n in arrays if n.startswith(prefix)} - set(NOT_ITEM_LABELS)


def pose_labels(
    arrays: Mapping[str, np.ndarray], index: int, names: set[str], prefix: str = ""
) -> dict[str, np.ndarray]:
    """Pose ``index``'s labels from poses.npz ``arrays`` named ``{prefix}NAME`` for NAME in
    ``names``, by NAME: row ``index`` of each per-pose array, shared arrays (K, viewport, ...) whole."""
    return {
        name: np.asarray(arrays[prefix + name] if SHARED_LABEL.fullmatch(name) else arrays[prefix + name][index])
        for name in sorted(names)
    }


class Loaded(Closing):
    """What ``gpu_render.load`` returns, for every layout: ``len()`` poses, and
    ``data[i]`` -> ``(image, labels)``: image (S, S, 3) uint8 RGB, rows top-down; labels
    :meth:`pose`. ``close()``, ``with`` and a one-line ``repr`` as :class:`Closing` has them.

    size: S, the side of the images indexing gives, px. class_names: the names
    :meth:`class_index` indexes. largest_set: W, the rows of the labels' ``equivalents`` (0: none).
    """

    root: Path
    size: int
    class_names: tuple[str, ...] = ()
    largest_set: int = 0

    def __len__(self) -> int:
        raise NotImplementedError

    def _image(self, index: int) -> np.ndarray:
        raise NotImplementedError

    def _labels(self, index: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _index(self, index: int) -> int:
        self._check_open()
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"a pose index is an integer, not {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"pose {index} is out of range for {len(self)} poses")
        return int(index) % len(self)

    def image(self, index: int) -> np.ndarray:
        """(S, S, 3) uint8 RGB, rows top-down."""
        return self._image(self._index(index))

    def rotation(self, index: int) -> np.ndarray:
        """(3, 3) float64 R, object frame to camera frame (SCENES.md): the labels' ``matrix``."""
        return np.asarray(self._labels(self._index(index))["matrix"])

    def class_index(self, index: int) -> int | None:
        """Pose ``index``'s class, an index into :attr:`class_names`; None where there is none."""
        return None

    def class_name(self, index: int) -> str | None:
        """Pose ``index``'s class name; None where there is none."""
        k = self.class_index(index)
        return None if k is None else self.class_names[k]

    def equivalents(self, index: int) -> np.ndarray | None:
        """(K, 3, 3): every rotation that gives pose ``index``'s very image, element 0 its own R;
        None for objects without a symmetry group or visual equivalents."""
        return None

    def pose(self, index: int) -> dict[str, np.ndarray]:
        """Pose ``index``'s labels by name: its rows of the poses.npz arrays (``matrix`` (3, 3) R,
        object frame to camera frame; ``quaternion`` (4,) w first; and the layout's others), plus
        ``class`` () int64 where there is a class, and where the layout has equivalent sets
        ``equivalents`` (W, 3, 3) float32, :meth:`equivalents` padded with R up to
        :attr:`largest_set` rows (so sets of any size stack), and ``equivalent_count`` () int64, K."""
        index = self._index(index)
        out = self._labels(index)
        k = self.class_index(index)
        if k is not None:
            out["class"] = np.asarray(k, dtype=np.int64)
        if self.largest_set:
            eq = self.equivalents(index)
            eq = np.asarray(out["matrix"][None] if eq is None else eq, dtype=np.float32)
            out["equivalents"] = padded_set(eq, self.largest_set)
            out["equivalent_count"] = np.asarray(len(eq), dtype=np.int64)
        return out

    def __getitem__(self, index: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return self.image(index), self.pose(index)


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


class Dataset(Loaded):
    """A built dataset of the cLPR cube or any scene object (flat, wds or imagenet3d layout).

    labels: cLPR builds: (N, 8, 6) float64, memory-mapped (see the spec's label array);
        None for scene objects, whose labels are all in ``poses``.
    poses: the arrays of poses.npz by name (:class:`Arrays`, memory-mapped). cLPR: quaternion, matrix,
        euler_clpr, keypoints_{size}, node/face_visible. Scene objects (SCENES.md): matrix,
        quaternion, translation, intrinsics_{size}, and where the object has them
        rotations_equivalent, mark_visible, visual_equivalents with visual_offsets,
        object_centre and object_scale, and the PASCAL3D+/ImageNet3D viewpoint.
    images: size -> (N, S, S, 3) uint8 RGB: a read-only memmap for npy builds, ShardImages
        for wds builds, else ImageFiles (in OUT/images/{class}/ for --layout imagenet3d).
    size: the size ``data[i]`` gives, the largest built unless ``load`` is told. Items' labels add
    ``labels`` (8, 6) (cLPR) and, for ``--layers`` builds, ``mask`` (S, S) uint8 and ``depth`` (S, S) float32.
    """

    class_names = BUILTIN_OBJECTS

    def __init__(self, root: Path, manifest: dict[str, Any], size: int | None = None) -> None:
        self.root, self.manifest = root, manifest
        n, fmt, sig = len(self), manifest["format"], manifest.get("signature", {})
        self.labels = np.load(root / LABELS, mmap_mode="r") if (root / LABELS).exists() else None
        self.poses: Mapping[str, np.ndarray] = Arrays(root / POSES) if (root / POSES).exists() else {}
        self.images: dict[int, Any] = {}
        for s in map(int, manifest["sizes"]):
            if fmt == "npy":
                self.images[s] = np.load(npy_path(root, s), mmap_mode="r")
            elif fmt == "wds":
                self.images[s] = ShardImages(root, s, sig["image_format"], int(sig["batch"]), n)
            else:
                folder = str(sig["class"]) if sig.get("layout") == "imagenet3d" else None
                self.images[s] = ImageFiles(root, s, fmt, n, folder)
        if size is not None and size not in self.images:
            raise ValueError(f"{root} has sizes {self.sizes}, not {size}")
        self.size = max(self.images) if size is None else size
        names = ("mask", "depth") if sig.get("layers") else ()
        self._layers = {name: np.load(layer_path(root, name, self.size), mmap_mode="r") for name in names}
        if "rotations_equivalent" in self.poses:
            self.largest_set = int(self.poses["rotations_equivalent"].shape[1])
        elif "visual_offsets" in self.poses:
            self.largest_set = len(builtin_object(self.object).symmetry)

    def __len__(self) -> int:
        return int(self.manifest["pose_count"])

    @property
    def object(self) -> str:
        """What the images show: ``clpr-cube``, a SYMSOL solid's name or ``mesh:PATH``."""
        return str(self.manifest.get("signature", {}).get("object") or "clpr-cube")

    @property
    def sizes(self) -> list[int]:
        return sorted(self.images)

    def class_name(self, index: int) -> str | None:
        """The SYMSOL solid's name or the mesh file's stem (every pose's); None for the cube."""
        self._index(index)
        return object_class(self.object)[0]

    def class_index(self, index: int) -> int | None:
        """The SYMSOL class index (0..7, FORMATS.md's order, :attr:`class_names`); None for mesh files and the cube."""
        self._index(index)
        return object_class(self.object)[1]

    def equivalents(self, index: int) -> np.ndarray | None:
        """(K, 3, 3) float32: the whole symmetry orbit for the featureless solids, the visual
        equivalents for tetX and cylO; None for the cube, sphereX and mesh files."""
        if "rotations_equivalent" in self.poses:
            return np.asarray(self.poses["rotations_equivalent"][index])
        if "visual_offsets" in self.poses:
            offsets = self.poses["visual_offsets"]
            return np.asarray(self.poses["visual_equivalents"][offsets[index] : offsets[index + 1]])
        return None

    def _image(self, index: int) -> np.ndarray:
        return np.asarray(self.images[self.size][index])

    def _labels(self, index: int) -> dict[str, np.ndarray]:
        out = pose_labels(self.poses, index, label_names(self.poses))
        if self.labels is not None:
            out["labels"] = np.asarray(self.labels[index])
        out.update((name, np.asarray(a[index])) for name, a in self._layers.items())
        return out

    def _fields(self) -> dict[str, Any]:
        obj = "mesh:" + Path(self.object[5:]).name if self.object.startswith("mesh:") else self.object
        return dict(
            path=str(self.root), object=obj, poses=len(self), sizes=self.sizes, format=self.manifest.get("format")
        )


def load_build(root: str | Path, size: int | None = None) -> Dataset:
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
    return Dataset(root, manifest, size)
