"""Every object ``gpu_render.load`` returns closes (``close()``, ``with``), and shows itself in
one short line: an LMDB database opened through it can be opened again in the same process."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import lmdb
import numpy as np
import pytest

import gpu_render
from gpu_render import TorchDataset
from gpu_render.dataset.loader import Dataset
from gpu_render.presets.load import ModelNetSplit, SymsolSplit
from tests.cli import run_module
from tests.conftest import REPO

MAX_REPR = 200


@pytest.fixture(scope="module")
def modelnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("mn")
    subprocess.run([sys.executable, str(REPO / "tools" / "demo_modelnet_tree.py"), str(base / "tree")], check=True)
    out = base / "ModelNet10-SO3"
    r = run_module(
        "gpu_render.build",
        "--preset",
        "modelnet10-so3",
        "--meshes",
        base / "tree",
        "--categories",
        "chair,table",
        "--views",
        "2,1",
        "--sizes",
        "32",
        "--workers",
        "1",
        "--out",
        out,
    )
    assert r.code == 0, r.err
    return out


@pytest.fixture(scope="module")
def symsol(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sym") / "symsol"
    r = run_module(
        "gpu_render.build",
        "--preset",
        "symsol",
        "--shapes",
        "cube,tetX",
        "--views",
        "3,1",
        "--sizes",
        "16",
        "--workers",
        "1",
        "--out",
        out,
    )
    assert r.code == 0, r.err
    return out


@pytest.fixture(scope="module", params=["jpg", "wds"])
def cube(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp(f"cube-{request.param}") / "o"
    r = run_module(
        "gpu_render.build",
        "--step",
        "1.0",
        "--sizes",
        "8,16",
        "--batch",
        "64",
        "--format",
        request.param,
        "--workers",
        "1",
        "--out",
        out,
    )
    assert r.code == 0, r.err
    return out


def test_lmdb_opened_through_load_closes_and_opens_again(modelnet: Path) -> None:
    with gpu_render.load(modelnet, "train") as first:
        assert isinstance(first, ModelNetSplit)
        image = first.image(3)
    with pytest.raises(ValueError, match="is closed"):
        first.image(0)
    # Open again through load, and straight with lmdb as the benchmarks' readers do.
    again = gpu_render.load(modelnet, "train")
    assert np.array_equal(again.image(3), image)
    again.close()
    again.close()  # twice is harmless
    env = lmdb.open(str(modelnet / "train_2V.Rawjpg.lmdb"), readonly=True, lock=False)
    try:
        with env.begin() as txn:
            assert txn.get(first.keys[3].encode()) is not None
    finally:
        env.close()
    third = gpu_render.load(modelnet, "test")
    assert third.image(0).shape == (32, 32, 3)
    third.close()


def test_a_split_travels_to_another_process_without_its_open_database(modelnet: Path) -> None:
    """Pickled (as a spawned DataLoader worker gets it) after reading: the copy opens the database itself."""
    split = gpu_render.load(modelnet, "train")
    image = split.image(2)
    copy = pickle.loads(pickle.dumps(split))
    split.close()  # one environment per process: the copy opens its own once this one is closed
    assert np.array_equal(copy.image(2), image)
    copy.close()


def test_an_open_lmdb_cannot_be_opened_twice(modelnet: Path) -> None:
    """What close() is for: py-lmdb refuses a second open of an environment this process holds."""
    split = gpu_render.load(modelnet, "train")
    split.image(0)
    with pytest.raises(lmdb.Error):
        lmdb.open(str(split.folder), readonly=True, lock=False)
    split.close()


def test_symsol_split_closes(symsol: Path) -> None:
    with gpu_render.load(symsol, "train") as split:
        assert isinstance(split, SymsolSplit)
        rotation = split.rotation(4)
        assert split.image(4).shape == (16, 16, 3)
    with pytest.raises(ValueError, match="is closed"):
        split.rotation(4)
    with gpu_render.load(symsol, "train") as split:
        assert np.array_equal(split.rotation(4), rotation)


def test_dataset_closes(cube: Path) -> None:
    with gpu_render.load(cube) as data:
        assert isinstance(data, Dataset)
        quaternion = np.array(data.poses["quaternion"])
    with pytest.raises(ValueError, match="is closed"):
        data[0]
    with gpu_render.load(cube) as data:
        assert np.array_equal(data.poses["quaternion"], quaternion)


def test_reprs_are_short_and_say_what_is_loaded(cube: Path, symsol: Path, modelnet: Path) -> None:
    data = gpu_render.load(cube)
    text = repr(data)
    fmt = data.manifest["format"]
    assert len(text) < MAX_REPR and "\n" not in text
    assert text == f"Dataset(path={str(cube)!r}, object='clpr-cube', poses=343, sizes=[8, 16], format={fmt!r})"
    data.close()
    with gpu_render.load(symsol, "test") as split:
        text = repr(split)
        assert len(text) < MAX_REPR
        assert text == f"SymsolSplit(path={str(symsol)!r}, split='test', images=2, shapes=2, size=16)"
    with gpu_render.load(modelnet, "limited_train") as split:
        text = repr(split)
        assert len(text) < MAX_REPR
        assert text == (
            f"ModelNetSplit(path={str(modelnet)!r}, split='limited_train', "
            f"database='train_1V.Rawjpg.lmdb', images={len(split)}, size=32)"
        )
        assert len(split) == 2 * 2  # two training models of each category, one view each


def test_torch_datasets_close_in_a_with_block(cube: Path, symsol: Path, modelnet: Path) -> None:
    with TorchDataset(cube, size=16) as dataset:
        image, labels = dataset[5]
        assert image.shape == (3, 16, 16) and labels["matrix"].shape == (3, 3)
    with pytest.raises(ValueError, match="is closed"):
        dataset[5]
    dataset.close()  # twice is harmless
    with TorchDataset(symsol, "train") as preset:
        assert preset[4][0].shape == (3, 16, 16)
    with pytest.raises(ValueError, match="is closed"):
        preset[4]
    with TorchDataset(modelnet, "train") as preset:
        first = preset[0][0]
    with gpu_render.load(modelnet, "train") as split:  # the database opens again in this process
        assert np.array_equal(split.image(0)[..., 0], (first[0].numpy() * 255).round().astype(np.uint8))
    preset.close()


def test_torch_dataset_reprs_are_short_and_say_what_is_loaded(cube: Path, symsol: Path, modelnet: Path) -> None:
    with TorchDataset(cube, size=8) as dataset:
        fmt = dataset.data.manifest["format"]
        assert repr(dataset) == (
            f"TorchDataset(path={str(cube)!r}, object='clpr-cube', poses=343, sizes=[8, 16], format={fmt!r}, size=8)"
        )
    with TorchDataset(symsol, "test") as preset:
        assert repr(preset) == f"TorchDataset(path={str(symsol)!r}, split='test', images=2, shapes=2, size=16)"
    with TorchDataset(modelnet, "limited_train") as preset:
        assert repr(preset) == (
            f"TorchDataset(path={str(modelnet)!r}, split='limited_train', database='train_1V.Rawjpg.lmdb', "
            "images=4, size=32)"
        )
    for text in (repr(dataset), repr(preset)):
        assert len(text) < MAX_REPR and "\n" not in text
