"""``--layout imagenet3d``: OUT/{class}/{name}.JPEG with {name}.npz, read as ImageNet3D's and
PASCAL3D+'s tools read them (FORMATS.md): the viewpoint projects every vertex where the
build's own K, R, t put it, and the bbox is the rendered mask's."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli import assert_build_refused
from dataset import assert_same_dataset

import gpu_render
from gpu_render import build, verify
from gpu_render.scene.solids import builtin_object

OBJECT, POSES, SIZE = "tetX", 12, 48
ARGS = ["--object", OBJECT, "--poses", f"random:{POSES}:5", "--sizes", str(SIZE), "--batch", "4", "--workers", "2"]
PROJECTION_TOLERANCE_PX = 1e-6


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("imagenet3d")
    outs = {"i3d": root / "i3d", "jpg": root / "jpg"}
    assert build.main([*ARGS, "--layout", "imagenet3d", "--out", str(outs["i3d"])]) == 0
    assert build.main([*ARGS, "--format", "jpg", "--out", str(outs["jpg"])]) == 0
    return outs


def read_annotation(path: Path) -> dict:
    """As ImageNet3D's tools do."""
    return np.load(path, allow_pickle=True)["annotations"][0]


def pascal3d_project(x: np.ndarray, a: dict) -> np.ndarray:
    """FORMATS.md's PASCAL3D+ projection, written out here from the annotation alone: (P, 2) px."""
    az, el, th, d = a["azimuth"], a["elevation"], a["theta"], a["distance"]
    m, f = a["viewport"], a["focal"]
    c = d * np.array([np.cos(el) * np.sin(az), -np.cos(el) * np.cos(az), np.sin(el)])
    phi = el - np.pi / 2
    rx = np.array([[1, 0, 0], [0, np.cos(phi), -np.sin(phi)], [0, np.sin(phi), np.cos(phi)]])
    rz = np.array([[np.cos(-az), -np.sin(-az), 0], [np.sin(-az), np.cos(-az), 0], [0, 0, 1]])
    r = rx @ rz
    p = (np.diag([m * f, m * f, -1.0]) @ (r @ x.T - (r @ c)[:, None])).T
    u, v = p[:, 0] / p[:, 2], p[:, 1] / p[:, 2]
    u, v = np.cos(th) * u - np.sin(th) * v, np.sin(th) * u + np.cos(th) * v
    return np.stack([a["px"] + u, a["py"] - v], axis=1)


def test_layout_and_annotations_as_imagenet3d_reads_them(built: dict[str, Path]) -> None:
    out = built["i3d"]
    folder = out / OBJECT
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([f"{OBJECT}_{i:06d}.JPEG" for i in range(POSES)] + [f"{OBJECT}_{i:06d}.npz" for i in range(POSES)])
    vertices = builtin_object(OBJECT).positions.reshape(-1, 3).astype(np.float64)
    mask = np.load(out / f"mask_{SIZE}.npy")
    with np.load(out / "poses.npz") as poses:
        k, r, t = poses[f"intrinsics_{SIZE}"], poses["matrix"], poses["translation"]
    for i in range(POSES):
        stem = folder / f"{OBJECT}_{i:06d}"
        assert stem.with_suffix(".JPEG").read_bytes() == (built["jpg"] / str(SIZE) / f"cube1_index_{i + 1}.jpg").read_bytes()
        a = read_annotation(stem.with_suffix(".npz"))
        assert (a["class"], a["cad_index"], a["object_status"], a["height"], a["width"]) == (OBJECT, 1, "status_good", SIZE, SIZE)
        assert a["dense"] is False  # FORMATS.md lists dense among the fields
        assert a["viewport"] == 3000
        cam = (r[i] @ vertices.T).T + t[i]
        want = (k @ cam.T).T
        want = want[:, :2] / want[:, 2:]
        assert np.abs(pascal3d_project(vertices, a) - want).max() < PROJECTION_TOLERANCE_PX
        rows, cols = np.nonzero(mask[i])
        assert np.array_equal(a["bbox"], [cols.min(), rows.min(), cols.max(), rows.max()])
        # the mask's pixel centres lie inside the projected vertices' box
        assert want[:, 0].min() - 0.5 <= a["bbox"][0] and a["bbox"][2] + 0.5 <= want[:, 0].max()
        assert want[:, 1].min() - 0.5 <= a["bbox"][1] and a["bbox"][3] + 0.5 <= want[:, 1].max()


