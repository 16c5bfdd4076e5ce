"""``python -m gpu_render.verify`` on good, incomplete and damaged datasets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.cli import run_module

ARGS = ("--step", "1.0", "--sizes", "32,128", "--batch", "100")


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    outs = {}
    for fmt in ("jpg", "npy"):
        out = tmp_path_factory.mktemp("good") / fmt
        assert run_module("gpu_render.build", *ARGS, "--format", fmt, "--out", out).code == 0
        outs[fmt] = out
    return outs


@pytest.fixture
def damaged(good: dict[str, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(good["jpg"], copy)
    return copy


@pytest.mark.parametrize("fmt", ["jpg", "npy"])
def test_good_dataset_passes(good: dict[str, Path], fmt: str) -> None:
    r = run_module("gpu_render.verify", good[fmt])
    assert r.code == 0, r.out
    assert "OK: complete and correct" in r.out
    assert "checksums: 4 chunk(s) match" in r.out
    assert "re-rendered on the CPU agree on" in r.out


def test_sampled_check_passes(good: dict[str, Path]) -> None:
    r = run_module("gpu_render.verify", good["jpg"], "--sample", "25")
    assert r.code == 0 and "a random 25 of 343 poses checked" in r.out


def test_deleted_image(damaged: Path) -> None:
    (damaged / "128" / "cube1_index_42.jpg").unlink()
    r = run_module("gpu_render.verify", damaged)
    assert r.code == 1
    assert f"{damaged / '128' / 'cube1_index_42.jpg'}: missing" in r.out


def test_truncated_image(damaged: Path) -> None:
    path = damaged / "32" / "cube1_index_7.jpg"
    path.write_bytes(path.read_bytes()[:300])
    r = run_module("gpu_render.verify", damaged)
    assert r.code == 1
    assert f"{path}: does not decode" in r.out


def test_image_that_decodes_but_changed(damaged: Path) -> None:
    """A re-encoded image still decodes, but the checksum catches it, and names that one file."""
    path = damaged / "128" / "cube1_index_150.jpg"
    from PIL import Image

    Image.open(path).convert("RGB").save(path, quality=70)
    r = run_module("gpu_render.verify", damaged)
    assert r.code == 1 and "FAILED: 1 problem(s):" in r.out
    assert f"{path}: differs from the checksum the build recorded" in r.out
    assert "chunk" not in r.out.split("FAILED")[1]


def test_changed_image_of_an_earlier_manifest_names_its_chunk(damaged: Path) -> None:
    """Chunk records written before they kept their files' short digests: the chunk is named."""
    manifest = json.loads((damaged / "manifest.json").read_text())
    for record in manifest["chunks"].values():
        del record["digests"]
    (damaged / "manifest.json").write_text(json.dumps(manifest))
    from PIL import Image

    path = damaged / "128" / "cube1_index_150.jpg"
    Image.open(path).convert("RGB").save(path, quality=70)
    r = run_module("gpu_render.verify", damaged)
    assert r.code == 1 and "chunk 1 (poses 100..199," in r.out and "files differ from the checksum" in r.out


def test_tampered_labels_row(damaged: Path) -> None:
    labels = np.load(damaged / "labels.npy")
    labels[200, 3, 0] += 0.5
    np.save(damaged / "labels.npy", labels)
    r = run_module("gpu_render.verify", damaged)
    assert r.code == 1
    assert f"{damaged / 'labels.npy'}: 1 rows differ from the spec (rows 200)" in r.out


def only_chunk_0_recorded(good: Path, out: Path) -> Path:
    """A copy of the build ``good`` turned back into a build in progress that has recorded only
    chunk 0 (poses 0..99); its files are all still there."""
    shutil.copytree(good, out)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / ".progress").mkdir()
    (out / ".progress" / "chunk_000000.json").write_text(json.dumps(manifest["chunks"]["0"]))
    manifest["complete"] = False
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def test_incomplete_build_says_what_is_missing_and_how_to_finish(good: dict[str, Path], tmp_path: Path) -> None:
    out = only_chunk_0_recorded(good["jpg"], tmp_path / "partial")
    r = run_module("gpu_render.verify", out, "--sample", "5")
    assert r.code == 1
    assert "incomplete: 243 of 343 poses are missing" in r.out
    command = r.out.split("complete them with: ")[1].strip()
    assert command.startswith("python -m gpu_render.build --step 1.0")
    # ... and that command really completes it
    finish = run_module("gpu_render.build", *command.split()[3:])
    assert finish.code == 0, finish.err
    assert "built 243 of 343" in finish.out
    assert run_module("gpu_render.verify", out).code == 0


