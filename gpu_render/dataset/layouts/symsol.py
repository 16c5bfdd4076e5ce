"""``--preset symsol``: the SYMSOL layout of FORMATS.md.

::

    OUT/train/images/{shape}_{index:05d}.png   S x S RGB PNG, index 0-based per shape
    OUT/train/rotations.npz                    {shape}: float32 (N, K, 3, 3)
    OUT/train/poses.npz                        this project's labels, keys {shape}_{label}
    OUT/test/...                               the same for the test split
    OUT/manifest.json                          how it was built (gpu_render's own)

Rotations are R of SCENES.md (``x_cam = R @ x_obj + t``; camera x right, y down, z forward),
uniform over SO(3), drawn from stream ``[seed, split index, shape index]`` (SYMSOL's class index,
so ``--shapes`` subsets draw the same rotations as a full build). ``rotations.npz[shape][i, 0]``
is image i's R; featureless shapes list their whole equivalent set (K = 12, 24, 60, 360, 720,
R @ G_k in the order of SCENES.md's groups), marked shapes K = 1.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from gpu_render.dataset.atomic import atomic_write_bytes, replacing
from gpu_render.dataset.encode import encode_png
from gpu_render.dataset.layout import MANIFEST, file_digest
from gpu_render.dataset.layouts import ChunkWrite
from gpu_render.dataset.layouts.npz_stream import NpzStream
from gpu_render.dataset.owned import BuildFiles, Folder, names, numbered, records
from gpu_render.dataset.sink import LayerFiles
from gpu_render.dataset.space import check_free
from gpu_render.rotations.uniform import uniform_rotations
from gpu_render.scene.camera import Pinhole
from gpu_render.scene.look import Look
from gpu_render.scene.object_labels import CHUNK, rotations_equivalent, scene_labels
from gpu_render.scene.object_plan import ObjectPlan
from gpu_render.scene.objects import SceneObject
from gpu_render.scene.scene import DRAWING_REVISION, ObjectScene, Plan, Scene
from gpu_render.scene.solids import builtin_object

#: SYMSOL's shapes in its class-index order (FORMATS.md).
SYMSOL_SHAPES = ("tet", "cube", "icosa", "cone", "cyl", "tetX", "cylO", "sphereX")
SYMSOL_VIEWS = (45000, 5000)
PRESET_SIZE = 224
#: Poses per chunk of a SYMSOL build (a chunk is rendered, written and recorded as one unit).
SYMSOL_BATCH = 256
SPLITS = ("train", "test")


@dataclass(frozen=True)
class SymsolSpec:
    """``--preset symsol``: shapes (names from SYMSOL_SHAPES, in that order), views (train,
    test) images per shape, size: image side, px, seed: the rotations' seed, camera and look
    as for ``--object`` builds (SCENES.md), batch: poses per chunk."""

    shapes: tuple[str, ...] = SYMSOL_SHAPES
    views: tuple[int, int] = SYMSOL_VIEWS
    size: int = PRESET_SIZE
    seed: int = 0
    camera: Pinhole = Pinhole()
    look: Look = Look()
    batch: int = SYMSOL_BATCH

    def signature(self) -> dict[str, Any]:
        """Everything that decides the dataset's bytes."""
        look = self.look
        return {
            "preset": "symsol",
            "shapes": list(self.shapes),
            "views": list(self.views),
            "size": self.size,
            "seed": self.seed,
            "fov": self.camera.fov_deg,
            "distance": round(self.camera.d, 12),
            "light": [float(x) for x in look.light],
            "color": list(look.albedo),
            "background": list(look.background),
            "grayscale": look.grayscale,
            "antialias": look.antialias,
            "batch": self.batch,
            "drawing": DRAWING_REVISION,
        }

    @staticmethod
    def from_signature(sig: dict[str, Any]) -> SymsolSpec:
        """The spec a manifest's signature records."""
        look = Look(
            albedo=tuple(sig["color"]),
            background=tuple(sig["background"]),
            light=tuple(sig["light"]),  # type: ignore[arg-type]
            antialias=bool(sig["antialias"]),
            grayscale=bool(sig["grayscale"]),
        )
        camera = Pinhole(float(sig["fov"]), float(sig["distance"]))
        views = (int(sig["views"][0]), int(sig["views"][1]))
        return SymsolSpec(
            tuple(sig["shapes"]), views, int(sig["size"]), int(sig["seed"]), camera, look, int(sig["batch"])
        )


