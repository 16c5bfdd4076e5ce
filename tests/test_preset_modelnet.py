"""``--preset modelnet10-so3`` on a tiny ModelNet-style tree made here with trimesh: the
databases read as Spherical Regression and image2sphere read them (FORMATS.md: lmdb read-only
with lock=False, cv2.imdecode, pickles with encoding="latin1"), image2sphere's npz files,
the images against the CPU reference of their labels, refusals, and resume after a failure."""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import lmdb
import numpy as np
import pytest
import trimesh

from gpu_render.cli.build import main as build_main
from gpu_render.cli.verify import edge_pixels
from gpu_render.cli.verify import main as verify_main
from gpu_render.dataset.layouts.modelnet import MODELNET10_CATEGORIES, MODELNET_LOOK
from gpu_render.dataset.mesh_files import load_mesh_file
from gpu_render.render.scene_reference import render_scene
from gpu_render.rotations.quaternion import quaternion_to_matrix
from gpu_render.scene.camera import Pinhole
from gpu_render.scene.viewpoint import rotation_from_viewpoint
from tests.cli import run_module

CATEGORIES = ("bathtub", "chair", "toilet")
MODELS = {"train": (1, 2), "test": (7,)}
VIEWS = (4, 2)
SIZE = 224
ARGS = (
    "--preset",
    "modelnet10-so3",
    "--categories",
    ",".join(CATEGORIES),
    "--views",
    f"{VIEWS[0]},{VIEWS[1]}",
    "--workers",
    "1",
)  # a later --views overrides
ROT_TOL = 1e-6
#: Reference parity of a JPEG image of an antialiased object, away from the reference's edges.
CHANNEL_TOLERANCE = 8
PIXEL_AGREEMENT = 0.99
WHITE = 255


def make_mesh(seed: int) -> trimesh.Trimesh:
    """A small non-symmetric mesh: a box with an off-centre box and a cone beside it."""
    rng = np.random.default_rng(seed)
    parts = [
        trimesh.creation.box(extents=rng.uniform(0.4, 1.2, 3)),
        trimesh.creation.box(extents=rng.uniform(0.1, 0.4, 3)).apply_translation(rng.uniform(0.3, 0.6, 3)),
        trimesh.creation.cone(radius=0.2, height=0.5, sections=7).apply_translation((-0.5, 0.2, 0.1)),
    ]
    return trimesh.util.concatenate(parts)


def make_tree(root: Path, categories: tuple[str, ...] = CATEGORIES) -> Path:
    for c, category in enumerate(categories):
        for split, numbers in MODELS.items():
            folder = root / category / split
            folder.mkdir(parents=True)
            for n in numbers:
                make_mesh(100 * c + n).export(folder / f"{category}_{n:04d}.off")
    return root


def expected_keys(split: str, views: int) -> list[str]:
    return [f"{c}_{n:04d}.v{v:03d}" for c in CATEGORIES for n in MODELS[split] for v in range(1, views + 1)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("modelnet")
    tree = make_tree(base / "ModelNet10")
    out = base / "ModelNet10-SO3"
    r = run_module("gpu_render.build", *ARGS, "--meshes", tree, "--out", out)
    assert r.code == 0, r.err
    return tree, out


def read_database(folder: Path) -> tuple[dict[str, np.ndarray], dict, dict, dict[str, bytes]]:
    """As the benchmarks' readers do: lmdb read-only, lock=False; cv2.imdecode (BGR); pickles latin1."""
    with open(folder / "viewID2quat.pkl", "rb") as f:
        quats = pickle.load(f, encoding="latin1")
    with open(folder / "viewID2euler.pkl", "rb") as f:
        eulers = pickle.load(f, encoding="latin1")
    env = lmdb.open(str(folder), readonly=True, lock=False)
    images, raw = {}, {}
    with env.begin() as txn:
        for key in quats:
            data = txn.get(key.encode("utf8"))
            assert data is not None, key
            raw[key] = bytes(data)
            images[key] = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        stored = [k.decode("utf8") for k, _ in txn.cursor()]
    env.close()
    assert sorted(stored) == sorted(quats), "the database holds exactly the pickles' keys"
    return images, quats, eulers, raw


def test_layout(built: tuple[Path, Path]) -> None:
    _, out = built
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "manifest.json",
        "modelnet10",
        "test_2V.Rawjpg.lmdb",
        "train_2V.Rawjpg.lmdb",
        "train_4V.Rawjpg.lmdb",
    ]
    for name in ("train_4V", "train_2V", "test_2V"):
        assert sorted(p.name for p in (out / f"{name}.Rawjpg.lmdb").iterdir()) == [
            "data.mdb",
            "lock.mdb",
            "viewID2euler.pkl",
            "viewID2quat.pkl",
        ]
    assert sorted(p.name for p in (out / "modelnet10").iterdir()) == [
        "modelnet10_limited_train.npz",
        "modelnet10_test.npz",
        "modelnet10_train.npz",
    ]


