"""One interface for every layout: ``gpu_render.load(OUT)`` of each small build of
tools/pin_bytes.py (cube jpg/png/npy/wds, tetX with --layers, imagenet3d, symsol,
modelnet10-so3) indexes to ``(image, labels)``, has ``class_index(i)``, closes; ``TorchDataset``
gives the same items as tensors through ``transform`` / ``target_transform``; and
``import gpu_render`` stays light."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

import gpu_render
from gpu_render.dataset.loader import Arrays, Loaded
from gpu_render.rotations.quaternion import quaternion_to_matrix
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import pin_bytes

LAYOUTS = tuple(pin_bytes.BUILDS)
#: Modules ``import gpu_render`` must not load.
HEAVY = ("torch", "moderngl", "fastapi", "ray", "lmdb", "gpu_render.render", "gpu_render.stream")
#: float32 against float64.
FLOAT32 = 1e-6


@pytest.fixture(scope="module")
def outs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return pin_bytes.run_builds(tmp_path_factory.mktemp("layouts"))


def stored_image(out: Path, name: str, index: int, size: int) -> np.ndarray:
    """Pose ``index``'s image read straight from the files of build ``name``."""
    if name == "cube-npy":
        return np.load(out / f"images_{size}.npy")[index]
    if name in ("cube-jpg", "cube-png", "tetX-layers"):
        ext = "png" if name != "cube-jpg" else "jpg"
        return np.asarray(Image.open(out / str(size) / f"cube1_index_{index + 1}.{ext}").convert("RGB"))
    if name == "icosa-imagenet3d":
        return np.asarray(Image.open(out / "images" / "icosa" / f"icosa_{index:06d}.JPEG").convert("RGB"))
    raise KeyError(name)


@pytest.mark.parametrize("name", LAYOUTS)
def test_every_layout_indexes_to_an_image_and_its_labels(name: str, outs: dict[str, Path]) -> None:
    out = outs[name]
    with gpu_render.load(out) as data:
        assert isinstance(data, Loaded) and len(data) > 0
        n, s = len(data), data.size
        for i in (0, n - 1):
            image, labels = data[i]
            assert image.shape == (s, s, 3) and image.dtype == np.uint8
            assert np.array_equal(image, data.image(i)) and np.array_equal(data[i - n][0], image)
            if name not in ("cube-wds", "symsol", "modelnet10-so3"):
                assert np.array_equal(image, stored_image(out, name, i, s)), (name, i)
            q, r = labels["quaternion"], labels["matrix"]
            assert q.shape == (4,) and r.shape == (3, 3) and np.array_equal(data.rotation(i), r)
            np.testing.assert_allclose(quaternion_to_matrix(q[None])[0], r, atol=FLOAT32)
            k = data.class_index(i)
            assert (k is None) == ("class" not in labels)
            if k is not None:
                assert labels["class"] == k and data.class_name(i) == data.class_names[k]
            if "equivalents" in labels:
                count = int(labels["equivalent_count"])
                assert labels["equivalents"].shape == (data.largest_set, 3, 3) and 1 <= count <= data.largest_set
                np.testing.assert_allclose(labels["equivalents"][0], r, atol=FLOAT32)
        with pytest.raises(IndexError, match="out of range"):
            data[n]
        # Every item has the same names and shapes, so a batch stacks.
        keys = {name: a.shape for name, a in data[0][1].items()}
        assert all({name: a.shape for name, a in data[i][1].items()} == keys for i in range(n))
    with pytest.raises(ValueError, match="is closed"):
        data[0]
    data.close()  # twice is harmless
    assert "\n" not in repr(data) and len(repr(data)) < 200


def test_labels_are_the_poses_rows(outs: dict[str, Path]) -> None:
    with gpu_render.load(outs["tetX-layers"]) as data, np.load(outs["tetX-layers"] / "poses.npz") as poses:
        labels = data.pose(4)
        assert isinstance(data.poses["visual_equivalents"], np.memmap)  # not read in full
        for name in ("matrix", "quaternion", "translation", "mark_visible", "azimuth"):
            assert np.array_equal(labels[name], poses[name][4]), name
        assert np.array_equal(labels["intrinsics_32"], poses["intrinsics_32"])  # one K for every pose
        offsets = poses["visual_offsets"]
        own = poses["visual_equivalents"][offsets[4] : offsets[5]]
        assert labels["equivalent_count"] == len(own) and np.array_equal(labels["equivalents"][: len(own)], own)
        assert np.array_equal(labels["mask"], np.load(outs["tetX-layers"] / "mask_32.npy")[4])
        assert labels["depth"].dtype == np.float32 and data.class_name(4) == "tetX" and data.class_index(4) == 5
    with gpu_render.load(outs["cube-jpg"], size=32) as data:
        assert data.size == 32 and data[3][0].shape == (32, 32, 3)
        assert np.array_equal(data.pose(3)["labels"], np.load(outs["cube-jpg"] / "labels.npy")[3])
        assert data.class_index(3) is None and data.class_name(3) is None
    with gpu_render.load(outs["modelnet10-so3"], "test") as data:
        names = [data.class_name(i) for i in range(len(data))]
        assert set(names) == {"bed", "chair"} and all(isinstance(data.class_index(i), int) for i in range(len(data)))


