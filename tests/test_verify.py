"""``python -m gpu_render.verify`` on good, incomplete and damaged datasets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli import run_module

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


def test_unfinished_build_is_one_problem_and_its_built_chunks_are_still_checked(good: dict[str, Path],
                                                                                 tmp_path: Path) -> None:
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
