"""``--layout imagenet3d``: the tree ImageNet3D's tools read (images/, annotations/, lists/,
CAD/), read as they read it (FORMATS.md): the CAD model projected by the annotation's
viewpoint lands on the object, the annotation's fields have the README's types, and the
viewpoint projects every vertex where the build's own K, R, t put it."""

from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import gpu_render
from gpu_render.cli import build, verify
from gpu_render.cli.options import parse_build_args
from gpu_render.dataset.imagenet3d import whole_pixel_camera
from gpu_render.dataset.imagenet3d_tree import val_count
from gpu_render.engines.rebuild import build_command
from gpu_render.scene.camera import Pinhole
from tests.cli import assert_build_refused, run_module
from tests.dataset import assert_same_dataset
from tests.imagenet3d_tools import cad_box, project, read_annotations, read_off

OBJECT, POSES, SIZE = "tetX", 12, 48
MESH_CLASS = "lblock"
ARGS = ["--object", OBJECT, "--poses", f"random:{POSES}:5", "--sizes", str(SIZE), "--batch", "4", "--workers", "2"]
PROJECTION_TOLERANCE_PX = 1e-6
BBOX_TOLERANCE_PX = 2.0
ANGLES = ("azimuth", "elevation", "theta")


def l_block(path: Path) -> Path:
    """An L of two boxes (no symmetry) as an OFF file."""
    import trimesh

    parts = [
        trimesh.creation.box(extents=(2.0, 0.6, 0.6)).apply_translation((0.0, 0.0, 0.0)),
        trimesh.creation.box(extents=(0.6, 1.6, 0.6)).apply_translation((0.7, 1.1, 0.0)),
    ]
    trimesh.util.concatenate(parts).export(path)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("imagenet3d")
    outs = {"i3d": root / "i3d", "jpg": root / "jpg", "mesh": root / "mesh"}
    assert build.main([*ARGS, "--layout", "imagenet3d", "--out", str(outs["i3d"])]) == 0
    fov = json.loads((outs["i3d"] / "manifest.json").read_text())["signature"]["fov"]
    assert build.main([*ARGS, "--format", "jpg", "--fov", repr(fov), "--out", str(outs["jpg"])]) == 0
    mesh = l_block(root / f"{MESH_CLASS}.off")
    assert (
        build.main(
            [
                "--object",
                f"mesh:{mesh}",
                "--poses",
                "random:10:9",
                "--sizes",
                "64",
                "--workers",
                "2",
                "--layout",
                "imagenet3d",
                "--val-fraction",
                "0.3",
                "--out",
                str(outs["mesh"]),
            ]
        )
        == 0
    )
    return outs