def test_npz_arrays_map_stored_members_and_read_the_rest(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "c": rng.random((4, 3)),
        "f": np.asfortranarray(rng.random((3, 5))),
        "k": np.array(7),
        "e": np.zeros((0, 3)),
    }
    np.savez(tmp_path / "stored.npz", **arrays)
    np.savez_compressed(tmp_path / "deflated.npz", **arrays)
    for name, mapped in (("stored", {"c", "f"}), ("deflated", set())):
        got = Arrays(tmp_path / f"{name}.npz")
        assert sorted(got) == sorted(arrays) and len(got) == len(arrays)
        for key, want in arrays.items():
            assert np.array_equal(got[key], want) and got[key].shape == want.shape and got[key].dtype == want.dtype
        assert {key for key in arrays if isinstance(got[key], np.memmap)} == mapped, name
        with pytest.raises(KeyError, match="has no array 'x'"):
            got["x"]


def test_forked_dataloader_workers_read_what_one_process_reads(outs: dict[str, Path]) -> None:
    for name in ("cube-wds", "tetX-layers", "modelnet10-so3"):
        with gpu_render.TorchDataset(outs[name]) as ds:
            alone = list(DataLoader(ds, batch_size=3))
        with gpu_render.TorchDataset(outs[name]) as ds:
            forked = list(DataLoader(ds, batch_size=3, num_workers=2, multiprocessing_context="fork", timeout=120))
        assert len(alone) == len(forked) > 1
        for (x, y), (fx, fy) in zip(alone, forked, strict=True):
            assert torch.equal(x, fx) and all(torch.equal(y[k], fy[k]) for k in y), name


def test_load_refuses_what_the_folder_does_not_have(outs: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="has no splits"):
        gpu_render.load(outs["cube-png"], "train")
    with pytest.raises(ValueError, match="has size 32, not 64"):
        gpu_render.load(outs["symsol"], "train", size=64)
    with pytest.raises(ValueError, match="has sizes \\[32, 64\\], not 16"):
        gpu_render.load(outs["cube-npy"], size=16)
    with gpu_render.load(outs["cube-npy"]) as data, pytest.raises(TypeError, match="integer, not slice"):
        data[0:2]


@pytest.mark.parametrize("name", LAYOUTS)
def test_torch_dataset_items_with_transforms(name: str, outs: dict[str, Path]) -> None:
    out = outs[name]
    with gpu_render.TorchDataset(out) as plain:  # (an LMDB database opens once at a time per process)
        data = plain.data
        image, labels = plain[1]
        s = data.size
        assert image.shape == (3, s, s) and image.dtype == torch.float32
        assert torch.equal(image, torch.from_numpy(data[1][0].copy()).permute(2, 0, 1).to(torch.float32).div_(255.0))
        assert set(labels) == set(data.pose(1))
        for key, t in labels.items():
            want = data.pose(1)[key]
            assert tuple(t.shape) == want.shape, key
            kind = (
                torch.int64
                if key in ("class", "equivalent_count")
                else torch.bool
                if want.dtype == bool
                else torch.float32
            )
            assert t.dtype == kind, key
            assert np.allclose(t.numpy(), want, atol=FLOAT32), key
    seen: list[dict[str, torch.Tensor]] = []

    def target(y: dict[str, torch.Tensor]) -> torch.Tensor:
        seen.append(y)
        return y["matrix"]

    with gpu_render.TorchDataset(out, transform=lambda x: x.mean(0), target_transform=target) as changed:
        grey, matrix = changed[1]
        assert torch.equal(grey, image.mean(0)) and torch.equal(matrix, labels["matrix"])
        assert len(seen) == 1 and set(seen[0]) == set(labels)
    with gpu_render.TorchDataset(out) as again:
        images, batch = next(iter(DataLoader(again, batch_size=len(again))))
        assert images.shape == (len(again), 3, s, s) and batch["matrix"].shape == (len(again), 3, 3)


def test_import_gpu_render_is_light_and_names_the_api() -> None:
    code = (
        "import json, sys, gpu_render\n"
        "before = sorted(m for m in sys.modules)\n"
        "names = [n for n in ('load', 'Renderer', 'SceneSpec', 'RenderStream', 'StreamingDataset', 'TorchDataset')"
        " if callable(getattr(gpu_render, n))]\n"
        "print(json.dumps({'modules': before, 'names': names, 'torch': 'torch' in sys.modules}))"
    )
    p = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    loaded = [m for m in got["modules"] if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert loaded == []
    assert got["names"] == ["load", "Renderer", "SceneSpec", "RenderStream", "StreamingDataset", "TorchDataset"]
    assert got["torch"]  # TorchDataset, asked for, did import it
    assert gpu_render.TorchDataset.__module__ == "gpu_render.presets.torch_dataset"
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = gpu_render.Nothing
