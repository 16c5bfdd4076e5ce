"""``--preset modelnet10-so3``: the ModelNet10-SO3 layout of FORMATS.md.

::

    OUT/train_{TRAIN}V.Rawjpg.lmdb/   TRAIN views of each training model
        data.mdb, lock.mdb            key {category}_{cad:04d}.v{view:03d} (view 1-based) -> JPEG bytes
        viewID2quat.pkl               key -> (4,) float64 quaternion (w, x, y, z), w >= 0
        viewID2euler.pkl              key -> (3,) float64 (azimuth, elevation, theta), radians
    OUT/train_{TEST}V.Rawjpg.lmdb/    the first TEST views of each training model (when TRAIN > TEST)
    OUT/test_{TEST}V.Rawjpg.lmdb/     TEST views of each test model
    OUT/modelnet10/modelnet10_{train,limited_train,test}.npz   image2sphere's arrays
    OUT/manifest.json                 how it was built (gpu_render's own)

Images: S x S one-channel JPEG (quality 100), the mesh shaded grey (SCENES.md's look, albedo
200) on white, camera as SCENES.md. The rotation R of a view is SCENES.md's
(``x_cam = R @ x_obj + t``, object frame = the mesh normalised to its bounding-box centre and
circumradius 1), uniform over SO(3) from stream ``[seed, split, class index, cad]``; the Euler
angles are the PASCAL3D+ viewpoint of R (``gpu_render.scene.viewpoint``).

Chunk k is model k, all its views. Whoever settles a chunk (a local build, a shard, a Ray
worker) keeps its JPEGs in ``OUT/.progress/chunk_{k:06d}.jpgs``; sealing puts them into the
databases model by model, in chunk order, so every build of the same options writes the same
database bytes however its chunks were spread.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import lmdb
import numpy as np
import simplejpeg

from gpu_render.dataset.atomic import atomic_write_bytes, replacing
from gpu_render.dataset.encode import JPEG_QUALITY
from gpu_render.dataset.layout import MANIFEST, PROGRESS, file_digest
from gpu_render.dataset.layouts import ChunkWrite
from gpu_render.dataset.layouts.lmdb_store import PARTIAL, GrowingLmdb, db_name, write_pickle
from gpu_render.dataset.layouts.modelnet_tree import CadModel, check_tree_unchanged, scan_tree, tree_record
from gpu_render.dataset.layouts.npz_stream import NpzStream
from gpu_render.dataset.layouts.symsol import PRESET_SIZE, preset_views
from gpu_render.dataset.owned import BuildFiles, Folder, names, plain_name, records
from gpu_render.dataset.sink import LayerFiles
from gpu_render.progress import Progress
from gpu_render.rotations.quaternion import matrix_to_quaternion, quaternion_to_matrix
from gpu_render.rotations.uniform import uniform_rotations
from gpu_render.scene.camera import Pinhole
from gpu_render.scene.look import Look
from gpu_render.scene.object_plan import ObjectPlan
from gpu_render.scene.scene import DRAWING_REVISION, ObjectScene, Plan, Scene
from gpu_render.scene.viewpoint import viewpoint_from_rotation

#: ModelNet10's categories in class-index order (FORMATS.md).
MODELNET10_CATEGORIES = (
    "bathtub",
    "bed",
    "chair",
    "desk",
    "dresser",
    "monitor",
    "night_stand",
    "sofa",
    "table",
    "toilet",
)
MODELNET_VIEWS = (100, 20)
#: ModelNet10-SO3's look: grey albedo 200, lit as SCENES.md, on white, grey images.
MODELNET_LOOK = Look(background=(255, 255, 255), grayscale=True)
NPZ_FOLDER = "modelnet10"
#: The files of a database folder (LMDB's two, then the two pickles).
DATABASE_FILES = ("data.mdb", "lock.mdb", "viewID2quat.pkl", "viewID2euler.pkl")
PICKLES = DATABASE_FILES[2:]


@dataclass(frozen=True)
class ModelNetSpec:
    """``--preset modelnet10-so3``. meshes: the ModelNet10 tree,
    ``{category}/{train,test}/{category}_{NNNN}.off``. categories: names from
    MODELNET10_CATEGORIES, in that order. views: (train, test) views per CAD model. size: image
    side, px. seed: the rotations' seed."""

    meshes: Path
    categories: tuple[str, ...] = MODELNET10_CATEGORIES
    views: tuple[int, int] = MODELNET_VIEWS
    size: int = PRESET_SIZE
    seed: int = 0
    camera: Pinhole = Pinhole()
    look: Look = MODELNET_LOOK

    def signature(self) -> dict[str, Any]:
        return {
            "preset": "modelnet10-so3",
            "meshes": str(self.meshes.resolve()),
            "categories": list(self.categories),
            "views": list(self.views),
            "size": self.size,
            "seed": self.seed,
            "fov": self.camera.fov_deg,
            "distance": round(self.camera.d, 12),
            "drawing": DRAWING_REVISION,
        }

    @staticmethod
    def from_signature(sig: dict[str, Any]) -> ModelNetSpec:
        """The spec a manifest's signature records."""
        views = (int(sig["views"][0]), int(sig["views"][1]))
        camera = Pinhole(float(sig["fov"]), float(sig["distance"]))
        return ModelNetSpec(
            Path(sig["meshes"]), tuple(sig["categories"]), views, int(sig["size"]), int(sig["seed"]), camera
        )


