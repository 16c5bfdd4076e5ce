"""``--preset render4cnn``: Render for CNN's synthetic set (docs/RENDER4CNN.md).

::

    OUT/syn_images_cropped_bkg_overlaid/{synset}/{md5}/{synset}_{md5}_a..._e..._t..._d....png
    OUT/poses.npz        names, azimuth, elevation, theta, distance, matrix, translation,
                         intrinsics, crop, truncation, and the look's per-image choices
    OUT/manifest.json    how it was built (gpu_render's own; it states the naming rule)

Image i is view ``i % V`` of model ``i // V`` (models sorted by synset, then folder; V views
each). Its viewpoint and truncation come from ``[seed, stream, synset, model key, view]``
(the model key a hash of its folder name), its lights and background from ``(seed, i)``
(docs/LOOKS.md). The model is drawn at Render for CNN's camera, f = 1050 px with the principal
point at the centre, into a 960 x 960 render whose central rows 210..749 are exactly Render
for CNN's 960 x 540 image; everything after that (extent, crop, K) is taken in that 960 x 540
image, so crops never leave it. The object's extent is the pixels that the projected box of
the mesh's vertices touches (:func:`gpu_render.scene.crop.box_extent`). Chunk k is image k:
each image has its own camera distance, which sets the renderer's depth range.
"""

from __future__ import annotations

import hashlib
import math
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from gpu_render.dataset.atomic import atomic_save_npz, atomic_write_bytes
from gpu_render.dataset.encode import encode_png
from gpu_render.dataset.layout import MANIFEST, POSES, PROGRESS, file_digest
from gpu_render.dataset.layouts import ChunkWrite
from gpu_render.dataset.owned import BuildFiles, Folder, records
from gpu_render.dataset.shapenet import ShapeNetModel, find_models
from gpu_render.dataset.sink import LayerFiles
from gpu_render.scene.camera import Pinhole, image_boxes, project
from gpu_render.scene.crop import box_extent, crop_boxes, crop_intrinsics
from gpu_render.scene.look import Look
from gpu_render.scene.look_labels import look_labels
from gpu_render.scene.object_plan import ObjectPlan
from gpu_render.scene.r4c_labels import image_labels, render_pose
from gpu_render.scene.r4c_names import IMAGES_FOLDER, NAMING_RULE, image_path, parse_name, unique_names
from gpu_render.scene.r4c_views import (
    RENDER_HEIGHT,
    RENDER_WIDTH,
    TruncationSource,
    ViewpointSource,
    render_for_cnn_intrinsics,
    view_poses,
)
from gpu_render.scene.scene import DRAWING_REVISION, ObjectScene, Plan, Scene

PRESET = "render4cnn"
#: The square render holding Render for CNN's 960 x 540 image as rows BAND_TOP .. BAND_TOP + 539.
RENDER_SIDE = RENDER_WIDTH
BAND_TOP = (RENDER_SIDE - RENDER_HEIGHT) // 2
#: The square render's field of view, degrees: f = 1050 px at 960 px.
RENDER_FOV_DEG = math.degrees(2.0 * math.atan((RENDER_SIDE / 2) / float(render_for_cnn_intrinsics()[0, 0])))
DEFAULT_VIEWS_PER_MODEL = 10
#: What OUT/.progress keeps of a settled image: its crop (4 int64) and render translation (3 float64).
_CROP = np.dtype("<i8")
_MOVED = np.dtype("<f8")


@dataclass(frozen=True)
class Render4cnnSpec:
    """``--preset render4cnn``. meshes: the ShapeNetCore tree; synsets: ids, sorted (None: those
    of PASCAL3D+'s twelve that the tree has);
    views_per_model: V; viewpoints, truncation: their sources (:mod:`gpu_render.scene.r4c_views`);
    seed: of every per-image choice; look: lights and backgrounds (its ``seed`` is ``seed``);
    textures: draw the files' own colours and textures."""

    meshes: Path
    synsets: tuple[str, ...] | None
    views_per_model: int
    viewpoints: ViewpointSource
    truncation: TruncationSource
    seed: int = 0
    look: Look = Look()
    textures: bool = True


