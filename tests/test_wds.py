"""``--format wds``: WebDataset shards read by the webdataset library exactly as its docs say
(FORMATS.md), equal to the per-file builds; loader, torch, verify, determinism, resume, shards."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
from PIL import Image

import gpu_render
from gpu_render.cli import build, verify
from gpu_render.dataset import wds as wds_module
from gpu_render.scene.solids import BUILTIN_OBJECTS
from tests.cli import assert_build_refused
from tests.dataset import assert_same_dataset

OBJECT = "tetX"
POSES = 24
ARGS = ["--object", OBJECT, "--poses", f"random:{POSES}:3", "--sizes", "32", "--batch", "8", "--workers", "2"]
CLPR_ARGS = ["--step", "1.5", "--sizes", "16,24", "--batch", "16", "--workers", "2"]


def _build(out: Path, *args: str) -> Path:
    assert build.main([*args, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same poses as wds (jpg and png inside) and as per-file jpg and png builds."""
    root = tmp_path_factory.mktemp("wds")
    return {
        "wds-jpg": _build(root / "wds-jpg", *ARGS, "--format", "wds"),
        "wds-png": _build(root / "wds-png", *ARGS, "--format", "wds", "--image-format", "png"),
        "jpg": _build(root / "jpg", *ARGS, "--format", "jpg"),
        "png": _build(root / "png", *ARGS, "--format", "png"),
    }


def _urls(out: Path, size: int) -> list[str]:
    return sorted(glob.glob(str(out / str(size) / "shard-*.tar")))


def test_shards_hold_whole_chunks_named_as_documented(builds: dict[str, Path]) -> None:
    names = sorted(os.listdir(builds["wds-jpg"] / "32"))
    assert names == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]  # 24 poses, batch 8
    with tarfile.open(builds["wds-jpg"] / "32" / names[1]) as tar:
        members = tar.getnames()
    assert members[:3] == ["000008.jpg", "000008.json", "000008.cls"] and len(members) == 3 * 8


def test_webdataset_reads_png_shards_as_the_png_build(builds: dict[str, Path]) -> None:
    """The library's documented reader: every pose once, in order, pixels equal to the png build's."""
    out = builds["wds-png"]
    dataset = wds.WebDataset(_urls(out, 32), shardshuffle=False).decode("rgb8").to_tuple("png", "json", "cls")
    with np.load(out / "poses.npz") as poses:
        quaternion, matrix = poses["quaternion"], poses["matrix"]
    seen = []
    for image, label, cls in dataset:
        i = label["index"]
        seen.append(i)
        with Image.open(builds["png"] / "32" / f"cube1_index_{i + 1}.png") as im:
            assert np.array_equal(image, np.asarray(im.convert("RGB")))
        assert np.array_equal(np.array(label["quaternion"]), quaternion[i])  # bit-exact
        assert np.array_equal(np.array(label["matrix"]), matrix[i])
        assert label["class"] == OBJECT and cls == BUILTIN_OBJECTS.index(OBJECT) == label["class_index"]
    assert seen == list(range(POSES))


def test_webdataset_reads_jpg_shards_with_the_jpg_builds_bytes(builds: dict[str, Path]) -> None:
    out = builds["wds-jpg"]
    raw = list(wds.WebDataset(_urls(out, 32), shardshuffle=False).to_tuple("__key__", "jpg"))
    decoded = list(wds.WebDataset(_urls(out, 32), shardshuffle=False).decode("rgb8").to_tuple("jpg", "json"))
    assert [k for k, _ in raw] == [f"{i:06d}" for i in range(POSES)]
    for i, ((_, data), (image, label)) in enumerate(zip(raw, decoded, strict=False)):
        assert data == (builds["jpg"] / "32" / f"cube1_index_{i + 1}.jpg").read_bytes()
        assert label["index"] == i and image.shape == (32, 32, 3) and image.dtype == np.uint8


def test_clpr_cube_as_wds_has_no_class(tmp_path: Path) -> None:
    out = _build(tmp_path / "clpr", *CLPR_ARGS, "--format", "wds")
    files = _build(tmp_path / "clpr-jpg", *CLPR_ARGS, "--format", "jpg")
    with np.load(out / "poses.npz") as poses:
        matrix = poses["matrix"]
    for size in (16, 24):
        samples = list(wds.WebDataset(_urls(out, size), shardshuffle=False).decode("rgb8").to_tuple("__key__", "json"))
        assert len(samples) == len(matrix) == 125  # (2 pi / 1.5 -> 5)^3
        for key, label in samples:
            i = int(key)
            assert label["index"] == i and "class" not in label
            assert np.array_equal(np.array(label["matrix"]), matrix[i])
        shard = out / str(size) / "shard-000001.tar"
        with tarfile.open(shard) as tar:
            assert "000016.cls" not in tar.getnames()
            data = tar.extractfile("000016.jpg").read()  # type: ignore[union-attr]
        assert data == (files / str(size) / "cube1_index_17.jpg").read_bytes()
    assert verify.main([str(out), "--reference", "1"]) == 0