@dataclass(frozen=True)
class Database:
    """One LMDB database: its name (``train_100V``), split (0 train, 1 test) and views per model."""

    name: str
    split: int
    views: int


def databases(views: tuple[int, int]) -> list[Database]:
    """train_{TRAIN}V, test_{TEST}V and, when TRAIN > TEST, train_{TEST}V."""
    train, test = views
    dbs = [Database(f"train_{train}V", 0, train), Database(f"test_{test}V", 1, test)]
    if train > test:
        dbs.append(Database(f"train_{test}V", 0, test))
    return dbs


def npz_sources(views: tuple[int, int]) -> dict[str, str]:
    """image2sphere's npz name -> the database it is made from."""
    train, test = views
    return {"train": f"train_{train}V", "limited_train": f"train_{min(train, test)}V", "test": f"test_{test}V"}


def model_rotations(spec: ModelNetSpec, model: CadModel) -> np.ndarray:
    """(V, 3, 3) float64 R of a model's views, V = TRAIN or TEST views."""
    return uniform_rotations(
        spec.views[model.split], spec.seed, model.split, MODELNET10_CATEGORIES.index(model.category), model.cad
    )


def encode_grey_jpeg(image: np.ndarray) -> bytes:
    """A one-channel (greyscale) JPEG of channel 0 of ``image`` (S, S, 3) uint8, quality 100.

    One channel, so any decoder gives three equal channels (cv2.imdecode's IMREAD_COLOR does).
    """
    grey = np.ascontiguousarray(image[:, :, :1])
    return simplejpeg.encode_jpeg(grey, quality=JPEG_QUALITY, colorspace="GRAY")


@dataclass(frozen=True)
class GreyJpegBytesSink:
    """Encodes each image as a grey JPEG and returns the bytes themselves (the chunk's settle keeps them)."""

    def write(self, size: int, start: int, images: np.ndarray) -> list[bytes]:
        return [encode_grey_jpeg(image) for image in images]


def jpegs_path(out: Path, chunk: int) -> Path:
    """Where a settled chunk's JPEGs wait for sealing."""
    return out / PROGRESS / f"chunk_{chunk:06d}.jpgs"


def pack(items: list[bytes]) -> bytes:
    """``items`` as one blob: each a little-endian uint32 length, then its bytes."""
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def unpack(blob: bytes) -> list[bytes]:
    items, at = [], 0
    while at < len(blob):
        (n,) = struct.unpack_from("<I", blob, at)
        items.append(blob[at + 4 : at + 4 + n])
        at += 4 + n
    return items