@dataclass(frozen=True)
class ShapeSplit:
    """The images of one shape in one split: global indices ``start .. start+count-1``."""

    split: int
    shape: str
    start: int
    count: int

    @property
    def split_name(self) -> str:
        return SPLITS[self.split]


def shape_splits(spec: SymsolSpec) -> list[ShapeSplit]:
    """Every (split, shape) of the build, splits outer, shapes in SYMSOL's order."""
    out, start = [], 0
    for split, count in enumerate(spec.views):
        for shape in spec.shapes:
            out.append(ShapeSplit(split, shape, start, count))
            start += count
    return out


def shape_rotations(spec: SymsolSpec, part: ShapeSplit) -> np.ndarray:
    """(count, 3, 3) float64 R of one shape in one split."""
    return uniform_rotations(part.count, spec.seed, part.split, SYMSOL_SHAPES.index(part.shape))


def image_path(out: Path, split: str, shape: str, index: int) -> Path:
    """Where image ``index`` (0-based) of ``shape`` in ``split`` lies."""
    return out / split / "images" / f"{shape}_{index:05d}.png"


@dataclass(frozen=True)
class Segment:
    """Images ``start .. start+count-1`` (global) are ``{folder}/{prefix}_{index:05d}.png``, index from 0."""

    folder: str
    prefix: str
    start: int
    count: int


@dataclass(frozen=True)
class PngFilesSink:
    """Writes each image as a PNG file (atomically) named by its segment; returns sha256 digests."""

    segments: tuple[Segment, ...]

    def write(self, size: int, start: int, images: np.ndarray) -> list[bytes]:
        seg = next(s for s in self.segments if s.start <= start < s.start + s.count)
        if start + len(images) > seg.start + seg.count:
            raise ValueError(f"images {start}..{start + len(images) - 1} cross the end of segment {seg.prefix}")
        digests = []
        for k, image in enumerate(images):
            data = encode_png(image)
            atomic_write_bytes(os.path.join(seg.folder, f"{seg.prefix}_{start - seg.start + k:05d}.png"), data)
            digests.append(file_digest(data))
        return digests


@dataclass(frozen=True, eq=False)
class SymsolLayout:
    """The SYMSOL layout of ``spec`` (see the module docstring)."""

    spec: SymsolSpec
    title: str = "symsol"
    record_engine: bool = False

    @property
    def signature(self) -> dict[str, Any]:
        return self.spec.signature()

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.spec.size,)

    @cached_property
    def parts(self) -> list[ShapeSplit]:
        return shape_splits(self.spec)

    @cached_property
    def _chunks(self) -> list[tuple[int, int, int]]:
        """(start, stop, part) of each chunk: ``batch`` images at most, never across two shapes."""
        out = []
        for group, part in enumerate(self.parts):
            for a in range(0, part.count, self.spec.batch):
                out.append((part.start + a, part.start + min(part.count, a + self.spec.batch), group))
        return out

    def manifest_fields(self) -> dict[str, Any]:
        return {"preset": "symsol"}

    def chunks(self) -> dict[int, tuple[int, int]]:
        return {k: (a, b) for k, (a, b, _) in enumerate(self._chunks)}

    def group(self, chunk: int) -> int:
        return self._chunks[chunk][2]

    def draw(self, group: int) -> tuple[Scene, Plan, int]:
        part = self.parts[group]
        scene = ObjectScene(builtin_object(part.shape), self.spec.camera, self.spec.look)
        r = shape_rotations(self.spec, part)
        plan = ObjectPlan(r, np.broadcast_to(scene.camera.translation, (len(r), 3)).copy(), scene.object, scene.camera)
        return scene, plan, part.start

    def sink(self, out: Path) -> PngFilesSink:
        return PngFilesSink(
            tuple(Segment(str(out / p.split_name / "images"), p.shape, p.start, p.count) for p in self.parts)
        )

    def settle(self, out: Path, chunk: int, results: list[bytes]) -> tuple[list[bytes], dict[str, Any]]:
        return results, {}

    def chunk_writers(self, out: Path) -> tuple[LayerFiles | None, ChunkWrite | None]:
        return None, None

    def files(self) -> BuildFiles:
        return symsol_files(self.signature)

    def partial_names(self) -> tuple[str, ...]:
        return ()

    def check(self, out: Path) -> None:
        return None

    def check_room(self, out: Path) -> None:
        if not (out / "test" / "rotations.npz").exists():
            check_free(out, rotations_bytes(self.parts), "rotations.npz")

    def prepare(self, out: Path, resume: bool, writes_labels: bool) -> None:
        for split in SPLITS:
            (out / split / "images").mkdir(parents=True, exist_ok=True)

    def seal(self, out: Path, progress: bool) -> None:
        for split in range(len(SPLITS)):
            write_labels(out, self.spec, [p for p in self.parts if p.split == split])


