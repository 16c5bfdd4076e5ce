"""Everything a cLPR build does, for scene objects: formats, labels, layers, resume, shards,
determinism, verify, the loader and the torch Dataset, and refusals of bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

import gpu_render
from gpu_render.cli.scene_options import parse_scene
from gpu_render.render.backends import backend
from gpu_render.render.context import Headless
from gpu_render.rotations.quaternion import quaternion_to_matrix
from gpu_render.rotations.sources import PoseSource, random_quaternions
from tests.cli import assert_build_refused, run_module
from tests.dataset import assert_same_dataset

# 90 poses in 4 chunks of 25, two sizes: small, but every path of the build is taken.
ARGS = ("--poses", "random:90:4", "--sizes", "48,64", "--batch", "25", "--workers", "1")


def build(*args: str | Path) -> None:
    r = run_module("gpu_render.build", *args)
    assert r.code == 0, r.err


@pytest.fixture(scope="module")
def cylo_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("objects") / "cylO"
    build("--object", "cylO", *ARGS, "--format", "png", "--out", out)
    return out


def test_png_build_holds_the_gpu_images_and_the_spec_labels(cylo_png: Path) -> None:
    scene = parse_scene(["--object", "cylO"])
    plan = scene.plan(PoseSource("random", count=90, seed=4))
    b = backend(scene)
    with Headless() as gl:
        r = b.renderer(gl.ctx, 64, 25)
        try:  # chunk by chunk, as the build draws them (--batch 25)
            want = np.concatenate([r.render_instances(b.instances(plan, a, min(90, a + 25))) for a in range(0, 90, 25)])
            whole = r.render_instances(b.instances(plan, 0, 90))
        finally:
            r.close()
    got = np.stack([np.asarray(Image.open(cylo_png / "64" / f"cube1_index_{i + 1}.png")) for i in range(90)])
    assert (got == want).all()
    # Drawn in other batches, a pose may differ in a few edge pixels (the rasterizer's rounding
    # depends on where its tile lies); the build's --batch is part of the dataset's signature.
    assert (got != whole).any(axis=-1).mean() < 0.002
    with np.load(cylo_png / "poses.npz") as poses:
        r_written = poses["matrix"]
        assert np.allclose(r_written, quaternion_to_matrix(random_quaternions(90, 4)))
        assert poses["translation"].shape == (90, 3) and np.allclose(poses["translation"][:, :2], 0)
        assert poses["intrinsics_48"].shape == (3, 3) and poses["intrinsics_64"][0, 2] == 32.0
        offsets = poses["visual_offsets"]
        assert offsets.shape == (91,) and offsets[-1] == len(poses["visual_equivalents"])
        assert np.allclose(poses["visual_equivalents"][offsets[:-1]], r_written, atol=1e-6)
        sizes = np.diff(offsets)
        visible = poses["mark_visible"]
        assert (sizes[visible] == 1).all() and set(sizes[~visible]) <= {360, 720}
    assert not (cylo_png / "labels.npy").exists()  # the (N, 8, 6) array is the cube's
    manifest = json.loads((cylo_png / "manifest.json").read_text())
    assert manifest["signature"]["object"] == "cylO" and manifest["signature"]["antialias"] is True


def test_verify_passes_and_catches_a_changed_image(cylo_png: Path, tmp_path: Path) -> None:
    r = run_module("gpu_render.verify", cylo_png)
    assert r.code == 0, r.out + r.err
    assert "reference:" in r.out
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(cylo_png, damaged)
    image = damaged / "64" / "cube1_index_7.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(image)
    r = run_module("gpu_render.verify", damaged)
    assert r.code == 1
    assert f"{image}: differs from the checksum the build recorded" in r.out


def test_builds_are_deterministic_and_shards_equal_one_build(cylo_png: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    build("--object", "cylO", *ARGS, "--format", "png", "--out", again)
    assert_same_dataset(again, cylo_png)
    sharded = tmp_path / "sharded"
    for k in range(2):
        build("--object", "cylO", *ARGS, "--format", "png", "--shard", f"{k}/2", "--out", sharded)
    build("--object", "cylO", *ARGS, "--format", "png", "--out", sharded)
    assert_same_dataset(sharded, cylo_png)


def test_kill_9_then_resume_gives_the_same_bytes(tmp_path: Path) -> None:
    args = (
        "--object",
        "tetX",
        "--poses",
        "random:400:1",
        "--sizes",
        "64",
        "--batch",
        "20",
        "--workers",
        "1",
        "--format",
        "npy",
        "--layers",
    )
    clean = tmp_path / "clean"
    build(*args, "--out", clean)
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpu_render.build", *args, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            progress = out / ".progress"
            if progress.is_dir() and len([n for n in os.listdir(progress) if n.startswith("chunk_")]) >= 3:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == -signal.SIGKILL, "the build finished before it could be killed"
    assert not (out / "images_64.npy").exists()
    build(*args, "--out", out)
    assert_same_dataset(out, clean)


def test_layers_and_npy(tmp_path: Path) -> None:
    out = tmp_path / "cube"
    build(
        "--object",
        "cube",
        "--poses",
        "random:30:2",
        "--sizes",
        "64",
        "--format",
        "npy",
        "--layers",
        "--no-antialias",
        "--out",
        out,
    )
    images = np.load(out / "images_64.npy")
    mask, depth = np.load(out / "mask_64.npy"), np.load(out / "depth_64.npy")
    assert mask.shape == depth.shape == (30, 64, 64) and mask.dtype == np.uint8 and depth.dtype == np.float32
    assert ((mask == 255) == (depth > 0)).all() and np.isin(mask, (0, 255)).all()
    drawn = (images != 0).any(axis=-1)  # black background, grey cube
    assert (drawn == (mask == 255)).mean() > 0.999
    with np.load(out / "poses.npz") as poses:
        eq = poses["rotations_equivalent"]
        assert eq.shape == (30, 24, 3, 3) and eq.dtype == np.float32
        assert np.allclose(eq[:, 0], poses["matrix"], atol=1e-6)
    assert run_module("gpu_render.verify", out).code == 0


def test_jpg_grey_mesh_file_with_loader_and_torch(tmp_path: Path) -> None:
    mesh = trimesh.creation.capsule(height=2.0, radius=0.4, count=(16, 16))
    mesh.apply_scale((1.0, 2.0, 0.7))
    mesh.apply_translation((3.0, 1.0, -2.0))
    path = tmp_path / "capsule.ply"
    mesh.export(path)
    out = tmp_path / "capsule"
    build(
        "--object",
        f"mesh:{path}",
        "--poses",
        "so3-grid:0",
        "--sizes",
        "32",
        "--format",
        "jpg",
        "--grayscale",
        "--background",
        "255,255,255",
        "--out",
        out,
    )
    data = gpu_render.load(out)
    assert len(data) == 72 and data.object == f"mesh:{path}" and data.labels is None
    image = data.images[32][5]
    assert image.shape == (32, 32, 3)
    assert np.abs(image[..., 0].astype(int) - image[..., 2].astype(int)).max() <= 3  # grey (JPEG rounding)
    assert (image[0, 0] >= 250).all()  # white background
    assert np.allclose(data.poses["object_centre"], mesh.bounds.mean(axis=0))
    assert data.equivalents(0) is None
    assert data.class_index(0) is None and data.class_name(0) == "capsule"
    image_t, labels = gpu_render.TorchDataset(out, size=32)[3]
    assert image_t.shape == (3, 32, 32) and labels["matrix"].shape == (3, 3)
    assert "keypoints_32" not in labels and "equivalents" not in labels and labels["object_scale"].shape == ()
    assert run_module("gpu_render.verify", out).code == 0


def test_torch_dataset_gives_equivalents(cylo_png: Path, tmp_path: Path) -> None:
    import torch
    from torch.utils.data import DataLoader

    ds = gpu_render.TorchDataset(cylo_png, target_transform=lambda y: (y["quaternion"], y["equivalents"]))
    image, (quaternion, eq) = ds[2]
    assert image.shape == (3, 64, 64) and quaternion.shape == (4,)
    assert eq.shape == (720, 3, 3)  # cylO's visual set, padded to its group's size
    own = ds.data.equivalents(2)
    assert own is not None and 1 <= len(own) < 720
    assert torch.equal(eq[: len(own)], torch.tensor(np.array(own), dtype=torch.float32))
    assert torch.equal(eq[len(own) :], eq[:1].expand(720 - len(own), 3, 3))  # the padding repeats R
    with np.load(cylo_png / "poses.npz") as poses:
        assert np.allclose(eq[0].numpy(), poses["matrix"][2], atol=1e-6)
        sizes = np.diff(poses["visual_offsets"])
    assert len(set(sizes.tolist())) > 1  # the sets' sizes vary, and a default collate still stacks them
    images, (_quaternions, sets) = next(iter(DataLoader(ds, batch_size=len(ds))))
    assert sets.shape == (len(ds), 720, 3, 3) and images.shape == (len(ds), 3, 64, 64)


def _bad_mesh_files(tmp: Path) -> dict[str, Path]:
    (tmp / "empty.off").write_text("")
    (tmp / "garbage.stl").write_bytes(b"\x00\x01 not a mesh at all" * 3)
    (tmp / "points.ply").write_text(
        "ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nproperty float y\n"
        "property float z\nend_header\n0 0 0\n1 1 1\n"
    )
    (tmp / "notes.txt").write_text("hello")
    return {name: tmp / name for name in ("empty.off", "garbage.stl", "points.ply", "notes.txt", "missing.obj")}


@pytest.mark.parametrize("name", ["empty.off", "garbage.stl", "points.ply", "notes.txt", "missing.obj"])
def test_bad_mesh_files_are_refused(tmp_path: Path, name: str) -> None:
    path = _bad_mesh_files(tmp_path)[name]
    assert_build_refused(["--object", f"mesh:{path}", "--poses", "random:3"], name, tmp_path / "out")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--object", "dodecahedron"], "unknown object"),
        (["--fov", "40"], "--fov makes no sense for --object clpr-cube"),
        (["--light", "1,0,0"], "--light makes no sense"),
        (["--layers"], "--layers makes no sense"),
        (["--object", "cone", "--fov", "0"], "argument --fov"),
        (["--object", "cone", "--distance", "0.9"], "outside the object's unit sphere"),
        (["--object", "cone", "--light", "0,0,0"], "zero vector"),
        (["--object", "cone", "--light", "1e-200,0,0"], "length is 0 or infinite"),  # its square underflows
        (["--object", "cone", "--light", "1e200,1e200,0"], "length is 0 or infinite"),  # overflows
        (["--object", "cone", "--color", "300,0,0"], "0..255"),
        (["--object", "cone", "--background", "red"], "R,G,B"),
        (["--object", "cone", "--layers", "--shard", "0/2"], "--layers"),
    ],
)
def test_options_that_make_no_sense_are_refused(tmp_path: Path, args: list[str], message: str) -> None:
    assert_build_refused(args, message, tmp_path / "out")


@pytest.mark.parametrize(
    "args",
    [
        ["--object", "icosa"],  # the default light, (-1, -1, -2), starts with a minus
        ["--object", "cylO", "--light", "0.5,-1,-2", "--grayscale", "--layers", "--format", "npy", "--sizes", "32,64"],
        ["--object", "tetX", "--format", "wds", "--image-format", "png", "--poses", "random:30:4", "--limit", "20"],
        ["--step", "0.5", "--antialias"],
    ],
)
def test_printed_build_command_rebuilds_the_same_dataset(args: list[str], tmp_path: Path) -> None:
    """The command a shard build prints for sealing (and that refusals suggest) parses back to
    options of the very same dataset signature."""
    import shlex

    from gpu_render.cli.options import parse_build_args
    from gpu_render.engines.rebuild import build_command

    options = parse_build_args([*args, "--out", str(tmp_path / "out")])
    printed = shlex.split(build_command(options.dataset_signature(), options.out))
    assert printed[:3] == ["python", "-m", "gpu_render.build"]
    again = parse_build_args(printed[3:])
    assert again.dataset_signature() == options.dataset_signature()
    assert again.out == options.out