@dataclass(frozen=True, eq=False)
class ModelNetLayout:
    """The ModelNet10-SO3 layout of ``spec`` (see the module docstring)."""

    spec: ModelNetSpec
    title: str = "modelnet10-so3"
    record_engine: bool = False

    @cached_property
    def models(self) -> list[CadModel]:
        """Every model of the tree (UsageError naming a bad file or folder)."""
        return scan_tree(self.spec.meshes, self.spec.categories)

    @cached_property
    def signature(self) -> dict[str, Any]:
        return {**self.spec.signature(), "models": tree_record(self.models)}

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.spec.size,)

    def manifest_fields(self) -> dict[str, Any]:
        return {"preset": "modelnet10-so3"}

    @cached_property
    def _chunks(self) -> dict[int, tuple[int, int]]:
        out, start = {}, 0
        for k, model in enumerate(self.models):
            out[k] = (start, start + self.spec.views[model.split])
            start = out[k][1]
        return out

    def chunks(self) -> dict[int, tuple[int, int]]:
        return self._chunks

    def group(self, chunk: int) -> int:
        return chunk

    def draw(self, group: int) -> tuple[Scene, Plan, int]:
        model = self.models[group]
        from gpu_render.dataset.mesh_files import load_mesh_file  # trimesh (and scipy): only when a model is drawn

        scene = ObjectScene(load_mesh_file(model.path), self.spec.camera, self.spec.look)
        r = model_rotations(self.spec, model)
        plan = ObjectPlan(r, np.broadcast_to(scene.camera.translation, (len(r), 3)).copy(), scene.object, scene.camera)
        return scene, plan, self._chunks[group][0]

    def sink(self, out: Path) -> GreyJpegBytesSink:
        return GreyJpegBytesSink()

    def settle(self, out: Path, chunk: int, results: list[bytes]) -> tuple[list[bytes], dict[str, Any]]:
        atomic_write_bytes(jpegs_path(out, chunk), pack(results))
        return [file_digest(j) for j in results], {"model": str(self.models[chunk].path)}

    def chunk_writers(self, out: Path) -> tuple[LayerFiles | None, ChunkWrite | None]:
        return None, None

    def files(self) -> BuildFiles:
        return modelnet_files(self.signature)

    def partial_names(self) -> tuple[str, ...]:
        return tuple(db_name(d.name) + PARTIAL for d in databases(self.spec.views))

    def check(self, out: Path) -> None:
        check_tree_unchanged(out, self.signature, self.models)

    def check_room(self, out: Path) -> None:
        return None

    def prepare(self, out: Path, resume: bool, writes_labels: bool) -> None:
        return None

    def seal(self, out: Path, progress: bool) -> None:
        """Every database (its JPEGs in chunk order, then the pickles), then the npz files."""
        for d in databases(self.spec.views):
            final, partial = out / db_name(d.name), out / (db_name(d.name) + PARTIAL)
            if final.exists() and not partial.exists():
                continue  # sealed by an earlier run of this build
            store = GrowingLmdb(partial)
            try:
                models = [(k, m) for k, m in enumerate(self.models) if m.split == d.split]
                fill_database(out, store, d, models)
                seal_database(out, self.spec, d, [m for _, m in models], store)
            finally:
                store.close()
        write_npz_files(out, self.spec, self.models, progress)


def fill_database(out: Path, store: GrowingLmdb, d: Database, models: list[tuple[int, CadModel]]) -> None:
    """Put the first ``d.views`` JPEGs of each chunk (model) into ``store``, one transaction a
    model, in chunk order; models already there (put by an earlier version) are skipped."""
    with store.env.begin() as txn:
        present = {k for k, m in models if txn.get(m.key(1).encode()) is not None}
    for k, model in models:
        if k not in present:
            jpegs = unpack(jpegs_path(out, k).read_bytes())
            store.put_many([(model.key(v + 1).encode(), jpegs[v]) for v in range(d.views)])


def view_labels(spec: ModelNetSpec, models: list[CadModel], views: int) -> Iterator[tuple[str, CadModel, np.ndarray]]:
    """(key, model, R (3, 3) float64) of the first ``views`` views of each model, in database order."""
    for model in models:
        r = model_rotations(spec, model)
        for v in range(views):
            yield model.key(v + 1), model, r[v]


def seal_database(out: Path, spec: ModelNetSpec, d: Database, models: list[CadModel], store: GrowingLmdb) -> None:
    """Write the two pickles into a complete database and give it its final name."""
    quats, eulers = pickle_values(spec, d, models)
    write_pickle(store.folder / "viewID2quat.pkl", quats)
    write_pickle(store.folder / "viewID2euler.pkl", eulers)
    store.close()
    final = out / db_name(d.name)
    if final.exists():  # only a database this very build left unsealed can be here
        shutil.rmtree(final)
    os.replace(store.folder, final)


