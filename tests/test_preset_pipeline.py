"""The presets go through the build's one pipeline: ``--shard K/N`` and a sealing run equal the
unsharded build byte for byte, and a half-built dataset in the previous version's record format
(a partial LMDB database, chunk records, a manifest without ``complete``) resumes and verifies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import lmdb
import pytest

from gpu_render.dataset.layouts.lmdb_store import GrowingLmdb
from tests.cli import run_module
from tests.dataset import RUN_FIELDS, files
from tests.test_preset_modelnet import ARGS as MODELNET_ARGS
from tests.test_preset_modelnet import make_tree

MODELNET = (*MODELNET_ARGS, "--views", "3,2", "--sizes", "32")
SYMSOL = (
    "--preset",
    "symsol",
    "--shapes",
    "cube,cylO",
    "--views",
    "3,2",
    "--sizes",
    "32",
    "--batch",
    "2",
    "--workers",
    "1",
)


def assert_same_dataset(got: Path, want: Path, resumed: bool = False) -> None:
    """Same files with the same bytes (but LMDB's lock.mdb, which holds its readers' pids), and
    manifests equal but for run-specific fields. resumed: a database reopened to resume holds the
    same keys and values (as the previous version promised), its pages laid out as they fell."""
    a, b = ({k: v for k, v in files(p).items() if not k.endswith("lock.mdb")} for p in (got, want))
    assert sorted(a) == sorted(b), f"file sets differ: {sorted(set(a) ^ set(b))[:5]}"
    differ = [name for name in a if a[name] != b[name]]
    if resumed:
        for name in [n for n in differ if n.endswith("data.mdb")]:
            assert database(got / name) == database(want / name), name
            differ.remove(name)
    assert differ == []
    ma, mb = (json.loads((p / "manifest.json").read_text()) for p in (got, want))
    for key in RUN_FIELDS:
        ma.pop(key, None), mb.pop(key, None)
    assert ma == mb and ma["complete"] is True


def database(data_mdb: Path) -> list[tuple[bytes, bytes]]:
    env = lmdb.open(str(data_mdb.parent), readonly=True, lock=False)
    with env.begin() as txn:
        items = [(bytes(k), bytes(v)) for k, v in txn.cursor()]
    env.close()
    return items


@pytest.fixture(scope="module")
def modelnet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the mesh tree, an uninterrupted unsharded build of it)."""
    base = tmp_path_factory.mktemp("modelnet-pipeline")
    tree = make_tree(base / "ModelNet10")
    out = base / "whole"
    r = run_module("gpu_render.build", *MODELNET, "--meshes", tree, "--out", out)
    assert r.code == 0, r.err
    return tree, out


def test_modelnet_shards_and_seal_equal_the_unsharded_build(modelnet: tuple[Path, Path], tmp_path: Path) -> None:
    tree, whole = modelnet
    out = tmp_path / "sharded"
    args = (*MODELNET, "--meshes", tree, "--out", out)
    for k in (1, 0):
        r = run_module("gpu_render.build", *args, "--shard", f"{k}/2")
        assert r.code == 0, r.err
        assert f"images of shard {k}/2 into {out}" in r.out and "seal the dataset with: " in r.out, r.out
    assert not (out / "manifest.json").exists()  # shards write parts; the sealing run writes the manifest
    r = run_module("gpu_render.build", *args)
    assert r.code == 0, r.err
    assert r.out.startswith(f"sealed {out}: all "), r.out
    assert not (out / ".progress").exists() and not (out / "shards").exists()
    assert_same_dataset(out, whole)
    assert run_module("gpu_render.verify", out, "--reference", "1").code == 0


def test_symsol_shards_and_seal_equal_the_unsharded_build(tmp_path: Path) -> None:
    whole, out = tmp_path / "whole", tmp_path / "sharded"
    assert run_module("gpu_render.build", *SYMSOL, "--out", whole).code == 0
    for k in range(3):
        r = run_module("gpu_render.build", *SYMSOL, "--out", out, "--shard", f"{k}/3")
        assert r.code == 0, r.err
    r = run_module("gpu_render.build", *SYMSOL, "--out", out)
    assert r.code == 0, r.err
    assert_same_dataset(out, whole)


def previous_version_half(whole: Path, out: Path, done: list[int]) -> None:
    """What the previous version left in ``out`` when killed with chunks ``done`` recorded: its
    manifest (``preset``, ``complete: false``, no chunks), one record per chunk in
    ``.progress/chunk_{k:06d}.json``, and the files of those chunks: PNGs for SYMSOL; for
    ModelNet10-SO3 each database under ``.partial``, one transaction per model, in chunk order."""
    manifest = json.loads((whole / "manifest.json").read_text())
    chunks = manifest["chunks"]
    out.mkdir()
    old = {k: manifest[k] for k in ("generator", "version", "preset", "signature", "renderer")}
    old.update(complete=False, seconds=None, finished_at=None, chunks={})
    (out / "manifest.json").write_text(json.dumps(old))
    (out / ".progress").mkdir()
    for k in done:
        (out / ".progress" / f"chunk_{k:06d}.json").write_text(json.dumps(chunks[str(k)]))
    if manifest["preset"] == "symsol":
        shutil.copytree(whole / "train" / "images", out / "train" / "images")  # then removed beyond `done`
        (out / "test" / "images").mkdir(parents=True)
        return
    for folder in sorted(whole.glob("*.Rawjpg.lmdb")):
        store = GrowingLmdb(out / (folder.name + ".partial"))
        env = lmdb.open(str(folder), readonly=True, lock=False)
        with env.begin() as txn:
            items = list(txn.cursor())
        env.close()
        for k in done:
            model = Path(chunks[str(k)]["model"]).stem  # e.g. bathtub_0001
            mine = [(key, value) for key, value in items if key.decode().startswith(model + ".")]
            if mine:
                store.put_many(mine)
        store.close()


def test_modelnet_resumes_a_half_build_of_the_previous_version(modelnet: tuple[Path, Path], tmp_path: Path) -> None:
    tree, whole = modelnet
    out = tmp_path / "half"
    previous_version_half(whole, out, done=[0, 1, 2])  # train models first: 6 train, 3 test in all
    r = run_module("gpu_render.build", *MODELNET, "--meshes", tree, "--out", out)
    assert r.code == 0, r.err
    assert r.out.startswith("built 15 of 24 modelnet10-so3 images"), r.out
    assert_same_dataset(out, whole, resumed=True)
    assert run_module("gpu_render.verify", out, "--reference", "1").code == 0


def test_symsol_resumes_a_half_build_of_the_previous_version(tmp_path: Path) -> None:
    whole, out = tmp_path / "whole", tmp_path / "half"
    assert run_module("gpu_render.build", *SYMSOL, "--out", whole).code == 0
    previous_version_half(whole, out, done=[0, 1, 2])  # cube's 3 train images, cylO's first 2
    (out / "train" / "images" / "cylO_00002.png").unlink()  # chunk 3: not recorded, not kept
    r = run_module("gpu_render.build", *SYMSOL, "--out", out)
    assert r.code == 0, r.err
    assert r.out.startswith("built 5 of 10 symsol images"), r.out
    assert_same_dataset(out, whole)
    assert run_module("gpu_render.verify", out, "--reference", "1").code == 0
