"""``--preset symsol``: the layout read exactly as image2sphere's SymsolDataset reads it
(FORMATS.md), the equivalent sets against SCENES.md's groups, the images against the CPU
reference, resume after kill -9, determinism and refusals."""

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
from PIL import Image

from gpu_render.cli.build import main as build_main
from gpu_render.cli.verify import edge_pixels
from gpu_render.cli.verify import main as verify_main
from gpu_render.dataset.layouts.symsol import SYMSOL_SHAPES
from gpu_render.render.scene_reference import render_scene
from gpu_render.scene.camera import Pinhole
from gpu_render.scene.look import Look
from gpu_render.scene.solids import builtin_object
from tests.cli import run_module

VIEWS = (5, 3)
SIZE = 64
#: Size and look changed from the defaults (224 px, black): the layout must stay loadable.
BACKGROUND = (0, 0, 255)
ARGS = (
    "--preset",
    "symsol",
    "--views",
    f"{VIEWS[0]},{VIEWS[1]}",
    "--sizes",
    str(SIZE),
    "--batch",
    "1",
    "--background",
    ",".join(map(str, BACKGROUND)),
    "--workers",
    "1",
)
#: float32 labels against float64 recomputation.
ROT_TOL = 1e-6
#: Reference parity, as verify's for antialiased objects: no channel off by more than 8 on this
#: share of the pixels away from the reference's edges (MSAA blends those).
CHANNEL_TOLERANCE = 8
PIXEL_AGREEMENT = 0.995
GROUP_SIZES = {"tet": 12, "cube": 24, "icosa": 60, "cone": 360, "cyl": 720}
#: The largest equivalent set of any shape (cyl and cylO): PresetDataset pads every set to it.
MAX_GROUP = 720
PHI = (1 + 5**0.5) / 2