def pickle_values(
    spec: ModelNetSpec, d: Database, models: list[CadModel]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The dicts of database ``d``'s ``viewID2quat.pkl`` (key -> (4,) float64 (w, x, y, z))
    and ``viewID2euler.pkl`` (key -> (3,) float64 azimuth, elevation, theta, radians), in key order."""
    quats: dict[str, np.ndarray] = {}
    eulers: dict[str, np.ndarray] = {}
    for model in models:  # vectorised per model: a full train_100V has 400k keys
        r = model_rotations(spec, model)[: d.views]
        q = matrix_to_quaternion(r)
        euler = np.stack(viewpoint_from_rotation(r), axis=1)  # (V, 3): azimuth, elevation, theta
        for v in range(d.views):
            key = model.key(v + 1)
            quats[key] = q[v].copy()
            eulers[key] = euler[v].copy()
    return quats, eulers


def npz_labels(labels: list[tuple[str, CadModel, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """image2sphere's ``rots`` float32 (L, 3, 3) (R through its quaternion, as
    prepare_modelnet10.py gets it) and ``cat_ids`` int64 (L,) of ``view_labels``' output."""
    q = matrix_to_quaternion(np.array([r for _, _, r in labels]).reshape(-1, 3, 3))
    rots = quaternion_to_matrix(q).astype(np.float32).reshape(-1, 3, 3)
    return rots, np.array([MODELNET10_CATEGORIES.index(m.category) for _, m, _ in labels], dtype=np.int64)


def write_npz_files(out: Path, spec: ModelNetSpec, models: list[CadModel], progress: bool = False) -> None:
    """``OUT/modelnet10/modelnet10_{train,limited_train,test}.npz`` as image2sphere's
    prepare_modelnet10.py makes them from the databases: ``imgs`` uint8 (L, S, S, 1) (the
    JPEG decoded, channel 0), ``rots`` float32 (L, 3, 3) from the quaternion, ``cat_ids`` int64 (L,)."""
    folder = out / NPZ_FOLDER
    folder.mkdir(exist_ok=True)
    by_name = {d.name: d for d in databases(spec.views)}
    sources = npz_sources(spec.views)
    total = sum(
        spec.views[by_name[s].split] * sum(m.split == by_name[s].split for m in models) for s in sources.values()
    )
    bar = Progress(total, 0, "modelnet10 npz", enabled=progress, unit="image")
    try:
        for npz_name, source in sources.items():
            _write_npz(out, spec, models, folder / f"modelnet10_{npz_name}.npz", by_name[source], bar)
    finally:
        bar.close()


def _write_npz(out: Path, spec: ModelNetSpec, models: list[CadModel], path: Path, d: Database, bar: Progress) -> None:
    """One of image2sphere's npz files, from database ``d`` (complete, under its final name)."""
    labels = list(view_labels(spec, [m for m in models if m.split == d.split], d.views))
    s = spec.size
    env = lmdb.open(str(out / db_name(d.name)), readonly=True, lock=False)
    try:
        with replacing(path) as tmp, open(tmp, "wb") as f, NpzStream(f, compress=True) as npz:
            npz.add("imgs", np.uint8, (len(labels), s, s, 1), _decoded(env, [k for k, _, _ in labels], bar))
            rots, cat_ids = npz_labels(labels)
            npz.add_array("rots", rots)
            npz.add_array("cat_ids", cat_ids)
    finally:
        env.close()


def _decoded(env: lmdb.Environment, keys: list[str], bar: Progress, block: int = 256) -> Iterator[np.ndarray]:
    """The images of ``keys`` decoded (one channel), in blocks of (m, S, S, 1) uint8."""
    with env.begin() as txn:
        for a in range(0, len(keys), block):
            out = []
            for key in keys[a : a + block]:
                data = txn.get(key.encode())
                if data is None:
                    raise OSError(f"{env.path()}: key {key} is missing")
                out.append(simplejpeg.decode_jpeg(data, colorspace="GRAY"))
            bar.update(len(out))
            yield np.stack(out)


def modelnet_files(sig: dict[str, Any]) -> BuildFiles:
    """What the ModelNet10-SO3 build of signature ``sig`` writes (ValueError if it cannot say)."""
    views = preset_views(sig)
    folders, whole = [Folder("", names(MANIFEST)), *records()], []
    for d in databases(views):
        final = plain_name(db_name(d.name), "database")
        folders += [Folder(final, names(*DATABASE_FILES)), Folder(final + PARTIAL, names(*DATABASE_FILES))]
        whole += [f"{final}/{p}" for p in PICKLES]
    npz = [f"modelnet10_{name}.npz" for name in npz_sources(views)]
    folders.append(Folder(NPZ_FOLDER, names(*npz)))
    whole += [f"{NPZ_FOLDER}/{name}" for name in npz]
    return BuildFiles(tuple(folders), tuple(whole))