def test_unfinished_build_is_one_problem_and_its_built_chunks_are_still_checked(
    good: dict[str, Path], tmp_path: Path
) -> None:
    """A build stopped after chunk 0: the files of the chunks not built yet are one "incomplete"
    line, not a line each; a damaged file of the built chunk is still caught."""
    out = only_chunk_0_recorded(good["jpg"], tmp_path / "partial")
    for size_dir in (p for p in out.iterdir() if p.name.isdigit()):
        for f in size_dir.iterdir():
            if int(f.stem.rsplit("_", 1)[1]) > 100:  # 1-based names: poses 100.. are chunks 1..3
                f.unlink()
    r = run_module("gpu_render.verify", out)
    assert r.code == 1
    assert "FAILED: 1 problem(s):" in r.out and "incomplete: 243 of 343 poses are missing" in r.out
    assert "files: the 100 poses of the built chunks (343 in all) checked at 2 size(s)" in r.out
    assert "checksums: 1 chunk(s) match the manifest" in r.out
    (out / "32" / "cube1_index_7.jpg").write_bytes(b"not a jpeg")
    r = run_module("gpu_render.verify", out)
    assert r.code == 1 and "FAILED: 1 problem(s):" not in r.out
    assert f"{out / '32' / 'cube1_index_7.jpg'}: differs from the checksum the build recorded" in r.out


def test_not_a_dataset(tmp_path: Path) -> None:
    assert run_module("gpu_render.verify", tmp_path / "missing").code == 2
    (tmp_path / "x").mkdir()
    r = run_module("gpu_render.verify", tmp_path / "x")
    assert r.code == 2 and "no gpu_render manifest" in r.one_line_error()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset small enough to verify hundreds of times: 4 poses at 16 px."""
    out = tmp_path_factory.mktemp("tiny") / "o"
    assert (
        run_module(
            "gpu_render.build", "--step", "1.0", "--limit", "4", "--sizes", "16", "--workers", "1", "--out", out
        ).code
        == 0
    )
    return out


@pytest.mark.parametrize("name", ["poses.npz", "labels.npy"])
def test_every_damaged_byte_of_a_label_file_is_a_problem_not_a_crash(tiny: Path, tmp_path: Path, name: str) -> None:
    """Each of ~300 one-byte changes (all over the file, three bit patterns) is reported as a
    problem naming the file; none raises, none passes."""
    from gpu_render.cli.verify import verify

    out = tmp_path / "o"
    shutil.copytree(tiny, out)
    data = (tiny / name).read_bytes()
    cases = [(at, x) for at in range(0, len(data), max(1, len(data) // 100)) for x in (0x01, 0x80, 0xFF)]
    caught = 0
    for at, x in cases:
        damaged = bytearray(data)
        damaged[at] ^= x
        (out / name).write_bytes(bytes(damaged))
        problems = verify(out, reference_poses=0).problems
        assert problems and all(str(out / name) in p for p in problems), (at, x, problems)
        caught += 1
    assert caught == len(cases) >= 300


def test_damaged_poses_npz_is_one_line_no_traceback(damaged: Path) -> None:
    path = damaged / "poses.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside an array's bytes: the zip's CRC no longer matches
    path.write_bytes(bytes(data))
    r = run_module("gpu_render.verify", damaged, "--reference", "0")
    assert r.code == 1 and r.err == ""
    assert f"{path}: unreadable (Bad CRC-32 for file" in r.out
    assert f"{path}: differs from the sha256 the build recorded" in r.out


def test_labels_changed_within_the_tolerance_are_caught_by_their_checksum(damaged: Path) -> None:
    """One ulp is far below LABEL_TOLERANCE, so only labels.npy's sha256 can tell."""
    labels = np.load(damaged / "labels.npy")
    labels[17, 2, 1] = np.nextafter(labels[17, 2, 1], np.inf)
    np.save(damaged / "labels.npy", labels)
    r = run_module("gpu_render.verify", damaged, "--reference", "0")
    assert r.code == 1 and "FAILED: 1 problem(s):" in r.out
    assert "labels: 343 x 8 x 6 equal a fresh computation" in r.out
    assert f"{damaged / 'labels.npy'}: differs from the sha256 the build recorded" in r.out


