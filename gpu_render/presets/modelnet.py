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
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import lmdb
import numpy as np
import simplejpeg

from gpu_render.dataset.atomic import replacing
from gpu_render.dataset.encoder_pool import EncoderPool
from gpu_render.dataset.layout import chunk_digest, file_digest
from gpu_render.dataset.mesh_files import load_mesh_file
from gpu_render.presets.lmdb_store import PARTIAL, GrowingLmdb, db_name, write_pickle
from gpu_render.presets.modelnet_tree import CadModel, check_tree_unchanged, scan_tree, tree_record
from gpu_render.presets.npz_stream import NpzStream
from gpu_render.presets.options import MODELNET10_CATEGORIES, ModelNetOptions
from gpu_render.presets.pipeline import IN_FLIGHT, Chunk, render_chunks, todo
from gpu_render.presets.rotations import uniform_rotations
from gpu_render.presets.sinks import GreyJpegBytesSink
from gpu_render.presets.state import PresetState
from gpu_render.presets.symsol import PresetResult
from gpu_render.progress import Progress
from gpu_render.render.egl_devices import headless_on
from gpu_render.rotations.quaternion import matrix_to_quaternion, quaternion_to_matrix
from gpu_render.scene.scene import ObjectScene
from gpu_render.scene.viewpoint import viewpoint_from_rotation

NPZ_FOLDER = "modelnet10"


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


def model_rotations(opts: ModelNetOptions, model: CadModel) -> np.ndarray:
    """(V, 3, 3) float64 R of a model's views, V = TRAIN or TEST views."""
    return uniform_rotations(
        opts.views[model.split], opts.seed, model.split, MODELNET10_CATEGORIES.index(model.category), model.cad
    )


def model_chunks(opts: ModelNetOptions, models: list[CadModel]) -> Iterator[Chunk]:
    """One chunk per model."""
    start = 0
    for k, model in enumerate(models):
        r = model_rotations(opts, model)
        yield Chunk(k, start, k, r)
        start += len(r)


def run_modelnet(opts: ModelNetOptions, progress: bool = True) -> PresetResult:
    """Build (or resume) ModelNet10-SO3 from ``opts.meshes``. Raises UsageError (naming a bad
    file or folder), OSError, NoOpenGLError, WorkerError."""
    t0 = time.perf_counter()
    models = scan_tree(opts.meshes, opts.categories)
    dbs = databases(opts.views)
    total = sum(opts.views[m.split] for m in models)
    signature = {**opts.signature(), "models": tree_record(models)}
    check_tree_unchanged(opts.out, signature, models)
    state = PresetState(opts.out, signature)
    pool = EncoderPool(GreyJpegBytesSink(), (opts.size,), max(opts.views), opts.workers, IN_FLIGHT + 1)
    stores: dict[str, GrowingLmdb] = {}
    try:
        with headless_on(opts.device) as gl:
            state.renderer = gl.renderer_name
            if state.open(partial_names=[db_name(d.name) + PARTIAL for d in dbs]):
                return PresetResult(total, 0, 0.0, gl.renderer_name)
            for d in dbs:
                final, partial = opts.out / db_name(d.name), opts.out / (db_name(d.name) + PARTIAL)
                if partial.exists() or not final.exists():
                    stores[d.name] = GrowingLmdb(partial)
            chunks = list(model_chunks(opts, models))
            already = sum(len(c.rotation) for c in chunks if c.key in state.done)
            bar = Progress(total, already, "modelnet10-so3", enabled=progress, unit="image")

            def settle(chunk: Chunk, jpegs: list[bytes]) -> None:
                model = models[chunk.key]
                for d in dbs:
                    if d.split == model.split and d.name in stores:
                        stores[d.name].put_many([(model.key(v + 1).encode(), jpegs[v]) for v in range(d.views)])
                state.record(
                    chunk.key,
                    {
                        "model": str(model.path),
                        "start": chunk.start,
                        "stop": chunk.start + len(jpegs),
                        "sha256": chunk_digest(file_digest(j) for j in jpegs),
                    },
                )
                bar.update(len(jpegs))

            def scene_of(group: int) -> ObjectScene:
                path = models[group].path
                return ObjectScene(load_mesh_file(path), opts.camera, opts.look)

            try:
                render_chunks(gl, pool, opts.size, todo(chunks, state.done), scene_of, settle)
            finally:
                bar.close()
            pool.close()
            for d in dbs:
                if d.name in stores:
                    seal_database(opts, d, [m for m in models if m.split == d.split], stores.pop(d.name))
            write_npz_files(opts, models, progress)
            seconds = time.perf_counter() - t0
            state.seal(seconds)
            return PresetResult(total, total - already, seconds, gl.renderer_name)
    finally:
        pool.terminate()
        for store in stores.values():
            store.close()
        state.close()