def model_key(model: ShapeNetModel) -> tuple[int, int]:
    """The integers naming a model in the seed of its images: (synset as a number, the first
    7 bytes of the sha256 of its folder name)."""
    digest = hashlib.sha256(model.md5.encode("utf-8")).digest()
    synset = int(model.synset) if model.synset.isdigit() else int.from_bytes(model.synset.encode()[:7], "big")
    return synset, int.from_bytes(digest[:7], "big")


def model_views(spec: Render4cnnSpec, model: ShapeNetModel) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A model's V views: viewpoints (V, 4) float64 (azimuth, elevation, theta degrees,
    distance file units), truncations (V, 4) float64 and file names (:func:`unique_names`)."""
    keys = np.array([[*model_key(model), v] for v in range(spec.views_per_model)], dtype=np.int64)
    views = spec.viewpoints.draw(spec.seed, keys)
    trunc = spec.truncation.draw(spec.seed, keys)
    return views, trunc, unique_names(model.synset, model.md5, views)


def band_intrinsics() -> np.ndarray:
    """K of Render for CNN's 960 x 540 image (the band of the render): (3, 3) float64."""
    return render_for_cnn_intrinsics()


@lru_cache(maxsize=4)
def file_geometry(path: str) -> tuple[np.ndarray, np.ndarray, float]:
    """A mesh file's vertices (P, 3) float64 in the file's own coordinates, and the centre (3,)
    and scale of the scene's normalised object (``x_obj = scale (x_file - centre)``)."""
    obj = _load(path, False)
    centre = np.asarray(obj.centre, dtype=np.float64)
    return np.asarray(obj.positions, dtype=np.float64).reshape(-1, 3) / obj.scale + centre, centre, float(obj.scale)


def image_crops(vertices: np.ndarray, views: np.ndarray, trunc: np.ndarray) -> np.ndarray:
    """Crop boxes (N, 4) int64 (x0, y0, x1, y1) in the 960 x 540 image: the extent of the
    vertices' projected box (file coordinates (P, 3)), moved by the truncations (N, 4) as
    ``crop_gray.m`` moves it. Raises ValueError for a view whose object misses the image."""
    r, t = view_poses(views)
    boxes = image_boxes(project(vertices, r, t, band_intrinsics()), RENDER_WIDTH, RENDER_HEIGHT)
    if np.any(boxes[:, 0] < 0):
        raise ValueError("a viewpoint puts the object outside Render for CNN's 960 x 540 image")
    return crop_boxes(box_extent(boxes, RENDER_WIDTH, RENDER_HEIGHT), trunc, RENDER_WIDTH, RENDER_HEIGHT)