@pytest.mark.parametrize(
    ("name", "split", "views"), [("train_4V", "train", 4), ("train_2V", "train", 2), ("test_2V", "test", 2)]
)
def test_database_read_as_the_benchmarks_do(built: tuple[Path, Path], name: str, split: str, views: int) -> None:
    tree, out = built
    images, quats, eulers, _ = read_database(out / f"{name}.Rawjpg.lmdb")
    assert list(quats) == expected_keys(split, views) and list(eulers) == list(quats)
    for pkl in ("viewID2quat.pkl", "viewID2euler.pkl"):
        # numpy 2 would name numpy._core, which the benchmarks' numpy 1.x cannot import
        assert b"_core" not in (out / f"{name}.Rawjpg.lmdb" / pkl).read_bytes()
    # Spherical Regression flips with -quat: the values must be arrays
    assert all(isinstance(q, np.ndarray) and q.dtype == np.float64 for q in quats.values())
    for key, img in images.items():
        assert img.shape == (SIZE, SIZE, 3) and img.dtype == np.uint8
        assert np.array_equal(img[..., 0], img[..., 1]) and np.array_equal(img[..., 0], img[..., 2]), key
        border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
        assert (border == WHITE).all(), f"{key}: background not white"
        assert (img < 200).any(), f"{key}: no object drawn"
        q = np.asarray(quats[key], dtype=np.float64)
        assert q.shape == (4,) and abs(np.linalg.norm(q) - 1) < 1e-9 and q[0] >= 0
        e = np.asarray(eulers[key], dtype=np.float64)
        assert e.shape == (3,)
        r = quaternion_to_matrix(q[None])[0]
        np.testing.assert_allclose(rotation_from_viewpoint(e[:1], e[1:2], e[2:])[0], r, atol=1e-9)
    # one image per model against the CPU reference of its own label
    for category in CATEGORIES:
        number = MODELS[split][0]
        key = f"{category}_{number:04d}.v{views:03d}"
        obj = load_mesh_file(tree / category / split / f"{category}_{number:04d}.off")
        r = quaternion_to_matrix(np.asarray(quats[key], dtype=np.float64)[None])
        want = render_scene(obj, Pinhole(), MODELNET_LOOK, r, SIZE)[0]
        got = images[key][..., ::-1]  # BGR -> RGB
        close = (np.abs(got.astype(np.int16) - want.astype(np.int16)) <= CHANNEL_TOLERANCE).all(-1)
        score = float((close | edge_pixels(want)).mean())
        assert score >= PIXEL_AGREEMENT, (key, score)


def test_small_train_database_is_the_first_views(built: tuple[Path, Path]) -> None:
    _, out = built
    _, q4, e4, raw4 = read_database(out / "train_4V.Rawjpg.lmdb")
    _, q2, e2, raw2 = read_database(out / "train_2V.Rawjpg.lmdb")
    for key in q2:
        assert raw2[key] == raw4[key]
        np.testing.assert_array_equal(q2[key], q4[key])
        np.testing.assert_array_equal(e2[key], e4[key])
    # views of one model differ, and models differ
    assert raw4["chair_0001.v001"] != raw4["chair_0001.v002"] != raw4["chair_0002.v001"]


