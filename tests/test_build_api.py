"""``gpu_render.build(...)``: the command line's options as Python keywords. It writes what the
command line writes, byte for byte, and a bad keyword is a one-line UsageError naming it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gpu_render import build
from gpu_render.errors import UsageError
from tests.cli import run_module
from tests.dataset import assert_same_dataset

OBJECT = {"object": "cube", "poses": "random:7:3", "sizes": (32,), "format": "png", "batch": 3, "workers": 1}
OBJECT_ARGS = ("--object", "cube", "--poses", "random:7:3", "--sizes", "32", "--format", "png", "--batch", "3")
SYMSOL = {"preset": "symsol", "shapes": ("cylO", "cube"), "views": (2, 1), "sizes": (32,), "batch": 2, "workers": 1}
SYMSOL_ARGS = ("--preset", "symsol", "--shapes", "cube,cylO", "--views", "2,1", "--sizes", "32", "--batch", "2")


@pytest.mark.parametrize(("keywords", "args"), [(OBJECT, OBJECT_ARGS), (SYMSOL, SYMSOL_ARGS)], ids=["object", "symsol"])
def test_build_writes_what_the_command_line_writes(keywords: dict, args: tuple[str, ...], tmp_path: Path) -> None:
    r = run_module("gpu_render.build", *args, "--workers", "1", "--out", tmp_path / "cli")
    assert r.code == 0, r.err
    result = build(out=tmp_path / "python", **keywords)
    assert result.built == result.poses > 0 and not result.complete_before
    assert_same_dataset(tmp_path / "python", tmp_path / "cli")
    again = build(out=tmp_path / "python", **keywords)
    assert again.complete_before and again.built == 0


def test_gpu_render_build_from_a_fresh_interpreter(tmp_path: Path) -> None:
    """``import gpu_render`` then ``gpu_render.build(...)``: the function, imported on first use."""
    code = (
        "import sys, gpu_render; r = gpu_render.build(out=sys.argv[1], object='icosa', poses='random:4', "
        "sizes=(16,), format='npy', workers=1); print(r.built, r.poses)"
    )
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path / "o")], capture_output=True, text=True, check=False)
    assert p.returncode == 0 and p.stdout.split() == ["4", "4"], p.stderr
    assert (tmp_path / "o" / "images_16.npy").is_file()


@pytest.mark.parametrize(
    ("keywords", "named"),
    [
        ({"colour": (1, 2, 3)}, "colour"),
        ({"sizes": (3,)}, "sizes"),
        ({"sizes": "64"}, "sizes"),
        ({"format": "gif"}, "format"),
        ({"batch": 0}, "batch"),
        ({"shard": (2, 2)}, "shard"),
        ({"object": "cube", "fov": 500}, "fov"),
        ({"object": "ball"}, "object"),
        ({"poses": "random:x"}, "poses"),
        ({"format": "npy", "shard": "0/2"}, "shard"),
        ({"preset": "symsol", "meshes": "tree"}, "meshes"),
        ({"preset": "symsol", "shapes": ("ball",)}, "shapes"),
        ({"preset": "symsol", "views": (5,)}, "views"),
        ({"preset": "modelnet10-so3", "fov": 40}, "fov"),
        ({"preset": "imagenet"}, "preset"),
    ],
)
def test_a_bad_keyword_is_one_line_naming_it(keywords: dict, named: str, tmp_path: Path) -> None:
    out = tmp_path / "o"
    with pytest.raises(UsageError) as caught:
        build(out=out, **keywords)
    message = str(caught.value)
    assert named in message and "\n" not in message, message
    assert not out.exists()