def test_loader_and_torch_dataset_read_wds(builds: dict[str, Path]) -> None:
    import torch

    with gpu_render.load(builds["wds-png"]) as data, gpu_render.load(builds["png"]) as files:
        assert len(data) == POSES and data.sizes == [32]
        assert np.array_equal(data.images[32][3:9], files.images[32][3:9])
        assert np.array_equal(data.images[32][-1], files.images[32][POSES - 1])
    image, labels = gpu_render.TorchDataset(builds["wds-jpg"], size=32)[11]
    label, eq = labels["matrix"], labels["equivalents"]
    assert tuple(image.shape) == (3, 32, 32) and tuple(label.shape) == (3, 3)
    want = np.asarray(Image.open(builds["jpg"] / "32" / "cube1_index_12.jpg").convert("RGB"), dtype=np.float32) / 255
    assert np.allclose(image.permute(1, 2, 0).numpy(), want)
    assert np.allclose(eq[0].numpy(), label.numpy())
    # The class the torch Dataset gives is the shard's own cls of that sample.
    with tarfile.open(builds["wds-jpg"] / "32" / "shard-000001.tar") as tar:
        cls = int(tar.extractfile("000011.cls").read())  # type: ignore[union-attr]
    klass = labels["class"]
    assert klass.dtype == torch.int64 and int(klass) == cls == BUILTIN_OBJECTS.index(OBJECT)
    assert int(gpu_render.TorchDataset(builds["png"])[0][1]["class"]) == cls


def test_two_builds_are_byte_identical(builds: dict[str, Path], tmp_path: Path) -> None:
    again = _build(tmp_path / "again", *ARGS[:-1], "1", "--format", "wds")  # one encoder process this time
    assert_same_dataset(again, builds["wds-jpg"])


def test_verify_catches_a_missing_truncated_or_tampered_sample(builds: dict[str, Path], tmp_path: Path) -> None:
    assert verify.verify(builds["wds-jpg"], reference_poses=1).problems == []
    cases = {}
    for case in ("missing", "truncated", "json", "image"):
        out = tmp_path / case
        shutil.copytree(builds["wds-jpg"], out)
        shard = out / "32" / "shard-000001.tar"
        data = bytearray(shard.read_bytes())
        if case == "missing":
            shard.unlink()
        elif case == "truncated":
            shard.write_bytes(bytes(data[:3000]))
        else:
            with tarfile.open(shard) as tar:
                info = tar.getmember("000009.json" if case == "json" else "000009.jpg")
            if case == "json":  # the label says pose 8
                at = data.index(b'"index": 9', info.offset_data) + len('"index": ')
                data[at] = ord("8")
            else:  # one byte in the middle of the JPEG
                data[info.offset_data + info.size // 2] ^= 0x55
            shard.write_bytes(bytes(data))
        cases[case] = "\n".join(verify.verify(out, reference_poses=0).problems)
    assert "shard-000001.tar: missing" in cases["missing"]
    assert "shard-000001.tar" in cases["truncated"]
    assert "sample 000009: json index is 8, expected 9" in cases["json"]
    assert "shard-000001.tar: sample 000009: differs from the checksum the build recorded" in cases["image"]


def test_shards_then_seal_give_the_same_dataset(builds: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "o"
    for k in ("1/2", "0/2"):
        assert build.main([*ARGS, "--format", "wds", "--shard", k, "--out", str(out)]) == 0
    assert build.main([*ARGS, "--format", "wds", "--out", str(out)]) == 0
    assert_same_dataset(out, builds["wds-jpg"])


def test_killed_build_resumes_to_the_same_bytes(builds: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "o"
    args = [*ARGS[:-1], "1", "--batch", "2", "--format", "wds"]  # 12 chunks, one process: time to land a kill
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpu_render.build", *args, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if (out / "32").is_dir() and len([n for n in os.listdir(out / "32") if n.endswith(".tar")]) >= 2:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.001)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == -signal.SIGKILL, "the build finished before it could be killed"
    assert verify.verify(out, reference_poses=0).problems  # incomplete, and verify says so
    assert build.main([*args, "--out", str(out)]) == 0
    clean = _build(tmp_path / "clean", *args)
    assert_same_dataset(out, clean)
    assert wds_module.shard_path(out, 32, 11).exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--format", "npy", "--image-format", "png"], "--image-format applies to --format wds only"),
        (["--format", "jpg", "--image-format", "jpg"], "--image-format applies to --format wds only"),
    ],
)
def test_bad_combinations_are_refused(args: list[str], message: str, tmp_path: Path) -> None:
    assert_build_refused([*ARGS, *args], message, tmp_path / "o")


def test_fast_headers_and_json_equal_what_tarfile_and_json_write() -> None:
    """The template-filled ustar headers and the directly formatted json are the libraries' bytes."""
    import json

    for name, size in [("000001.jpg", 0), ("1234567.json", 513), ("x" * 99, 8**11 - 1), ("000009.cls", 1)]:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, 0, 0o444
        assert wds_module.tar_header(name, size) == info.tobuf(format=tarfile.USTAR_FORMAT)
    with pytest.raises(ValueError):
        wds_module.tar_header("x" * 100, 1)
    rng = np.random.default_rng(0)
    for class_name, class_index in [(None, None), ("tet", 0), ('odd "name" \\ é', None)]:
        q = (rng.normal(size=4) * 10.0 ** rng.integers(-300, 300, 4)).tolist()
        m = rng.normal(size=(3, 3)).tolist()
        record = {"index": 7, "quaternion": q, "matrix": m}
        if class_name is not None:
            record["class"] = class_name
        if class_index is not None:
            record["class_index"] = class_index
        assert wds_module.sample_json(7, q, m, class_name, class_index) == json.dumps(record, sort_keys=True).encode()


def test_bench_wds_smoke(tmp_path: Path) -> None:
    """tools/bench_wds.py runs both writers and checks they read back alike (never how fast)."""
    from tests.conftest import REPO

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    p = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "bench_wds.py"),
            "--shards",
            "2",
            "--per-shard",
            "8",
            "--size",
            "16",
            "--repeat",
            "1",
            "--tmp",
            str(scratch),
        ],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    assert "tarfile" in p.stdout and "TarWriter" in p.stdout and "same samples read back: True" in p.stdout
    assert list(scratch.iterdir()) == []
