"""The README's examples run: every block marked ``<!-- example: NAME -->`` is taken from the
README and run as a user would, in a fresh folder holding the repository's ``examples/`` and
``tools/``, at a tiny scale (a long pose list shortened, a benchmark to a few views), so that
the README cannot drift from the software. Blocks of one NAME run in order in one folder."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.xvfb import virtual_display

BLOCK = re.compile(r"<!-- example: ([\w-]+) -->\n```(bash|python)\n(.*?)```", re.S)
#: The examples the README must keep (others may be added).
REQUIRED = ("wds", "load", "objects", "presets", "stream")  # "Python": tests/test_renderer.py
#: ``random:N`` above this many poses runs with this many.
MAX_POSES = 100
TINY_POSES = 24
#: What each Python example leaves to check, appended to its code.
CHECKS = {
    "wds": "assert image.shape == (224, 224, 3) and image.dtype.name == 'uint8' and len(label['quaternion']) == 4",
    "load": (
        "assert data.images[64][1000].shape == (64, 64, 3) and len(ds) == 1331 and ds[5][1].shape == (4,) "
        "and image.shape == (64, 64, 3)"
    ),
    "stream": "assert tuple(x.shape) == (64, 3, 32, 32) and tuple(y['quaternion'].shape) == (64, 4)",
}
#: Set-up an example needs that the README says in prose: load reads a cLPR build in ./clpr.
SETUP = {"load": [["-m", "gpu_render.build", "--step", "0.6", "--sizes", "32,64", "--out", "clpr"]]}


def readme_examples() -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for name, language, code in BLOCK.findall((REPO / "README.md").read_text()):
        found.setdefault(name, []).append((language, code))
    return found


def tiny_command(line: str) -> list[str] | None:
    """A README shell line as argv at a tiny scale; None for a blank or comment line."""
    args = shlex.split(line, comments=True)
    if not args:
        return None
    assert args[0] == "python", f"README example lines start with python: {line!r}"
    args = [sys.executable, *args[1:]]
    shorter = lambda m: f"random:{TINY_POSES if int(m.group(1)) > MAX_POSES else m.group(1)}"  # noqa: E731
    args = [re.sub(r"^random:(\d+)", shorter, a) for a in args]
    if args[1:3] == ["-m", "gpu_render.build"]:
        if "symsol" in args:
            args += ["--views", "2,1", "--sizes", "32"]
        elif "modelnet10-so3" in args:
            args += ["--views", "2,1", "--sizes", "32", "--categories", "bed,chair"]
        args += ["--workers", "1"]
    if args[1:3] == ["-m", "gpu_render.preview"]:
        args += ["--screenshot", "preview.png"]  # draw once and exit instead of staying open
    return args


def tiny_python(name: str, code: str) -> str:
    """A README Python block at a tiny scale, with its checks appended."""
    code = re.sub(r"^(\s+)\.\.\..*$", r"\1break", code, flags=re.M)  # the loop's body: one item is enough
    code = code.replace("size=224", "size=32")
    return code + "\n" + CHECKS.get(name, "")


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with virtual_display() as d:
        yield d


def run(argv: list[str], cwd: Path, display: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DISPLAY": display}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_readme_marks_its_examples() -> None:
    found = readme_examples()
    assert set(REQUIRED) <= set(found), sorted(found)
    assert [lang for lang, _ in found["wds"]] == ["bash", "python"]


@pytest.mark.parametrize("name", REQUIRED)
def test_readme_example_runs(name: str, tmp_path: Path, display: str) -> None:
    for folder in ("examples", "tools"):
        (tmp_path / folder).symlink_to(REPO / folder)
    for argv in SETUP.get(name, []):
        p = run([sys.executable, *argv], tmp_path, display)
        assert p.returncode == 0, p.stderr
    for language, code in readme_examples()[name]:
        if language == "bash":
            for line in code.splitlines():
                argv = tiny_command(line)
                if argv is not None:
                    p = run(argv, tmp_path, display)
                    assert p.returncode == 0, (line, p.stderr)
        else:
            p = run([sys.executable, "-c", tiny_python(name, code)], tmp_path, display)
            assert p.returncode == 0, p.stderr
            assert p.stderr == "", p.stderr  # no warning either
    if name == "objects":
        assert (tmp_path / "preview.png").is_file()
        assert sorted(p.name for p in (tmp_path / "mesh-duck").iterdir()) == [
            "128",
            "depth_128.npy",
            "manifest.json",
            "mask_128.npy",
            "poses.npz",
        ]
        written = sum(f.stat().st_size for f in (tmp_path / "mesh-duck").rglob("*") if f.is_file())
        assert 1e6 < written < 10e6  # the mesh example writes a few MB, as written (100 poses)
    if name == "presets":
        assert (tmp_path / "data" / "ModelNet10-SO3" / "train_2V.Rawjpg.lmdb").is_dir()


def test_tiny_scale_rewrites() -> None:
    argv = tiny_command("python -m gpu_render.build --object cylO --poses random:1000 --sizes 224   # into ./cylO")
    assert argv == [
        sys.executable,
        "-m",
        "gpu_render.build",
        "--object",
        "cylO",
        "--poses",
        f"random:{TINY_POSES}",
        "--sizes",
        "224",
        "--workers",
        "1",
    ]
    assert tiny_command("python -m gpu_render.build --object x --poses random:100:3")[6] == "random:100:3"
    assert tiny_command("   # a comment") is None
    assert tiny_python("x", "for a in b:\n    ...  # note\n") == "for a in b:\n    break\n\n"


def test_the_example_mesh_is_what_make_duck_makes(tmp_path: Path) -> None:
    import numpy as np
    import trimesh

    p = subprocess.run(
        [sys.executable, str(REPO / "examples" / "make_duck.py"), str(tmp_path / "duck.ply")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    paths = (REPO / "examples" / "duck.ply", tmp_path / "duck.ply")
    shipped, made = (trimesh.load(path, process=False) for path in paths)
    assert len(shipped.faces) == 432 and shipped.is_watertight
    assert np.array_equal(shipped.faces, made.faces) and np.allclose(shipped.vertices, made.vertices, atol=1e-6)