def rotations_bytes(parts: list[ShapeSplit]) -> int:
    """Bytes of the rotations.npz arrays of ``parts``: N x K x 9 float32 each."""
    total = 0
    for part in parts:
        obj = builtin_object(part.shape)
        total += part.count * (len(obj.symmetry) if obj.featureless else 1) * 36 + 256
    return total


def write_labels(out: Path, spec: SymsolSpec, parts: list[ShapeSplit]) -> None:
    """``rotations.npz`` and ``poses.npz`` of one split, each written whole under a temporary name."""
    folder = out / parts[0].split_name
    with replacing(folder / "rotations.npz") as tmp, open(tmp, "wb") as f, NpzStream(f) as npz:
        for part in parts:
            obj = builtin_object(part.shape)
            r = shape_rotations(spec, part)
            k = len(obj.symmetry) if obj.featureless else 1
            npz.add(part.shape, np.float32, (part.count, k, 3, 3), equivalent_blocks(obj, r))
    with replacing(folder / "poses.npz") as tmp, open(tmp, "wb") as f, NpzStream(f) as npz:
        for part in parts:
            for name, array in poses_labels(spec, part).items():
                npz.add_array(f"{part.shape}_{name}", array)


def equivalent_blocks(obj: SceneObject, r: np.ndarray) -> Iterator[np.ndarray]:
    """Row blocks of rotations.npz's array: (m, K, 3, 3) float32."""
    if not obj.featureless:
        yield r[:, None].astype(np.float32)
        return
    step = max(1, CHUNK * 16 // len(obj.symmetry))
    for a in range(0, len(r), step):
        yield rotations_equivalent(obj, r[a : a + step])
    if len(r) == 0:
        yield np.zeros((0, len(obj.symmetry), 3, 3), np.float32)


def poses_labels(spec: SymsolSpec, part: ShapeSplit) -> dict[str, np.ndarray]:
    """poses.npz's arrays of one shape in one split (SCENES.md, Labels every scene build writes),
    without ``rotations_equivalent`` (rotations.npz holds it), plus ``class_index`` ()."""
    obj = dataclasses.replace(builtin_object(part.shape), featureless=False)
    labels = scene_labels(obj, spec.camera, shape_rotations(spec, part), (spec.size,))
    labels["class_index"] = np.asarray(SYMSOL_SHAPES.index(part.shape), dtype=np.int64)
    return labels


def symsol_files(sig: dict[str, Any]) -> BuildFiles:
    """What the SYMSOL build of signature ``sig`` writes. Raises ValueError for a signature
    this version does not read (unknown shapes, views that are not two counts)."""
    views = preset_views(sig)
    shapes = sig.get("shapes")
    if not isinstance(shapes, list) or not shapes or any(s not in SYMSOL_SHAPES for s in shapes):
        raise ValueError(f"shapes {shapes!r} are not SYMSOL's")
    folders, whole = [Folder("", names(MANIFEST)), *records()], []
    for split, count in zip(SPLITS, views, strict=False):
        folders.append(Folder(split, names("rotations.npz", "poses.npz")))
        whole += [f"{split}/rotations.npz", f"{split}/poses.npz"]
        folders.append(Folder(f"{split}/images", _any_shape(split, shapes, count)))
    return BuildFiles(tuple(folders), tuple(whole))


def _any_shape(split: str, shapes: list[str], count: int) -> Callable[[str], bool]:
    """A Folder's ``owns``: the image names of ``shapes`` in ``split``, ``count`` of each."""
    by_shape = {s: numbered(_image_name(split, s), count) for s in shapes}

    def owns(name: str) -> bool:
        shape = name.rpartition("_")[0]
        return shape in by_shape and by_shape[shape](name)

    return owns


def _image_name(split: str, shape: str) -> Callable[[int], str]:
    return lambda i: image_path(Path(), split, shape, i).name


def preset_views(sig: Any) -> tuple[int, int]:
    """A preset signature's ``views``; ValueError unless it is two positive counts."""
    views = sig.get("views") if isinstance(sig, dict) else None
    if (
        not isinstance(views, list)
        or len(views) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in views)
    ):
        raise ValueError(f"views {views!r} is not two positive counts")
    return (views[0], views[1])