@pytest.mark.parametrize(("npz", "name"), [("train", "train_4V"), ("limited_train", "train_2V"), ("test", "test_2V")])
def test_image2sphere_npz(built: tuple[Path, Path], npz: str, name: str) -> None:
    """What image2sphere's prepare_modelnet10.py would make of the database, and what its
    ModelNet10Dataset reads from OUT/modelnet10."""
    _, out = built
    images, quats, _, _ = read_database(out / f"{name}.Rawjpg.lmdb")
    data = np.load(out / "modelnet10" / f"modelnet10_{npz}.npz")
    n = len(quats)
    assert data["imgs"].shape == (n, SIZE, SIZE, 1) and data["imgs"].dtype == np.uint8
    assert data["rots"].shape == (n, 3, 3) and data["rots"].dtype == np.float32
    assert data["cat_ids"].shape == (n,) and np.issubdtype(data["cat_ids"].dtype, np.integer)
    for i, (key, q) in enumerate(quats.items()):
        assert np.array_equal(data["imgs"][i, ..., 0], images[key][..., 0]), key
        np.testing.assert_allclose(data["rots"][i], quaternion_to_matrix(np.asarray(q)[None])[0], atol=ROT_TOL)
        assert data["cat_ids"][i] == MODELNET10_CATEGORIES.index("_".join(key.split(".")[0].split("_")[:-1]))