@pytest.fixture(scope="module")
def symsol(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("preset") / "symsol"
    r = run_module("gpu_render.build", *ARGS, "--out", out)
    assert r.code == 0, r.err
    return out


def read_like_symsol_dataset(
    root: Path, split: str, shape: str, num_views: int | None, rng: np.random.Generator
) -> tuple[int, np.ndarray, np.ndarray]:
    """What image2sphere's SymsolDataset does for one item (FORMATS.md): load rotations.npz,
    slice [:num_views], take one row of [i] at random, open {shape}_{i:05d}.png as RGB."""
    rotations = np.load(root / split / "rotations.npz")[shape][:num_views]
    i = int(rng.integers(len(rotations)))
    rot = rotations[i][rng.integers(len(rotations[i]))]
    img = np.array(Image.open(root / split / "images" / f"{shape}_{str(i).zfill(5)}.png"))
    return i, rot, img


def test_layout_and_array_shapes(symsol: Path) -> None:
    for split, n in zip(("train", "test"), VIEWS, strict=False):
        names = sorted(p.name for p in (symsol / split / "images").iterdir())
        assert names == sorted(f"{s}_{i:05d}.png" for s in SYMSOL_SHAPES for i in range(n))
        rot = np.load(symsol / split / "rotations.npz")
        assert rot.files == list(SYMSOL_SHAPES)
        for shape in SYMSOL_SHAPES:
            k = GROUP_SIZES.get(shape, 1)
            assert rot[shape].shape == (n, k, 3, 3) and rot[shape].dtype == np.float32, shape
        poses = np.load(symsol / split / "poses.npz")
        for shape in ("tetX", "cylO", "sphereX"):
            assert poses[f"{shape}_mark_visible"].shape == (n,) and poses[f"{shape}_mark_visible"].dtype == bool
        for shape in ("tetX", "cylO"):
            offsets = poses[f"{shape}_visual_offsets"]
            assert offsets.shape == (n + 1,) and offsets[0] == 0
            assert poses[f"{shape}_visual_equivalents"].shape == (offsets[-1], 3, 3)
        for shape in SYMSOL_SHAPES:
            assert poses[f"{shape}_matrix"].shape == (n, 3, 3)
            assert poses[f"{shape}_intrinsics_{SIZE}"].shape == (3, 3)
            assert int(poses[f"{shape}_class_index"]) == SYMSOL_SHAPES.index(shape)
        img = np.array(Image.open(symsol / split / "images" / "cube_00000.png"))
        assert img.shape == (SIZE, SIZE, 3) and img.dtype == np.uint8 and tuple(img[0, 0]) == BACKGROUND


def test_reader_gets_the_builds_rotation_and_image(symsol: Path) -> None:
    """The FORMATS.md reader's rotation is in the pose's set, and its image is the pose's image
    (the CPU reference of poses.npz's R)."""
    rng = np.random.default_rng(3)
    look, camera = Look(background=BACKGROUND), Pinhole()
    for split in ("train", "test"):
        poses = np.load(symsol / split / "poses.npz")
        for shape in SYMSOL_SHAPES:
            i, rot, img = read_like_symsol_dataset(symsol, split, shape, None, rng)
            r = poses[f"{shape}_matrix"][i]
            obj = builtin_object(shape)
            full = np.load(symsol / split / "rotations.npz")[shape][i]
            np.testing.assert_allclose(full[0], r, atol=ROT_TOL)
            # the label drawn is R itself or R @ G for some G of the shape's group
            g = r.T @ rot.astype(np.float64)
            assert np.min(np.abs(obj.symmetry - g).max(axis=(1, 2))) < 1e-5, shape
            want = render_scene(obj, camera, look, r[None], SIZE)[0]
            close = (np.abs(img.astype(np.int16) - want.astype(np.int16)) <= CHANNEL_TOLERANCE).all(-1)
            score = float((close | edge_pixels(want)).mean())
            assert score >= PIXEL_AGREEMENT, (split, shape, i, score)


def _maps_onto(g: np.ndarray, points: np.ndarray) -> bool:
    moved = points @ g.T
    return bool(np.abs(moved[:, None] - points[None]).max(-1).min(1).max() < 1e-5)


def test_equivalent_sets_are_the_spec_groups(symsol: Path) -> None:
    """R^T E_k for every listed E_k is, element by element, the group SCENES.md names."""
    tet = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=np.float64)
    icosa = np.array(
        [np.roll(v, k) for k in range(3) for v in ([0, a, b * PHI] for a in (1, -1) for b in (1, -1))], dtype=np.float64
    )
    rot = np.load(symsol / "train" / "rotations.npz")
    for shape, k in GROUP_SIZES.items():
        sets = rot[shape].astype(np.float64)
        for e in sets[:2]:
            g = e[0].T @ e  # (K, 3, 3)
            np.testing.assert_allclose(g[0], np.eye(3), atol=ROT_TOL)
            flat = g.reshape(k, 9)
            gaps = np.abs(flat[:, None] - flat[None]).max(-1) + np.eye(k) * 9
            assert gaps.min() > 1e-3, f"{shape}: an element is listed twice"
            if shape == "tet":
                assert all(_maps_onto(x, tet) for x in g)
            elif shape == "cube":
                assert np.abs(g - np.round(g)).max() < 1e-5 and set(np.round(g).ravel()) <= {-1.0, 0.0, 1.0}
            elif shape == "icosa":
                assert all(_maps_onto(x, icosa) for x in g)
            else:
                flip = g[:, 2, 2] < 0
                assert np.abs(np.abs(g[:, 2, 2]) - 1).max() < 1e-5
                angles = np.degrees(np.arctan2(g[:, 1, 0], g[:, 0, 0]))
                degrees = np.round(angles) % 360
                assert np.abs(((angles - np.round(angles)) + 180) % 360 - 180).max() < 1e-3
                assert flip.sum() == (0 if shape == "cone" else 360)
                for part in (~flip, flip) if shape == "cyl" else (~flip,):
                    assert sorted(degrees[part]) == list(range(360))
    for shape in ("tetX", "cylO", "sphereX"):
        assert rot[shape].shape[1] == 1


def test_marked_shapes_visual_equivalents_start_with_r(symsol: Path) -> None:
    poses = np.load(symsol / "train" / "poses.npz")
    rot = np.load(symsol / "train" / "rotations.npz")
    for shape in ("tetX", "cylO"):
        off, flat = poses[f"{shape}_visual_offsets"], poses[f"{shape}_visual_equivalents"]
        visible = poses[f"{shape}_mark_visible"]
        for i in range(VIEWS[0]):
            np.testing.assert_allclose(flat[off[i]], rot[shape][i, 0], atol=ROT_TOL)
            if shape == "cylO" and visible[i]:
                assert off[i + 1] - off[i] == 1