def view_labels(
    opts: ModelNetOptions, models: list[CadModel], views: int
) -> Iterator[tuple[str, CadModel, np.ndarray]]:
    """(key, model, R (3, 3) float64) of the first ``views`` views of each model, in database order."""
    for model in models:
        r = model_rotations(opts, model)
        for v in range(views):
            yield model.key(v + 1), model, r[v]


def seal_database(opts: ModelNetOptions, d: Database, models: list[CadModel], store: GrowingLmdb) -> None:
    """Write the two pickles into a complete database and give it its final name."""
    quats, eulers = pickle_values(opts, d, models)
    write_pickle(store.folder / "viewID2quat.pkl", quats)
    write_pickle(store.folder / "viewID2euler.pkl", eulers)
    store.close()
    final = opts.out / db_name(d.name)
    if final.exists():  # only a database this very build left unsealed can be here
        shutil.rmtree(final)
    os.replace(store.folder, final)


def pickle_values(
    opts: ModelNetOptions, d: Database, models: list[CadModel]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The dicts of database ``d``'s ``viewID2quat.pkl`` (key -> (4,) float64 (w, x, y, z))
    and ``viewID2euler.pkl`` (key -> (3,) float64 azimuth, elevation, theta, radians), in key order."""
    quats: dict[str, np.ndarray] = {}
    eulers: dict[str, np.ndarray] = {}
    for model in models:  # vectorised per model: a full train_100V has 400k keys
        r = model_rotations(opts, model)[: d.views]
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


def write_npz_files(opts: ModelNetOptions, models: list[CadModel], progress: bool = False) -> None:
    """``OUT/modelnet10/modelnet10_{train,limited_train,test}.npz`` as image2sphere's
    prepare_modelnet10.py makes them from the databases: ``imgs`` uint8 (L, S, S, 1) (the
    JPEG decoded, channel 0), ``rots`` float32 (L, 3, 3) from the quaternion, ``cat_ids`` int64 (L,)."""
    folder = opts.out / NPZ_FOLDER
    folder.mkdir(exist_ok=True)
    by_name = {d.name: d for d in databases(opts.views)}
    sources = npz_sources(opts.views)
    total = sum(
        opts.views[by_name[s].split] * sum(m.split == by_name[s].split for m in models) for s in sources.values()
    )
    bar = Progress(total, 0, "modelnet10 npz", enabled=progress, unit="image")
    try:
        for npz_name, source in sources.items():
            _write_npz(opts, models, folder / f"modelnet10_{npz_name}.npz", by_name[source], bar)
    finally:
        bar.close()


def _write_npz(opts: ModelNetOptions, models: list[CadModel], path: Path, d: Database, bar: Progress) -> None:
    """One of image2sphere's npz files, from database ``d`` (complete, under its final name)."""
    labels = list(view_labels(opts, [m for m in models if m.split == d.split], d.views))
    s = opts.size
    env = lmdb.open(str(opts.out / db_name(d.name)), readonly=True, lock=False)
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