def test_bad_trees_are_refused_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Checked before anything starts, so run in-process: one line naming the file, exit 2, nothing written."""
    tree = make_tree(tmp_path / "t", ("chair",))
    cases = [
        (["--categories", "chair,sofa"], f"{tree / 'sofa'}"),
        (["--categories", "chair", "--meshes", str(tmp_path / "none")], "no such folder"),
    ]
    empty = tmp_path / "empty"
    for split in ("train", "test"):
        (empty / "chair" / split).mkdir(parents=True)
    cases.append((["--categories", "chair", "--meshes", str(empty)], "no train meshes"))
    for extra, message in cases:
        args = [
            "--preset",
            "modelnet10-so3",
            "--views",
            "2,1",
            "--out",
            str(tmp_path / "o"),
            "--meshes",
            str(tree),
            *extra,
        ]
        assert build_main(args) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (extra, err)
        assert not (tmp_path / "o").exists()


def test_unreadable_mesh_stops_then_resumes(built: tuple[Path, Path], tmp_path: Path) -> None:
    """A broken test mesh stops the build with one line naming it, after the training models
    are stored; once it is fixed, the same command finishes, with the same content as a build
    that never failed."""
    _good_tree, good_out = built
    tree = make_tree(tmp_path / "ModelNet10")
    broken = tree / "toilet" / "test" / "toilet_0007.off"
    saved = broken.read_bytes()
    broken.write_text("OFF\n3 1 0\n0 0 0\n1 0 0\n")  # truncated: a vertex and the face are missing
    out = tmp_path / "out"
    r = run_module("gpu_render.build", *ARGS, "--meshes", tree, "--out", out)
    assert r.code == 2
    assert str(broken) in r.one_line_error()
    assert not (out / "train_4V.Rawjpg.lmdb").exists(), "an unfinished database never has its final name"
    assert len(list((out / ".progress").glob("chunk_*.json"))) >= 6
    # a model added in between would shift every chunk after it: refused, nothing changed
    added = tree / "bathtub" / "train" / "bathtub_0000.off"
    make_mesh(99).export(added)
    before = sorted(p.name for p in out.rglob("*"))
    r = run_module("gpu_render.build", *ARGS, "--meshes", tree, "--out", out)
    assert r.code == 2
    assert (
        "the mesh tree changed since this build started (9 models then, 10 now; model 0 was "
        "bathtub/train/bathtub_0001.off, is now bathtub/train/bathtub_0000.off)"
    ) in r.one_line_error()
    assert sorted(p.name for p in out.rglob("*")) == before
    added.unlink()
    broken.write_bytes(saved)
    r = run_module("gpu_render.build", *ARGS, "--meshes", tree, "--out", out)
    assert r.code == 0, r.err
    assert "built 6 of 30" in r.out  # the 3 test models x 2 views were left
    for name in ("train_4V", "train_2V", "test_2V"):
        _, _q, _, raw = read_database(out / f"{name}.Rawjpg.lmdb")
        _, _q0, _, raw0 = read_database(good_out / f"{name}.Rawjpg.lmdb")
        assert raw == raw0
        assert (out / f"{name}.Rawjpg.lmdb" / "viewID2quat.pkl").read_bytes() == (
            good_out / f"{name}.Rawjpg.lmdb" / "viewID2quat.pkl"
        ).read_bytes()
    for npz in ("train", "limited_train", "test"):
        a, b = (
            np.load(out / "modelnet10" / f"modelnet10_{npz}.npz"),
            np.load(good_out / "modelnet10" / f"modelnet10_{npz}.npz"),
        )
        assert all(np.array_equal(a[k], b[k]) for k in ("imgs", "rots", "cat_ids"))
    assert not (out / ".progress").exists()


def test_verify_catches_missing_and_changed_views(
    built: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, good = built
    out = tmp_path / "copy"
    shutil.copytree(good, out)
    assert verify_main([str(out), "--reference", "1"]) == 0
    assert "OK: complete and correct" in capsys.readouterr().out
    env = lmdb.open(str(out / "train_4V.Rawjpg.lmdb"))
    with env.begin(write=True) as txn:
        txn.delete(b"chair_0002.v003")
        data = bytearray(txn.get(b"toilet_0001.v002"))
        data[len(data) // 2] ^= 0xFF
        txn.put(b"toilet_0001.v002", bytes(data))
    env.close()
    assert verify_main([str(out), "--reference", "0"]) == 1
    report = capsys.readouterr().out
    assert "key chair_0002.v003 is missing" in report
    assert f"{out / 'train_4V.Rawjpg.lmdb'}: key toilet_0001.v002 differs from its checksum" in report
    assert "train_2V: 1 view(s) differ from train_4V's, e.g. toilet_0001.v002" in report


def test_load_reads_each_database(built: tuple[Path, Path]) -> None:
    from gpu_render import load

    _, out = built
    for split, name in (("train", "train_4V"), ("limited_train", "train_2V"), ("test", "test_2V")):
        images, quats, _, _ = read_database(out / f"{name}.Rawjpg.lmdb")
        data = load(out, split)
        assert len(data) == len(quats) and data.keys == list(quats)
        for i in (0, len(data) - 1):
            key = data.keys[i]
            np.testing.assert_array_equal(data.image(i), images[key])
            np.testing.assert_allclose(data.rotation(i), quaternion_to_matrix(np.asarray(quats[key])[None])[0])
            assert MODELNET10_CATEGORIES[data.class_index(i)] == key.split(".")[0].rsplit("_", 1)[0]


def test_killed_build_resumes_to_the_same_content(tmp_path: Path) -> None:
    """kill -9 after some models are stored (each model is one LMDB transaction and one record);
    the same command finishes the databases with what an uninterrupted build writes."""
    tree = make_tree(tmp_path / "ModelNet10")
    args = [*ARGS, "--views", "30,1", "--sizes", "32", "--meshes", str(tree)]
    out = tmp_path / "killed"
    p = subprocess.Popen(
        [sys.executable, "-m", "gpu_render.build", *args, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and p.poll() is None:
        if len(list((out / ".progress").glob("chunk_*.json"))) >= 2:
            break
        time.sleep(0.01)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    done = len(list((out / ".progress").glob("chunk_*.json")))
    assert 2 <= done < 9, done
    r = run_module("gpu_render.build", *args, "--out", out)
    assert r.code == 0, r.err
    fresh = tmp_path / "fresh"
    r = run_module("gpu_render.build", *args, "--out", fresh)
    assert r.code == 0, r.err
    for name in ("train_30V", "train_1V", "test_1V"):
        a, b = out / f"{name}.Rawjpg.lmdb", fresh / f"{name}.Rawjpg.lmdb"
        assert read_database(a)[3] == read_database(b)[3]
        for pkl in ("viewID2quat.pkl", "viewID2euler.pkl"):
            assert (a / pkl).read_bytes() == (b / pkl).read_bytes()
    for npz in ("train", "limited_train", "test"):
        path = Path("modelnet10") / f"modelnet10_{npz}.npz"
        assert (out / path).read_bytes() == (fresh / path).read_bytes()
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in fresh.iterdir())


def test_lmdb_map_grows_as_it_fills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Start with a map far too small: every write still lands (the map doubles when full), and
    a database reopened for resume starts with room for what it holds."""
    from gpu_render.dataset.layouts import lmdb_store

    monkeypatch.setattr(lmdb_store, "INITIAL_MAP", 64 << 10)
    store = lmdb_store.GrowingLmdb(tmp_path / "db")
    values = {f"k{i:03d}".encode(): bytes([i % 251]) * 50_000 for i in range(60)}  # 3 MB in 64 KiB
    items = list(values.items())
    for a in range(0, len(items), 7):
        store.put_many(items[a : a + 7])
    assert store.env.info()["map_size"] > 3_000_000
    store.close()
    again = lmdb_store.GrowingLmdb(tmp_path / "db")
    assert again.env.info()["map_size"] >= 2 * (tmp_path / "db" / "data.mdb").stat().st_size
    again.close()
    env = lmdb.open(str(tmp_path / "db"), readonly=True, lock=False)
    with env.begin() as txn:
        assert {bytes(k): bytes(v) for k, v in txn.cursor()} == values
    env.close()