def test_subset_draws_the_full_builds_rotations(symsol: Path, tmp_path: Path) -> None:
    out = tmp_path / "s"
    r = run_module("gpu_render.build", *ARGS, "--shapes", "icosa,cylO", "--out", out)
    assert r.code == 0, r.err
    assert np.load(out / "train" / "rotations.npz").files == ["icosa", "cylO"]
    i, rot, img = read_like_symsol_dataset(out, "test", "cylO", 2, np.random.default_rng(0))
    assert i in (0, 1) and rot.shape == (3, 3) and img.shape == (SIZE, SIZE, 3)
    for split in ("train", "test"):
        a = (out / split / "images" / "icosa_00002.png").read_bytes()
        assert a == (symsol / split / "images" / "icosa_00002.png").read_bytes()
        np.testing.assert_array_equal(
            np.load(out / split / "rotations.npz")["icosa"], np.load(symsol / split / "rotations.npz")["icosa"]
        )


def test_killed_build_resumes_to_the_same_bytes(symsol: Path, tmp_path: Path) -> None:
    """kill -9 once some chunks are recorded; the same command finishes it, byte for byte
    what an uninterrupted build writes (so two builds are identical, too)."""
    out = tmp_path / "symsol"
    cmd = [sys.executable, "-m", "gpu_render.build", *ARGS, "--out", str(out)]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and p.poll() is None:
        if len(list((out / ".progress").glob("chunk_*.json"))) >= 8:
            break
        time.sleep(0.02)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    done = len(list((out / ".progress").glob("chunk_*.json")))
    assert 8 <= done < 64, done
    r = run_module("gpu_render.build", *ARGS, "--out", out)
    assert r.code == 0, r.err
    assert f"built {64 - done} of 64" in r.out
    mine, theirs = _files(out), _files(symsol)
    mine.pop("manifest.json"), theirs.pop("manifest.json")
    assert mine == theirs


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path (nothing is left over: no temporaries, no records)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Bad options: one line, exit 2, nothing created (parsed in-process: nothing starts)."""
    out = tmp_path / "x"
    for args, message in [
        (("--views", "5"), "--views"),
        (("--shapes", "cube,ball"), "unknown shape 'ball'"),
        (("--sizes", "32,64"), "one image size"),
        (("--meshes", str(tmp_path)), "--meshes makes no sense for --preset symsol"),
    ]:
        assert build_main(["--preset", "symsol", *args, "--out", str(out)]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (args, err)
        assert not out.exists()
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    r = run_module("gpu_render.build", *ARGS, "--out", tmp_path / "foreign")
    assert r.code == 2 and "not a gpu_render dataset" in r.one_line_error()
    assert sorted(p.name for p in (tmp_path / "foreign").iterdir()) == ["notes.txt"]


def test_verify_catches_missing_truncated_and_changed_images(
    symsol: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "copy"
    shutil.copytree(symsol, out)
    assert verify_main([str(out), "--reference", "2"]) == 0
    assert "OK: complete and correct" in capsys.readouterr().out
    images = out / "train" / "images"
    (images / "cube_00001.png").unlink()
    data = (images / "cone_00002.png").read_bytes()
    (images / "cone_00002.png").write_bytes(data[: len(data) // 2])
    pixels = np.array(Image.open(images / "tetX_00003.png"))
    pixels[5, 5] ^= 1
    Image.fromarray(pixels).save(images / "tetX_00003.png")
    assert verify_main([str(out), "--reference", "0"]) == 1
    report = capsys.readouterr().out
    assert "cube_00001.png: missing" in report
    for name in ("cone_00002.png", "tetX_00003.png"):  # each changed file is named, nothing else
        assert f"{images / name}: differs from its checksum" in report
    assert report.count("differs from its checksum") == 2
    # Re-rendering many images meets the damaged ones too: each is one more line, never a crash.
    assert verify_main([str(out), "--reference", "300"]) == 1
    report = capsys.readouterr().out
    assert f"{images / 'cone_00002.png'}: does not decode" in report
    assert f"{images / 'cube_00001.png'}: missing" in report


def test_verify_checks_label_files_by_checksum_and_reports_extra_files(
    symsol: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A flipped byte in rotations.npz is one line (its checksum, and the zip it breaks), never a
    traceback; a file beside the images fails, one beside the dataset is only reported."""
    out = tmp_path / "copy"
    shutil.copytree(symsol, out)
    path = out / "test" / "rotations.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    (out / "train" / "images" / "cube_00099.png").write_bytes(b"stray")
    (out / "notes.txt").write_text("the user's")
    assert verify_main([str(out), "--reference", "0"]) == 1
    report = capsys.readouterr().out
    assert f"{path}: differs from the sha256 the build recorded" in report
    assert f"{path}: not readable (Bad CRC-32" in report
    assert f"{out / 'train' / 'images' / 'cube_00099.png'}: a file the build never writes" in report
    assert f"extra: {out / 'notes.txt'}: a file the build never writes (left alone; not a problem)" in report
    assert "checksums: 3 of 4 whole file(s) match the manifest" in report
    assert "FAILED: 3 problem(s)" in report