@dataclass(frozen=True)
class Render4cnnSink:
    """Crops each render and writes it as an RGB PNG under its Render for CNN name; returns per
    image its sha256 (32 bytes), its crop box (4 little-endian int64) and the translation of the
    scene's normalised object it was drawn at (3 little-endian float64: what the look's labels
    are relative to)."""

    out: str
    spec: Render4cnnSpec
    models: tuple[ShapeNetModel, ...]

    def write(self, size: int, start: int, images: np.ndarray) -> list[bytes]:
        results = []
        v_count = self.spec.views_per_model
        for k, image in enumerate(images):
            model, view = self.models[(start + k) // v_count], (start + k) % v_count
            views, trunc, names = model_views(self.spec, model)
            vertices, centre, scale = file_geometry(str(model.path))
            box = image_crops(vertices, views[view : view + 1], trunc[view : view + 1])[0]
            moved = render_pose(*view_poses(views[view : view + 1]), centre, scale)[1][0]
            x0, y0, x1, y1 = (int(b) for b in box)
            data = encode_png(np.ascontiguousarray(image[BAND_TOP + y0 : BAND_TOP + y1, x0:x1]))
            atomic_write_bytes(os.path.join(self.out, image_path(model.synset, model.md5, names[view])), data)
            results.append(file_digest(data) + box.astype(_CROP).tobytes() + moved.astype(_MOVED).tobytes())
        return results


def crops_path(out: Path, chunk: int) -> Path:
    return out / PROGRESS / f"chunk_{chunk:06d}.crop"


@dataclass(frozen=True, eq=False)
class Render4cnnLayout:
    """The Render for CNN layout of ``spec`` (see the module docstring)."""

    spec: Render4cnnSpec
    title: str = PRESET
    record_engine: bool = False

    @cached_property
    def models(self) -> tuple[ShapeNetModel, ...]:
        return tuple(find_models(self.spec.meshes, self.spec.synsets))

    @cached_property
    def signature(self) -> dict[str, Any]:
        s = self.spec
        return {
            "preset": PRESET,
            "meshes": str(Path(s.meshes).resolve()),
            "synsets": None if s.synsets is None else list(s.synsets),
            "views_per_model": s.views_per_model,
            "viewpoints": s.viewpoints.spec,
            "viewpoints_sha256": getattr(s.viewpoints, "sha256", None),
            "truncation": s.truncation.spec,
            "truncation_sha256": getattr(s.truncation, "sha256", None),
            "seed": s.seed,
            "textures": s.textures,
            "render": [RENDER_SIDE, RENDER_SIDE],
            "drawing": DRAWING_REVISION,
            **s.look.describe(),
            "models": [f"{m.synset}/{m.md5}" for m in self.models],
        }

    @property
    def sizes(self) -> tuple[int, ...]:
        return (RENDER_SIDE,)

    def manifest_fields(self) -> dict[str, Any]:
        return {"preset": PRESET, "naming": NAMING_RULE}

    def chunks(self) -> dict[int, tuple[int, int]]:
        return {k: (k, k + 1) for k in range(len(self.models) * self.spec.views_per_model)}

    def group(self, chunk: int) -> int:
        return chunk

    def draw(self, group: int) -> tuple[Scene, Plan, int]:
        model = self.models[group // self.spec.views_per_model]
        obj = _load(str(model.path), self.spec.textures)
        views, _, _ = model_views(self.spec, model)
        v = group % self.spec.views_per_model
        r, t = render_pose(*view_poses(views[v : v + 1]), obj.centre, obj.scale)
        camera = Pinhole(RENDER_FOV_DEG, float(t[0, 2]))
        look = self.spec.look
        # The plan reaches from image 0 to this image, so the renderer draws image ``group``'s
        # lights and background (per-image looks read the pose's index in the plan); the poses
        # before it repeat this one without taking memory (zero strides) and are never drawn.
        rotation = np.broadcast_to(r, (group + 1, 3, 3))
        translation = np.broadcast_to(t, (group + 1, 3))
        plan = ObjectPlan(rotation, translation, obj, camera, look=look if look.per_image else None)
        return ObjectScene(obj, camera, look), plan, 0

    def sink(self, out: Path) -> Render4cnnSink:
        return Render4cnnSink(str(out), self.spec, self.models)

    def settle(self, out: Path, chunk: int, results: list[bytes]) -> tuple[list[bytes], dict[str, Any]]:
        atomic_write_bytes(crops_path(out, chunk), b"".join(r[32:] for r in results))
        return [r[:32] for r in results], {}

    def chunk_writers(self, out: Path) -> tuple[LayerFiles | None, ChunkWrite | None]:
        return None, None

    def files(self) -> BuildFiles:
        return render4cnn_files(self.signature)

    def partial_names(self) -> tuple[str, ...]:
        return ()

    def check(self, out: Path) -> None:
        return None

    def check_room(self, out: Path) -> None:
        return None

    def prepare(self, out: Path, resume: bool, writes_labels: bool) -> None:
        for m in self.models:
            (out / IMAGES_FOLDER / m.synset / m.md5).mkdir(parents=True, exist_ok=True)

    def seal(self, out: Path, progress: bool) -> None:
        """poses.npz, from every image's viewpoint and its settled crop."""
        atomic_save_npz(out / POSES, self.labels(out))

    def labels(self, out: Path) -> dict[str, np.ndarray]:
        """poses.npz's arrays (docs/RENDER4CNN.md), read from the settled crops in OUT/.progress."""
        paths, views, truncs = [], [], []
        for m in self.models:
            v, tr, names = model_views(self.spec, m)
            paths += [image_path(m.synset, m.md5, n) for n in names]
            views.append(v)
            truncs.append(tr)
        n = len(paths)
        kept = b"".join(crops_path(out, k).read_bytes() for k in range(n))
        rows = np.frombuffer(kept, np.dtype([("crop", _CROP, 4), ("moved", _MOVED, 3)]), count=n)
        crop = rows["crop"].astype(np.int64)
        labels = image_labels(
            paths, np.concatenate(views), crop_intrinsics(band_intrinsics(), crop), crop, np.concatenate(truncs)
        )
        if self.spec.look.per_image:
            labels.update(look_labels(self.spec.look, rows["moved"].astype(np.float64), (RENDER_SIDE,)))
        return labels


@lru_cache(maxsize=2)
def _load(path: str, textures: bool) -> Any:
    from gpu_render.dataset.mesh_files import load_mesh_file  # trimesh (and scipy): only when a model is drawn

    return load_mesh_file(Path(path), textures=textures)


def render4cnn_files(sig: dict[str, Any]) -> BuildFiles:
    """What the Render for CNN build of signature ``sig`` writes (ValueError if it cannot say)."""
    models = sig.get("models")
    if not isinstance(models, list) or not all(isinstance(m, str) and m.count("/") == 1 for m in models):
        raise ValueError(f"models {models!r} are not synset/md5 names")
    folders = [Folder("", lambda name: name in (MANIFEST, POSES)), *records(), Folder(IMAGES_FOLDER, _nothing)]
    for synset in sorted({m.split("/")[0] for m in models}):
        folders.append(Folder(f"{IMAGES_FOLDER}/{synset}", _nothing))
    for m in models:
        folders.append(Folder(f"{IMAGES_FOLDER}/{m}", _model_image(*m.split("/"))))
    return BuildFiles(tuple(folders), (POSES,))


def render4cnn_command(sig: dict[str, Any], out: Path | str) -> str:
    """The ``python -m gpu_render.build --preset render4cnn`` command line of a signature."""
    args = ["python -m gpu_render.build --preset render4cnn", f"--meshes {shlex.quote(str(sig['meshes']))}"]
    if sig.get("synsets"):
        args.append(f"--synsets {','.join(sig['synsets'])}")
    args.append(f"--views-per-model {sig['views_per_model']} --seed {sig['seed']}")
    args.append(f"--viewpoints {shlex.quote(sig['viewpoints'])} --truncation {shlex.quote(sig['truncation'])}")
    args.append("--lights " + ("render4cnn" if "point_lights" in sig else "directional"))
    if "backgrounds" in sig:
        root, ratio = sig["backgrounds"]["root"], sig["backgrounds"]["ratio"]
        args.append(f"--backgrounds {shlex.quote(str(root))} --background-ratio {ratio!r}")
    if not sig.get("textures", True):
        args.append("--no-textures")
    args.append(f"--out {shlex.quote(str(out))}")
    return " ".join(args)


def _nothing(name: str) -> bool:
    return False


def _model_image(synset: str, md5: str) -> Callable[[str], bool]:
    def owns(name: str) -> bool:
        try:
            fields = parse_name(name)
        except ValueError:
            return False
        return fields.synset == synset and fields.md5 == md5

    return owns