def test_verify_recomputes_pickles_and_npz_files(
    built: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Changed labels are caught, naming the file and the array: zeroed Euler angles, and an
    image2sphere npz rewritten with black images, identity rotations and one class."""
    _, good = built
    out = tmp_path / "labels"
    shutil.copytree(good, out)
    euler = out / "train_2V.Rawjpg.lmdb" / "viewID2euler.pkl"
    with open(euler, "rb") as f:
        values = pickle.load(f, encoding="latin1")
    with open(euler, "wb") as f:
        pickle.dump({k: np.zeros(3) for k in values}, f, protocol=2)
    npz = out / "modelnet10" / "modelnet10_test.npz"
    with np.load(npz) as data:
        n = len(data["rots"])
        np.savez_compressed(
            npz,
            imgs=np.zeros_like(data["imgs"]),
            rots=np.tile(np.eye(3, dtype=np.float32), (n, 1, 1)),
            cat_ids=np.full(n, 9, dtype=np.int64),
        )
    assert verify_main([str(out), "--reference", "0"]) == 1
    report = capsys.readouterr().out
    assert "train_2V.Rawjpg.lmdb/viewID2euler.pkl: values differs from a fresh computation" in report
    for array in ("rots", "cat_ids"):
        assert f"modelnet10_test.npz: {array} differs from a fresh computation" in report, array
    assert f"modelnet10_test.npz: imgs differs from the database's JPEG decoded in {n} of {n} sampled row(s)" in report
    assert "OK: complete and correct" not in report


def test_mesh_names_duplicates_and_unreadable_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """NNNN is exactly four digits; two files of one number in a split, and a folder that cannot
    be listed, are one line naming them, exit 2, nothing written (checked before anything starts)."""
    tree = make_tree(tmp_path / "t", ("chair",))
    train = tree / "chair" / "train"
    out = tmp_path / "o"

    def refused(message: str) -> None:
        args = [
            "--preset",
            "modelnet10-so3",
            "--views",
            "2,1",
            "--categories",
            "chair",
            "--meshes",
            str(tree),
            "--out",
            str(out),
        ]
        assert build_main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (message, err)
        assert not out.exists()

    shutil.copy(train / "chair_0002.off", train / "chair_002.off")
    refused(f"{train}: chair_0002.off and chair_002.off are both model 0002 of one split")
    (train / "chair_002.off").unlink()
    for name in ("chair_3.off", "chair_12345.off"):
        shutil.copy(train / "chair_0002.off", train / name)
        refused(f"{train / name}: not named chair_NNNN.off (NNNN: four digits)")
        (train / name).unlink()
    # root ignores permissions, so the folder fails to list as it does for another user
    listing = Path.iterdir

    def iterdir(self: Path):
        if self == train:
            raise PermissionError(13, "Permission denied", str(self))
        return listing(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    refused(f"--meshes {tree}: cannot read {train}: Permission denied")


def test_limited_train_when_train_views_do_not_exceed_test(tmp_path: Path) -> None:
    """--views 1,2: no train_2V (a training model has 1 view); limited_train is train_1V's,
    as FORMATS.md and --views' help say, and gpu_render.load opens it."""
    from gpu_render import load

    tree = make_tree(tmp_path / "ModelNet10", ("chair",))
    out = tmp_path / "out"
    r = run_module(
        "gpu_render.build",
        *ARGS,
        "--categories",
        "chair",
        "--views",
        "1,2",
        "--sizes",
        "32",
        "--meshes",
        tree,
        "--out",
        out,
    )
    assert r.code == 0, r.err
    assert sorted(p.name for p in out.glob("*.lmdb")) == ["test_2V.Rawjpg.lmdb", "train_1V.Rawjpg.lmdb"]
    train, limited = (np.load(out / "modelnet10" / f"modelnet10_{n}.npz") for n in ("train", "limited_train"))
    assert len(train["imgs"]) == len(MODELS["train"])
    for key in ("imgs", "rots", "cat_ids"):
        assert np.array_equal(train[key], limited[key])
    assert load(out, "limited_train").keys == load(out, "train").keys == ["chair_0001.v001", "chair_0002.v001"]
    text = " ".join((Path(__file__).parents[1] / "docs" / "FORMATS.md").read_text().split())
    assert "no `train_{TEST}V` is written and `modelnet10_limited_train.npz` is made from `train_{TRAIN}V`" in text
    help_text = " ".join(run_module("gpu_render.build", "--preset", "modelnet10-so3", "--help").out.split())
    assert "only when TRAIN > TEST, else limited_train is train_TRAINV" in help_text


def test_verify_reads_a_damaged_pickle_as_one_problem(
    built: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every one-byte change of a pickle is reported (its checksum; and what unpickling makes of
    it), naming the file; verify never stops on one."""
    from gpu_render.cli.verify_presets import verify_preset

    _, good = built
    out = tmp_path / "copy"
    shutil.copytree(good, out)
    path = out / "test_2V.Rawjpg.lmdb" / "viewID2quat.pkl"
    data = path.read_bytes()
    cases = [(at, x) for at in range(0, len(data), max(1, len(data) // 60)) for x in (0x01, 0xFF)]
    for at, x in cases:
        damaged = bytearray(data)
        damaged[at] ^= x
        path.write_bytes(bytes(damaged))
        problems = verify_preset(out, reference=0).problems
        assert f"{path}: differs from the sha256 the build recorded (changed since it was built)" in problems, (at, x)
    assert len(cases) >= 100
    path.write_bytes(data[: len(data) // 2])
    assert verify_main([str(out), "--reference", "0"]) == 1
    report = capsys.readouterr().out
    assert f"{path}: not readable (" in report and "OK: complete" not in report


def test_verify_reports_files_the_build_never_writes(
    built: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, good = built
    out = tmp_path / "copy"
    shutil.copytree(good, out)
    assert verify_main([str(out), "--reference", "0"]) == 0
    report = capsys.readouterr().out
    assert "checksums: 9 of 9 whole file(s) match the manifest" in report  # 3 databases' pickles, 3 npz
    (out / "train_4V.Rawjpg.lmdb" / "old.mdb").write_bytes(b"x")
    (out / "README.txt").write_text("the user's")
    assert verify_main([str(out), "--reference", "0"]) == 1
    report = capsys.readouterr().out
    assert f"{out / 'train_4V.Rawjpg.lmdb' / 'old.mdb'}: a file the build never writes, inside" in report
    assert f"extra: {out / 'README.txt'}: a file the build never writes (left alone; not a problem)" in report
    assert "FAILED: 1 problem(s)" in report