def test_load_and_torch_dataset_agree_with_the_files(symsol: Path) -> None:
    """gpu_render.load(OUT, split) and TorchDataset index shape after shape, as SymsolDataset does."""
    import torch

    from gpu_render import TorchDataset, load

    data = load(symsol, "test")
    assert len(data) == VIEWS[1] * len(SYMSOL_SHAPES)
    torch_data = TorchDataset(symsol, "test")
    rotations = np.load(symsol / "test" / "rotations.npz")
    poses = np.load(symsol / "test" / "poses.npz")
    for shape_index, shape in enumerate(SYMSOL_SHAPES):
        index = shape_index * VIEWS[1] + 2
        image, labels = torch_data[index]
        cls, rot, eq, count = (labels[k] for k in ("class", "matrix", "equivalents", "equivalent_count"))
        want = np.array(Image.open(symsol / "test" / "images" / f"{shape}_00002.png"))
        np.testing.assert_array_equal(data.image(index), want)
        assert torch.equal(image, torch.from_numpy(want).permute(2, 0, 1).float() / 255)
        assert int(cls) == shape_index == data.class_index(index) and data.class_name(index) == shape
        np.testing.assert_allclose(rot.numpy(), rotations[shape][2, 0], atol=ROT_TOL)
        np.testing.assert_allclose(labels["quaternion"].numpy(), poses[f"{shape}_quaternion"][2], atol=ROT_TOL)
        np.testing.assert_allclose(labels[f"intrinsics_{SIZE}"].numpy(), poses[f"{shape}_intrinsics_{SIZE}"])
        if shape in GROUP_SIZES:
            want_set = rotations[shape][2]
        elif shape == "sphereX":
            want_set = rotations[shape][2, :1]
        else:
            off = poses[f"{shape}_visual_offsets"]
            want_set = poses[f"{shape}_visual_equivalents"][off[2] : off[3]]
        assert eq.shape == (MAX_GROUP, 3, 3) and int(count) == len(want_set), shape
        np.testing.assert_allclose(eq[:count].numpy(), want_set, atol=ROT_TOL)
        np.testing.assert_allclose(
            eq[count:].numpy(), np.broadcast_to(want_set[0], (MAX_GROUP - len(want_set), 3, 3)), atol=ROT_TOL
        )
        assert "mark_visible" not in labels  # only the arrays every shape has: items stack
    with pytest.raises(ValueError, match="splits train and test"):
        load(symsol, "val")