def test_loader_verify_and_determinism(built: dict[str, Path], tmp_path: Path) -> None:
    with gpu_render.load(built["i3d"]) as data, gpu_render.load(built["jpg"]) as files:
        assert np.array_equal(data.images[SIZE][2:7], files.images[SIZE][2:7])
    assert verify.verify(built["i3d"], reference_poses=1).problems == []
    again = tmp_path / "again"
    assert build.main([*ARGS[:-1], "1", "--layout", "imagenet3d", "--out", str(again)]) == 0
    assert_same_dataset(again, built["i3d"])


def test_verify_catches_missing_and_tampered_files(built: dict[str, Path], tmp_path: Path) -> None:
    found = {}
    for case in ("image", "annotation", "tampered"):
        out = tmp_path / case
        shutil.copytree(built["i3d"], out)
        stem = out / OBJECT / f"{OBJECT}_000005"
        if case == "image":
            stem.with_suffix(".JPEG").unlink()
        elif case == "annotation":
            stem.with_suffix(".npz").unlink()
        else:
            a = read_annotation(stem.with_suffix(".npz"))
            a["azimuth"] += 0.01
            record = np.empty(1, dtype=object)
            record[0] = a
            with open(stem.with_suffix(".npz"), "wb") as f:
                np.savez(f, annotations=record)
        found[case] = "\n".join(verify.verify(out, reference_poses=0).problems)
    assert f"{OBJECT}_000005.JPEG: missing" in found["image"]
    assert f"{OBJECT}_000005.npz: missing" in found["annotation"]
    assert f"{OBJECT}_000005.npz: azimuth differ" in found["tampered"]


@pytest.mark.parametrize("args, message", [
    (["--step", "1.0"], "--layout imagenet3d needs a perspective object"),
    (["--object", "cube", "--format", "png"], "cannot be combined with --format png"),
    (["--object", "cube", "--format", "wds"], "cannot be combined with --format wds"),
    (["--object", "cube", "--sizes", "32,64"], "one image size"),
    (["--object", "cube", "--shard", "0/2"], "--shard cannot be combined with --layout imagenet3d"),
])
def test_bad_combinations_are_refused(args: list[str], message: str, tmp_path: Path) -> None:
    assert_build_refused([*args, "--layout", "imagenet3d"], message, tmp_path / "o")


def test_killed_build_resumes_to_the_same_bytes(built: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "o"
    args = [*ARGS[:-3], "2", "--workers", "1", "--layout", "imagenet3d"]  # 6 chunks, one process
    proc = subprocess.Popen([sys.executable, "-m", "gpu_render.build", *args, "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if len([n for n in os.listdir(out / OBJECT) if n.endswith(".npz")]) >= 3:
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
    assert verify.verify(out, reference_poses=0).problems  # incomplete, and verify says so
    assert build.main([*args, "--out", str(out)]) == 0
    clean = tmp_path / "clean"
    assert build.main([*args, "--out", str(clean)]) == 0
    assert_same_dataset(out, clean)


def test_a_class_named_like_the_builds_own_folders_is_refused(tmp_path: Path) -> None:
    import trimesh

    mesh = tmp_path / "shards.off"
    trimesh.creation.box(extents=(1.0, 2.0, 3.0)).export(mesh)
    assert_build_refused(["--object", f"mesh:{mesh}", "--sizes", "32", "--layout", "imagenet3d"],
                         "'shards' is a name the build uses for itself", tmp_path / "o")