def tree(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


@pytest.mark.parametrize("which, cls, size", [("i3d", OBJECT, SIZE), ("mesh", MESH_CLASS, 64)])
def test_the_cad_projected_by_each_annotation_lands_on_its_bbox(
    built: dict[str, Path], which: str, cls: str, size: int
) -> None:
    out = built[which]
    with np.load(out / "poses.npz") as poses:
        k, r, t = poses[f"intrinsics_{size}"], poses["matrix"], poses["translation"]
    for i in range(len(r)):
        (a,) = read_annotations(out / "annotations" / cls / f"{cls}_{i:06d}.npz")
        box = cad_box(out, a)
        assert np.abs(box - a["bbox"]).max() <= BBOX_TOLERANCE_PX, (i, box, a["bbox"])
        assert np.abs(box - a["bbox"]).max() < PROJECTION_TOLERANCE_PX, (i, box, a["bbox"])  # and exactly
        # exact: the viewpoint puts each CAD vertex where the build's K, R, t put it
        vertices, _ = read_off(out / "CAD" / a["class"] / f"{int(a['cad_index']):02d}.off")
        got = project(vertices.astype(np.float64), a)
        cam = (r[i] @ vertices.T.astype(np.float64)).T + t[i]
        want = (k @ cam.T).T
        assert np.abs(got - want[:, :2] / want[:, 2:]).max() < PROJECTION_TOLERANCE_PX


def test_annotation_fields_have_the_readmes_types(built: dict[str, Path]) -> None:
    for which, cls, size in (("i3d", OBJECT, SIZE), ("mesh", MESH_CLASS, 64)):
        with np.load(built[which] / "poses.npz") as poses:
            focal = float(poses[f"intrinsics_{size}"][0, 0])
        files = sorted((built[which] / "annotations" / cls).iterdir())
        for path in files:
            annotations = read_annotations(path)
            assert annotations.dtype == object and annotations.shape == (1,)
            a = annotations[0]
            for key in (*ANGLES, "distance", "px", "py", "focal"):
                assert type(a[key]) is float, key
            for key in ANGLES:
                assert 0 <= a[key] < 2 * np.pi, key
            assert type(a["viewport"]) is int and a["viewport"] == round(focal) and abs(focal - a["viewport"]) < 1e-9
            assert a["focal"] == 1.0 and type(a["ignore"]) is int and a["ignore"] == 0
            assert type(a["cad_index"]) is int and a["cad_index"] == 1
            for key in ("height", "width"):
                assert type(a[key]) is np.uint16 and a[key] == size
            assert isinstance(a["principal"], np.ndarray) and a["principal"].dtype == np.float64
            assert a["principal"].tolist() == [a["px"], a["py"]] == [size / 2, size / 2]
            assert isinstance(a["bbox"], np.ndarray) and a["bbox"].dtype == np.float64 and a["bbox"].shape == (4,)
            assert (a["class"], a["object_status"], a["dense"]) == (cls, "status_good", "dense_no")
            assert all(type(a[key]) is str for key in ("class", "object_status", "dense"))


@pytest.mark.parametrize("which, cls, count, fraction", [("i3d", OBJECT, POSES, 0.1), ("mesh", MESH_CLASS, 10, 0.3)])
def test_the_tree_is_where_imagenet3ds_tools_look(
    built: dict[str, Path], which: str, cls: str, count: int, fraction: float
) -> None:
    out = built[which]
    names = [f"{cls}_{i:06d}" for i in range(count)]
    assert tree(out) == sorted(
        [
            "manifest.json",
            "poses.npz",
            f"CAD/{cls}/01.off",
            f"lists/{cls}_imagenet_train.txt",
            f"lists/{cls}_imagenet_val.txt",
            *(f"images/{cls}/{n}.JPEG" for n in names),
            *(f"annotations/{cls}/{n}.npz" for n in names),
        ]
    )
    assert os.listdir(out / "images") == os.listdir(out / "annotations") == [cls]  # the tools' class list
    listed = {}
    for split in ("train", "val"):
        with open(out / "lists" / f"{cls}_imagenet_{split}.txt") as fp:  # as preprocess_data.py reads it
            listed[split] = fp.read().strip().split("\n")
        for name in listed[split]:
            assert (out / "images" / cls / f"{name}.JPEG").is_file()
            (a,) = read_annotations(out / "annotations" / cls / f"{name}.npz")
            assert (out / "CAD" / a["class"] / f"{int(a['cad_index']):02d}.off").is_file()
    assert sorted(listed["train"] + listed["val"]) == names
    assert len(listed["val"]) == val_count(count, fraction) == max(1, round(fraction * count))


def test_the_split_is_stable_and_follows_the_fraction() -> None:
    from gpu_render.dataset.imagenet3d_tree import val_poses

    big = val_poses(10000, 0.25)
    assert big.sum() == 2500 and not big[:2500].all()  # spread over the poses, not the first ones
    assert np.array_equal(val_poses(10000, 0.25), big)
    assert not val_poses(50, 0.0).any() and val_poses(1, 0.5).sum() <= 1
    assert [val_count(n, 0.9) for n in (2, 3, 10)] == [1, 2, 9]  # neither list empty


def test_loader_verify_and_determinism(built: dict[str, Path], tmp_path: Path) -> None:
    out = built["i3d"]
    for image in (out / "images" / OBJECT).iterdir():
        assert (
            image.read_bytes()
            == (built["jpg"] / str(SIZE) / f"cube1_index_{int(image.stem[-6:]) + 1}.jpg").read_bytes()
        )
    with gpu_render.load(out) as data, gpu_render.load(built["jpg"]) as files:
        assert np.array_equal(data.images[SIZE][2:7], files.images[SIZE][2:7])
    report = verify.verify(out, reference_poses=1)
    assert report.problems == [] and any(line.startswith("lists and CAD:") for line in report.lines)
    assert verify.verify(built["mesh"], reference_poses=0).problems == []
    again = tmp_path / "again"
    assert build.main([*ARGS[:-1], "1", "--layout", "imagenet3d", "--out", str(again)]) == 0
    assert_same_dataset(again, out)


def test_a_ray_build_writes_the_same_tree(built: dict[str, Path], tmp_path: Path) -> None:
    """--engine ray on a local Ray of this machine's CPUs: workers write the annotations, the
    driver the lists and CAD when it seals the build."""
    ray_tmp = tempfile.mkdtemp(prefix="grray", dir="/tmp")  # short: Ray's sockets live under it
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_TMPDIR=ray_tmp, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    try:
        r = run_module(
            "gpu_render.build",
            *ARGS,
            "--layout",
            "imagenet3d",
            "--engine",
            "ray",
            "--worker-cpus",
            "1",
            "--out",
            tmp_path / "o",
            env=env,
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert r.code == 0, r.err
    assert_same_dataset(tmp_path / "o", built["i3d"])


def test_shards_built_apart_then_sealed_equal_one_build(built: dict[str, Path], tmp_path: Path) -> None:
    """Each shard writes its own chunks' images and annotations (nothing needs another chunk's
    pixels); the plain build seals the union with the lists and the CAD model."""
    union = tmp_path / "union"
    for k in range(2):
        part = tmp_path / f"machine{k}"
        r = run_module("gpu_render.build", *ARGS, "--layout", "imagenet3d", "--shard", f"{k}/2", "--out", part)
        assert r.code == 0, r.err
        chunks = [c for c in range(POSES // 4) if c % 2 == k]  # --batch 4
        assert sorted(p.name for p in (part / "annotations" / OBJECT).iterdir()) == [
            f"{OBJECT}_{i:06d}.npz" for c in chunks for i in range(4 * c, 4 * c + 4)
        ]
        assert not (part / "lists").exists() and not (part / "CAD").exists()
        shutil.copytree(part, union, dirs_exist_ok=True)
    sealed = run_module("gpu_render.build", *ARGS, "--layout", "imagenet3d", "--out", union)
    assert sealed.code == 0, sealed.err
    assert_same_dataset(union, built["i3d"])
    assert verify.verify(union, reference_poses=0).problems == []


def test_verify_catches_missing_and_tampered_files(built: dict[str, Path], tmp_path: Path) -> None:
    found = {}
    cases = ("image", "annotation", "azimuth", "height", "bbox", "list", "split", "cad")
    for case in cases:
        out = tmp_path / case
        shutil.copytree(built["i3d"], out)
        name = f"{OBJECT}_000005"
        image, npz = out / "images" / OBJECT / f"{name}.JPEG", out / "annotations" / OBJECT / f"{name}.npz"
        train = out / "lists" / f"{OBJECT}_imagenet_train.txt"
        if case == "image":
            image.unlink()
        elif case == "annotation":
            npz.unlink()
        elif case in ("azimuth", "height", "bbox"):
            annotations = read_annotations(npz)
            a = annotations[0]
            if case == "azimuth":
                a[case] = a[case] + 0.01
            elif case == "height":
                a[case] = int(a[case])  # the value kept, the type not
            else:
                a[case] = a[case] + [0.0, 0.0, 1e-6, 0.0]
            with open(npz, "wb") as f:
                np.savez(f, annotations=annotations)
        elif case == "list":
            train.unlink()
        elif case == "split":
            train.write_text(train.read_text().replace(f"{name}\n", ""))
        else:
            cad = out / "CAD" / OBJECT / "01.off"
            cad.write_text(cad.read_text().replace("0.577350259", "0.6", 1))
        found[case] = "\n".join(verify.verify(out, reference_poses=0).problems)
    assert f"{name}.JPEG: missing" in found["image"]
    assert f"{name}.npz: missing" in found["annotation"]
    assert f"{name}.npz: azimuth differ" in found["azimuth"]
    assert f"{name}.npz: height differ" in found["height"]
    assert f"{name}.npz: bbox differ" in found["bbox"]
    assert f"{OBJECT}_imagenet_train.txt: missing" in found["list"]
    assert f"{OBJECT}_imagenet_train.txt: differs from the train split" in found["split"]
    assert "01.off: differs from the object's triangles" in found["cad"]


def test_the_focal_length_is_a_whole_number_of_pixels() -> None:
    for size in (8, 48, 224, 4096):
        for fov in (1.0, 30.0, 100.0, 170.0):
            camera = whole_pixel_camera(Pinhole(fov_deg=fov), size)
            f = camera.focal(size)
            assert abs(f - round(f)) < 1e-9 * f and round(f) >= 1
            assert abs(f - Pinhole(fov_deg=fov).focal(size)) <= 0.5 or round(f) == 1
            assert whole_pixel_camera(camera, size) == camera
    kept = whole_pixel_camera(Pinhole(distance=3.0), 224)
    assert kept.d == 3.0 and kept.focal(224) == pytest.approx(418, abs=1e-9)


def test_the_printed_command_rebuilds_the_same_signature(tmp_path: Path) -> None:
    options = parse_build_args(
        [*ARGS, "--layout", "imagenet3d", "--val-fraction", "0.25", "--fov", "40", "--out", str(tmp_path / "o")]
    )
    assert options.dataset_signature()["val_fraction"] == 0.25
    again = parse_build_args(shlex.split(build_command(options.dataset_signature(), options.out))[3:])
    assert again.dataset_signature() == options.dataset_signature()


def test_overwrite_replaces_the_tree(built: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "o"
    shutil.copytree(built["i3d"], out)
    assert build.main([*ARGS, "--layout", "imagenet3d", "--val-fraction", "0.5", "--out", str(out)]) == 2
    assert build.main([*ARGS, "--layout", "imagenet3d", "--val-fraction", "0.5", "--overwrite", "--out", str(out)]) == 0
    val = (out / "lists" / f"{OBJECT}_imagenet_val.txt").read_text().split()
    assert len(val) == 6 and verify.verify(out, reference_poses=0).problems == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--step", "1.0"], "--layout imagenet3d needs a perspective object"),
        (["--object", "cube", "--format", "png"], "cannot be combined with --format png"),
        (["--object", "cube", "--format", "wds"], "cannot be combined with --format wds"),
        (["--object", "cube", "--sizes", "32,64"], "one image size"),
        (["--object", "cube", "--shard", "0/2", "--layers"], "--shard cannot be combined with --layers"),
        (["--object", "cube", "--val-fraction", "1"], "argument --val-fraction: must be in [0, 1), got '1'"),
        (["--object", "cube", "--val-fraction", "-0.1"], "argument --val-fraction: must be in [0, 1)"),
        (["--object", "cube", "--val-fraction", "nan"], "argument --val-fraction: must be in [0, 1)"),
        (["--object", "cube", "--val-fraction", "x"], "argument --val-fraction: must be a number in [0, 1), got 'x'"),
    ],
)
def test_bad_combinations_are_refused(args: list[str], message: str, tmp_path: Path) -> None:
    assert_build_refused([*args, "--layout", "imagenet3d"], message, tmp_path / "o")


def test_val_fraction_needs_the_layout(tmp_path: Path) -> None:
    assert_build_refused(
        ["--object", "cube", "--val-fraction", "0.2"],
        "--val-fraction applies to --layout imagenet3d only",
        tmp_path / "o",
    )


def test_killed_build_resumes_to_the_same_bytes(built: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "o"
    args = [*ARGS[:-3], "2", "--workers", "1", "--layout", "imagenet3d"]  # 6 chunks, one process
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpu_render.build", *args, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if len([n for n in os.listdir(out / "annotations" / OBJECT) if n.endswith(".npz")]) >= 3:
                    proc.send_signal(signal.SIGKILL)
                    break
            except FileNotFoundError:
                pass  # not made yet
            time.sleep(0.001)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == -signal.SIGKILL, "the build finished before it could be killed"
    assert not (out / "lists").exists() and not (out / "CAD").exists()  # written when the build is sealed
    assert verify.verify(out, reference_poses=0).problems  # incomplete, and verify says so
    assert build.main([*args, "--out", str(out)]) == 0
    clean = tmp_path / "clean"
    assert build.main([*args, "--out", str(clean)]) == 0
    assert_same_dataset(out, clean)


def test_a_class_starting_with_a_dot_is_refused(tmp_path: Path) -> None:
    mesh = l_block(tmp_path / ".hidden.off")
    assert_build_refused(
        ["--object", f"mesh:{mesh}", "--sizes", "32", "--layout", "imagenet3d"],
        "'.hidden' starts with a dot",
        tmp_path / "o",
    )


def test_an_angle_in_the_annotation_is_wrapped() -> None:
    from gpu_render.dataset.imagenet3d import wrap_angle

    assert wrap_angle(-1e-18) == 0.0 and wrap_angle(-math.pi / 2) == pytest.approx(1.5 * math.pi)
    assert wrap_angle(2 * math.pi) == 0.0 and wrap_angle(math.pi) == math.pi
