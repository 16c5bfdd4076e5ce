"""``--overwrite`` removes only the old build's own files, all inside OUT: what its manifest
declares for its format and layout, never a path outside OUT, the target of a symbolic link,
or a file of the user's; a manifest that would name anything else is refused, one line, exit 2."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from gpu_render.cli import build, verify
from tests.cli import run_module

CUBE = ["--step", "1.0", "--limit", "6", "--batch", "4", "--workers", "1"]
SOLID = ["--object", "tetX", "--poses", "random:6:1", "--batch", "4", "--workers", "1", "--sizes", "16"]
#: One build of each format and layout that gpu_render.build writes.
LAYOUTS = {
    "jpg": [*CUBE, "--sizes", "16,32"],
    "png": [*CUBE, "--sizes", "16", "--format", "png"],
    "npy": [*CUBE, "--sizes", "16", "--format", "npy"],
    "wds": [*SOLID, "--format", "wds"],
    "layers": [*SOLID, "--layers"],
    "imagenet3d": [*SOLID, "--layout", "imagenet3d"],
}
#: The build that replaces them: other options, so --overwrite is needed.
REPLACEMENT = ["--step", "1.0", "--limit", "5", "--batch", "4", "--workers", "1", "--sizes", "24"]


def tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` (relative) -> 'dir', 'link -> TARGET' or the file's bytes' hash."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = f"link -> {os.readlink(path)}"
            elif path.is_dir():
                found[rel] = "dir"
            else:
                found[rel] = str(hash(path.read_bytes()))
    return found


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_overwrite_removes_exactly_the_old_builds_files(layout: str, tmp_path: Path) -> None:
    """Afterwards OUT holds exactly what a fresh build of the new options writes, plus the
    user's files (beside the dataset and inside each of its folders), unchanged."""
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    assert build.main([*LAYOUTS[layout], "--out", str(out)]) == 0
    folders = [""] + [k for k, v in tree(out).items() if v == "dir"]
    mine = {f"{folder}/notes.txt".lstrip("/"): f"kept {folder}".encode() for folder in folders}
    for rel, data in mine.items():
        (out / rel).write_bytes(data)
    assert build.main([*REPLACEMENT, "--overwrite", "--out", str(out)]) == 0
    assert build.main([*REPLACEMENT, "--out", str(fresh)]) == 0
    want = {**tree(fresh), **{f: "dir" for f in folders if f}, **{rel: str(hash(d)) for rel, d in mine.items()}}
    got = tree(out)
    manifest = {k for k in got if k == "manifest.json"}
    assert {k: v for k, v in got.items() if k not in manifest} == {k: v for k, v in want.items() if k not in manifest}
    report = verify.verify(out, reference_poses=0)
    assert report.problems == []
    # One line for the top-level notes.txt and one per old top folder (its contents are not listed
    # one by one): the replacement writes none of the old build's folders.
    old_tops = {folder.split("/")[0] for folder in folders if folder}
    extra = sorted(line for line in report.lines if line.startswith("extra: "))
    assert len(extra) == 1 + len(old_tops), extra


@pytest.mark.parametrize("place", ["../victim", "absolute", "sub/../../victim", "..", ""])
def test_manifest_naming_a_folder_outside_out_is_refused(place: str, tmp_path: Path) -> None:
    out, victim = tmp_path / "out", tmp_path / "victim"
    victim.mkdir()
    (victim / "victim_000000.JPEG").write_bytes(b"the user's")
    assert build.main([*LAYOUTS["png"], "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["signature"].update(
        layout="imagenet3d", object="tetX", **{"class": str(victim) if place == "absolute" else place}
    )
    (out / "manifest.json").write_text(json.dumps(manifest))
    before, outside = tree(out), tree(victim)
    r = run_module("gpu_render.build", *REPLACEMENT, "--overwrite", "--out", out)
    assert r.code == 2
    line = r.one_line_error()
    assert "removed nothing" in line and "not a plain name inside OUT" in line
    assert tree(out) == before and tree(victim) == outside
    r = run_module("gpu_render.verify", out)  # verify reads nothing outside OUT either
    assert r.code == 2 and "not a plain name inside OUT" in r.one_line_error()


def test_symbolic_links_in_out_are_not_followed(tmp_path: Path) -> None:
    """A size folder that is a link to a folder outside OUT, and an image that is a link to a
    file outside: --overwrite removes neither the links nor anything they point at; a build
    that would write through the folder link is refused before anything is removed."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    assert build.main([*LAYOUTS["jpg"], "--out", str(out)]) == 0
    elsewhere.mkdir()
    shutil.move(out / "32", elsewhere / "32")
    (out / "32").symlink_to(elsewhere / "32")
    (elsewhere / "precious.jpg").write_bytes(b"the user's")
    (out / "16" / "cube1_index_1.jpg").unlink()
    (out / "16" / "cube1_index_1.jpg").symlink_to(elsewhere / "precious.jpg")
    outside = tree(elsewhere)
    assert len(outside) == 8  # the folder 32, its 6 images and precious.jpg

    before = tree(out)
    r = run_module("gpu_render.build", *CUBE, "--sizes", "32", "--overwrite", "--out", out)
    assert r.code == 2
    assert f"{out / '32'} is a symbolic link" in r.one_line_error()
    assert tree(out) == before and tree(elsewhere) == outside

    assert build.main([*REPLACEMENT, "--overwrite", "--out", str(out)]) == 0
    assert tree(elsewhere) == outside
    assert (out / "32").is_symlink() and (out / "16" / "cube1_index_1.jpg").is_symlink()
    assert sorted(p.name for p in (out / "16").iterdir()) == ["cube1_index_1.jpg"]  # the old images went
    assert sorted(p.name for p in (out / "24").iterdir()) == [f"cube1_index_{i}.jpg" for i in range(1, 6)]


def test_a_preset_dataset_is_not_replaced(tmp_path: Path) -> None:
    out = tmp_path / "symsol"
    r = run_module(
        "gpu_render.build",
        "--preset",
        "symsol",
        "--views",
        "1,1",
        "--shapes",
        "cube",
        "--sizes",
        "16",
        "--workers",
        "1",
        "--out",
        out,
    )
    assert r.code == 0, r.err
    before = tree(out)
    r = run_module("gpu_render.build", *REPLACEMENT, "--overwrite", "--out", out)
    assert r.code == 2 and "holds a --preset symsol dataset" in r.one_line_error()
    assert tree(out) == before


def test_a_lock_file_that_is_a_symbolic_link_is_not_written_through(tmp_path: Path) -> None:
    """OUT/.lock pointing at a file outside OUT: the build refuses (one line, exit 2) rather than
    truncate that file and write its pid into it."""
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    assert build.main([*LAYOUTS["png"], "--out", str(out)]) == 0
    victim.write_text("the user's")
    (out / ".lock").symlink_to(victim)
    for args in (LAYOUTS["png"], [*REPLACEMENT, "--overwrite"]):
        before = tree(out)
        r = run_module("gpu_render.build", *args, "--out", out)
        assert r.code == 2 and f"{out / '.lock'} is a symbolic link" in r.one_line_error()
        assert victim.read_text() == "the user's" and tree(out) == before