def test_room_for_the_rotations_is_checked_first(tmp_path: Path) -> None:
    """The full default build's rotations.npz arrays (about 2 GiB) are counted before anything
    starts; more than the filesystem holds is one UsageError naming OUT."""
    from gpu_render.dataset.layouts.symsol import SymsolSpec, rotations_bytes, shape_splits
    from gpu_render.dataset.space import check_free
    from gpu_render.errors import UsageError

    need = rotations_bytes(shape_splits(SymsolSpec()))
    assert 1.9 * 2**30 < need < 2.1 * 2**30  # cyl alone: 45000 x 720 x 9 float32 = 1.09 GiB
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    check_free(tmp_path / "new", min(need, free // 2), "rotations.npz")
    with pytest.raises(UsageError, match=r"No space left on device for rotations\.npz"):
        check_free(tmp_path / "new" / "deeper", free * 2, "rotations.npz")
    assert not (tmp_path / "new").exists()


def test_verify_recomputes_every_label_array(symsol: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Changed label files (not images) are caught, each problem naming the file and the array:
    poses.npz's quaternion, visual equivalents, mark_visible and viewpoint, and a row of
    rotations.npz no sample of a few rows would be sure to reach."""
    out = tmp_path / "labels"
    shutil.copytree(symsol, out)
    poses = dict(np.load(out / "train" / "poses.npz"))
    poses["tetX_quaternion"][0] *= -1
    poses["cylO_visual_equivalents"][:] = 0
    poses["cylO_mark_visible"][:] = False
    poses["cube_azimuth"][:] = 0
    np.savez(out / "train" / "poses.npz", **poses)
    rotations = dict(np.load(out / "test" / "rotations.npz"))
    rotations["cyl"][-1, 700] = rotations["cyl"][-1, 3]
    np.savez(out / "test" / "rotations.npz", **rotations)
    assert verify_main([str(out), "--reference", "0"]) == 1
    report = capsys.readouterr().out
    for array in ("tetX_quaternion", "cylO_visual_equivalents", "cylO_mark_visible", "cube_azimuth"):
        assert f"train/poses.npz: {array} differs from a fresh computation" in report, array
    assert f"test/rotations.npz: cyl rows 0..{VIEWS[1] - 1} differs" in report
    assert "OK: complete and correct" not in report


def test_torch_dataset_with_equivalents_in_a_plain_dataloader(symsol: Path) -> None:
    """FORMATS.md's usage: TorchDataset in torch's DataLoader with its default collate, batches
    mixing shapes of different set sizes (12 .. 720)."""
    import torch
    from torch.utils.data import DataLoader

    from gpu_render import TorchDataset

    ds = TorchDataset(symsol, "test")
    seen = 0
    for images, labels in DataLoader(ds, batch_size=2 * VIEWS[1] + 1):
        b = len(images)
        classes, rotations, equivalents, counts = (
            labels[k] for k in ("class", "matrix", "equivalents", "equivalent_count")
        )
        assert images.shape == (b, 3, SIZE, SIZE) and equivalents.shape == (b, MAX_GROUP, 3, 3)
        assert counts.dtype == torch.int64 and classes.dtype == torch.int64
        torch.testing.assert_close(equivalents[:, 0], rotations)
        for k in range(b):
            shape = SYMSOL_SHAPES[int(classes[k])]
            assert int(counts[k]) == GROUP_SIZES.get(shape, int(counts[k])) and 1 <= int(counts[k]) <= MAX_GROUP
        seen += b
    assert seen == len(ds) == VIEWS[1] * len(SYMSOL_SHAPES)


def test_out_is_checked_before_free_space(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An OUT that cannot be written is named as such, not as a full disk (/proc has 0 bytes
    free); a refusal for space leaves no OUT behind; sizes read as a person would write them."""
    from gpu_render.dataset.layouts import symsol as symsol_module
    from gpu_render.dataset.space import readable_bytes

    args = ["--preset", "symsol", "--views", "1,1", "--sizes", "16", "--workers", "1"]
    if Path("/proc").is_dir():
        assert build_main([*args, "--out", "/proc/x"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--out /proc/x is not writable" in err[0], err
    monkeypatch.setattr(symsol_module, "rotations_bytes", lambda parts: 2**50)
    out = tmp_path / "new"
    assert build_main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device for rotations.npz: 1024.0 TiB needed" in err[0], err
    assert not out.exists()
    assert [readable_bytes(n) for n in (0, 512, 1536, 3 << 20, 5 << 30)] == [
        "0 B",
        "512 B",
        "1.5 KiB",
        "3.0 MiB",
        "5.0 GiB",
    ]


def test_readme_names_the_shapes_with_visual_equivalents(symsol: Path) -> None:
    """The README's one line on poses.npz names exactly the shapes whose visual equivalents a build writes."""
    import re

    poses = np.load(symsol / "train" / "poses.npz")
    written = sorted(s for s in SYMSOL_SHAPES if f"{s}_visual_equivalents" in poses.files)
    text = " ".join((Path(__file__).parents[1] / "README.md").read_text().split())
    claims = re.findall(r"visual equivalents of ((?:`\w+`/?)+)", text)
    assert claims and all(sorted(re.findall(r"`(\w+)`", c)) == written for c in claims), (claims, written)