def test_changed_image_of_an_npy_build_is_named_by_file_and_pose(good: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "npy"
    shutil.copytree(good["npy"], out)
    images = np.load(out / "images_128.npy", mmap_mode="r+")
    images[150, 64, 64, 0] ^= 1
    images.flush()
    del images
    r = run_module("gpu_render.verify", out, "--reference", "0")
    assert r.code == 1 and "FAILED: 1 problem(s):" in r.out
    assert f"{out / 'images_128.npy'}: pose 150: differs from the checksum the build recorded" in r.out


def test_extra_files_are_reported_and_fail_only_inside_the_datasets_folders(damaged: Path) -> None:
    (damaged / "README.txt").write_text("the user's notes")
    (damaged / "thumbnails").mkdir()
    r = run_module("gpu_render.verify", damaged, "--reference", "0")
    assert r.code == 0, r.out
    assert f"extra: {damaged / 'README.txt'}: a file the build never writes (left alone; not a problem)" in r.out
    assert f"extra: {damaged / 'thumbnails'}: a folder the build never writes" in r.out
    stray = [damaged / "32" / "cube1_index_344.jpg", damaged / "128" / "notes.txt"]
    shutil.copy(damaged / "32" / "cube1_index_1.jpg", stray[0])  # one past the last pose
    stray[1].write_text("x")
    (damaged / "32" / "old").symlink_to(damaged / "32")
    r = run_module("gpu_render.verify", damaged, "--reference", "0")
    assert r.code == 1 and "FAILED: 3 problem(s):" in r.out
    for path in stray:
        assert f"{path}: a file the build never writes, inside the dataset's folders" in r.out
    assert f"{damaged / '32' / 'old'}: a symbolic link the build never writes" in r.out


def test_manifest_of_an_earlier_version_still_verifies_and_resumes(good: dict[str, Path], tmp_path: Path) -> None:
    """No sha256 of whole files, no short digests in chunk records: verify passes, saying the
    labels are not checksummed; an unfinished build of that version is finished and sealed."""
    out = tmp_path / "old"
    shutil.copytree(good["jpg"], out)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["files"]
    for record in manifest["chunks"].values():
        del record["digests"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    r = run_module("gpu_render.verify", out, "--reference", "0")
    assert r.code == 0, r.out
    assert "checksums: labels.npy, poses.npz not checksummed" in r.out
    assert "checksums: 4 chunk(s) match the manifest" in r.out

    unfinished = only_chunk_0_recorded(out, tmp_path / "unfinished")
    for image in (unfinished / "128").iterdir():
        if int(image.stem.rsplit("_", 1)[1]) > 100:
            image.unlink()
    r = run_module("gpu_render.build", *ARGS, "--format", "jpg", "--out", unfinished)
    assert r.code == 0 and "built 243 of 343" in r.out, r.err
    assert run_module("gpu_render.verify", unfinished, "--reference", "0").code == 0
    sealed = json.loads((unfinished / "manifest.json").read_text())
    assert sealed["files"] == json.loads((good["jpg"] / "manifest.json").read_text())["files"]


def test_resume_rewrites_damaged_label_files(good: dict[str, Path], tmp_path: Path) -> None:
    """An unfinished build whose poses.npz and labels.npy were damaged: the same command
    writes them again (no traceback) and the sealed dataset verifies."""
    out = only_chunk_0_recorded(good["jpg"], tmp_path / "unfinished")
    for name in ("poses.npz", "labels.npy"):
        data = bytearray((out / name).read_bytes())
        data[len(data) // 2] ^= 0x01
        data[40] ^= 0xFF  # and a byte of the npy header (of poses.npz: of the zip's first header)
        (out / name).write_bytes(bytes(data))
    r = run_module("gpu_render.build", *ARGS, "--format", "jpg", "--out", out)
    assert r.code == 0 and r.err == "", r.err
    for name in ("poses.npz", "labels.npy"):
        assert (out / name).read_bytes() == (good["jpg"] / name).read_bytes(), name
    assert run_module("gpu_render.verify", out, "--reference", "0").code == 0
