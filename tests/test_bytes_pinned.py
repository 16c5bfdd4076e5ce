"""The exact bytes of every layout, pinned: a small build of each (the cube as jpg, png, npy and
wds; tetX with --layers; --layout imagenet3d; --preset symsol; --preset modelnet10-so3 on the
demo tree) must write files whose sha256 equal those in tests/pinned_bytes.json, which
tools/pin_bytes.py makes (its docstring says what each entry hashes: the manifest without its
run-dependent values, npz members, tar members, LMDB keys, ...).

The pinned images (and whatever holds or derives from pixels: npy images, masks, depths,
shards, LMDB databases, image2sphere's arrays, chunk checksums) are what Mesa llvmpipe, the CI
renderer, draws. Where GL_RENDERER is not llvmpipe, those "drawn" entries are not compared, and
every other entry (labels.npy, poses.npz, rotations.npz, lists, annotations, the manifest
without chunk checksums, the shards' json/cls members, the pickles, ...) is still asserted.
After an intended change of the output, regenerate the table with ``python tools/pin_bytes.py --write``.
"""

from __future__ import annotations

import copy
import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import pin_bytes

Table = dict


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Table]:
    """Every build of pin_bytes.BUILDS, run as a user runs it: (the folder, its table)."""
    root = tmp_path_factory.mktemp("pinned")
    return root, pin_bytes.build_table(root)


@pytest.fixture(scope="module")
def pinned() -> Table:
    return json.loads(pin_bytes.TABLE.read_text())


def test_every_layout_writes_the_pinned_bytes(built: tuple[Path, Table], pinned: Table) -> None:
    _, table = built
    full = pin_bytes.PINNED_RENDERER in table["renderer"]
    changed = pin_bytes.differences(pinned, table, with_drawn=full)
    compared = {
        name: [e for e in b["entries"] if full or not pin_bytes.drawn(e)] for name, b in pinned["builds"].items()
    }
    assert not changed, (
        f"{len(changed)} of the {sum(map(len, compared.values()))} pinned entries differ from "
        f"{pin_bytes.TABLE.relative_to(REPO)} "
        f"(rendered by {table['renderer']}; pinned on {pinned['renderer']}"
        f"{'' if full else '; drawn entries not compared'}):\n  "
        + "\n  ".join(changed)
        + f"\nIf this change of the output is intended, regenerate the table: {pin_bytes.REGENERATE}"
    )
    assert all(compared.values())  # every build and the demo tree was compared


def test_the_table_pins_every_layout_on_llvmpipe(pinned: Table) -> None:
    assert pin_bytes.PINNED_RENDERER in pinned["renderer"]
    assert set(pinned["builds"]) == {*pin_bytes.BUILDS, pin_bytes.TREE}
    entries = {name: b["entries"] for name, b in pinned["builds"].items()}
    for name in pin_bytes.BUILDS:
        assert {"manifest.json", "manifest.json::undrawn"} <= set(entries[name]), name
        assert any(pin_bytes.drawn(e) for e in entries[name]), name  # the images are pinned
        assert any(not pin_bytes.drawn(e) for e in entries[name] if e != "manifest.json::undrawn"), name
    assert {"labels.npy", "poses.npz", "32/cube1_index_12.jpg", "64/cube1_index_1.jpg"} <= set(entries["cube-jpg"])
    assert {"images_32.npy", "images_64.npy"} <= set(entries["cube-npy"])
    assert {"32/shard-000002.tar", "32/shard-000002.tar::000011.json"} <= set(entries["cube-wds"])
    assert {"mask_32.npy", "depth_32.npy", "32/cube1_index_6.png"} <= set(entries["tetX-layers"])
    assert {
        "lists/icosa_imagenet_val.txt",
        "CAD/icosa/01.off",
        "annotations/icosa/icosa_000005.npz::fields except bbox",
    } <= set(entries["icosa-imagenet3d"])
    assert {"train/rotations.npz", "test/images/cylO_00001.png"} <= set(entries["symsol"])
    assert {
        "train_3V.Rawjpg.lmdb/data.mdb::keys",
        "test_2V.Rawjpg.lmdb/viewID2quat.pkl",
        "modelnet10/modelnet10_limited_train.npz::rots.npy",
    } <= set(entries["modelnet10-so3"])
    assert not any(pin_bytes.is_volatile_file(e) for b in entries.values() for e in b)


def test_a_changed_file_is_named_and_run_values_are_not(built: tuple[Path, Table], tmp_path: Path) -> None:
    """Tamper with a copy of the npy build: a flipped byte of labels.npy and a changed
    signature are named; a new time, duration, renderer and host in the manifest are not."""
    root, table = built
    out = tmp_path / "cube-npy"
    shutil.copytree(root / "cube-npy", out)
    labels = bytearray((out / "labels.npy").read_bytes())
    labels[-1] ^= 1
    (out / "labels.npy").write_bytes(bytes(labels))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest.update(finished_at="2000-01-01T00:00:00Z", seconds=99.0, renderer="another GPU")
    for worker in manifest["engine"]["workers"]:
        worker.update(host="elsewhere", node="elsewhere", renderer="another GPU")
    (out / "manifest.json").write_text(json.dumps(manifest))
    entries = pin_bytes.digest_tree(out, tmp_path)
    assert entries["manifest.json"] == table["builds"]["cube-npy"]["entries"]["manifest.json"]

    manifest["signature"]["batch"] += 1
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / ".lock").write_text("pid 1")  # a lock file is no part of the dataset
    tampered = copy.deepcopy(table)
    tampered["builds"]["cube-npy"]["entries"] = pin_bytes.digest_tree(out, tmp_path)
    assert pin_bytes.differences(table, tampered, with_drawn=True) == [
        "cube-npy/labels.npy: changed",
        "cube-npy/manifest.json: changed",
        "cube-npy/manifest.json::undrawn: changed",
    ]


def test_off_llvmpipe_only_the_drawn_entries_are_left_out(pinned: Table) -> None:
    """What a renderer other than llvmpipe compares: a changed image, mask or shard is not
    named, a changed label, pose file, list, annotation or shard json still is."""
    other = copy.deepcopy(pinned)
    changes = {
        ("cube-jpg", "32/cube1_index_1.jpg"): True,
        ("tetX-layers", "mask_32.npy"): True,
        ("cube-wds", "64/shard-000001.tar"): True,
        ("cube-wds", "64/shard-000001.tar::000005.jpg"): True,
        ("icosa-imagenet3d", "annotations/icosa/icosa_000000.npz"): False,  # its bbox is the CAD's
        ("cube-jpg", "manifest.json"): True,
        ("cube-jpg", "labels.npy"): False,
        ("symsol", "train/poses.npz"): False,
        ("icosa-imagenet3d", "lists/icosa_imagenet_train.txt"): False,
        ("cube-wds", "64/shard-000001.tar::000005.json"): False,
        ("icosa-imagenet3d", "annotations/icosa/icosa_000000.npz::fields except bbox"): False,
        ("cube-jpg", "manifest.json::undrawn"): False,
    }
    for (name, entry), is_drawn in changes.items():
        assert pin_bytes.drawn(entry) is is_drawn, entry
        other["builds"][name]["entries"][entry] = "0" * 64
    expected = sorted(f"{name}/{entry}: changed" for (name, entry), d in changes.items() if not d)
    assert sorted(pin_bytes.differences(pinned, other, with_drawn=False)) == expected
    assert len(pin_bytes.differences(pinned, other, with_drawn=True)) == len(changes)
