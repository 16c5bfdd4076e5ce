"""Fuzzing the command lines of build, verify and preview.

Hypothesis draws a few hundred option strings from a grammar of every option with good, bad
and absurd values, plus stray tokens. Each runs in-process (``main(argv)``, so that hundreds
fit in about a minute) with its working directory in a fresh sandbox holding a few files to
point at. Every run must end with exit status 0 or 2 (2 with exactly one line on stderr),
never raise, and change nothing but OUT: verify and preview change nothing at all. There is
no display, as in CI: preview then exits 2 with one line too.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gpu_render.cli import build, preview, verify
from tests.cli import run_module

FUZZ = settings(
    deadline=None,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Stray tokens: no '/', '.', 'o' or 'l', so that they can never spell an --out or --limit of their own.
STRAY = st.one_of(
    st.sampled_from(["", "-", "--", "-x", "--bogus", "--sizes=", "--step=", "x", "=", ",", "32", "-1", "1e9"]),
    st.text(alphabet="-=,:0123456789abcdexyz ", max_size=8),
)

OUTS = ["out", "out/deep/er", "afile", "foreign", "built", "empty", "", "."]

BUILD_VALUES: dict[str, list[str]] = {
    "--step": ["1.0", "2", "3.5", "0.5", "0", "-1", "nan", "inf", "-inf", "1e-9", "5e-324", "1e308", "abc", ""],
    "--sizes": ["8", "16", "8,16", "16,8", "7", "4097", "0", "-8", "x", "", "8,8", " 16 , 8 ", "16,", "1e1"],
    "--format": ["jpg", "png", "npy", "wds", "gif", "", "JPG"],
    "--image-format": ["jpg", "png", "npy", ""],
    "--layout": ["flat", "imagenet3d", "imagenet", ""],
    "--limit": ["0", "-1", "x", "1e3", ""],
    "--batch": ["1", "3", "64", "0", "x", "99999999999999999999", ""],
    "--workers": ["1", "2", "0", "2000", "x", "1024"],
    "--device": ["0", "1", "-1", "7", "x"],
    "--poses": [
        "clpr",
        "so3-grid:0",
        "so3-grid:1",
        "so3-grid:9",
        "so3-grid:x",
        "so3-grid:",
        "random:5",
        "random:5:3",
        "random:0",
        "random:99999999999",
        "random:-3",
        "random:5:x",
        "random:inf",
        "random:inf:3",
        "random:inf:x",
        "file:rot.npy",
        "file:bad.npy",
        "file:afile",
        "file:missing.npy",
        "file:",
        "file:empty",
        "healpix",
        "",
    ],
    "--shard": ["0/2", "1/2", "2/2", "x", "0/0", "-1/2", "1", "0/1"],
    "--out": OUTS,
    "--object": [
        "clpr-cube",
        "cube",
        "tetX",
        "cylO",
        "sphereX",
        "bogus",
        "",
        "mesh:box.off",
        "mesh:afile",
        "mesh:missing.obj",
        "mesh:",
    ],
    "--fov": ["45", "0", "170", "x", "nan"],
    "--distance": ["3", "1", "0", "x", "inf"],
    "--light": ["1,1,1", "0,0,0", "1,1", "nan,1,1"],
    "--color": ["10,200,30", "#ff0000", "256,0,0", "x"],
    "--background": ["255,255,255", "1,2", ""],
}
BUILD_FLAGS = ["--antialias", "--no-antialias", "--grayscale", "--layers", "--overwrite", "--help"]

VERIFY_VALUES: dict[str, list[str]] = {
    "--sample": ["1", "5", "0", "-1", "x", "99999999", ""],
    "--reference": ["0", "1", "-1", "x", "100000"],
    "--seed": ["0", "7", "-1", "x", "99999999999999999999"],
}
VERIFY_TARGETS = ["built"] * 8 + ["out", "afile", "foreign", "missing", "empty", "", ".", "built/labels.npy"]

PREVIEW_VALUES: dict[str, list[str]] = {
    "--size": ["64", "8", "7", "4097", "x", "0", ""],
    "--poses": BUILD_VALUES["--poses"],
    "--step": ["1.0", "0.5", "0", "1e-9", "nan", "x"],
    "--labels": ["built/labels.npy", "afile", "missing.npy", "bad.npy", "rot.npy", "empty", ""],
    "--screenshot": ["shot.png", "shot-{pose}.png", "{", "{x}", "", "out/shot.png"],
    "--screenshot-dir": ["shots", "afile", ""],
    "--object": ["clpr-cube", "clpr", "cube", "tet", "sphereX", "bogus", "", "mesh:afile", "mesh:missing.obj", "mesh:"],
    "--fov": ["45", "0", "179", "x", "nan"],
    "--distance": ["3", "0", "-1", "x", "inf"],
    "--light": ["1,1,1", "0,0,0", "1,1", "x", "nan,1,1"],
    "--color": ["200,200,200", "#ff0000", "256,0,0", "x", "-1,0,0"],
    "--background": ["0,0,0", "#00ff00", "1,2", ""],
}
PREVIEW_FLAGS = ["--antialias", "--no-antialias", "--grayscale", "--help"]


def _option_list(values: dict[str, list[str]], flags: list[str]) -> st.SearchStrategy[list[str]]:
    """Some options with sampled values, a few flags and stray tokens, in random order."""
    pair = st.sampled_from(sorted(values)).flatmap(
        lambda name: st.sampled_from(values[name]).map(
            lambda value: [f"{name}={value}"] if value.startswith("-") or value == "" else [name, value]
        )
    )
    flag = st.sampled_from(flags).map(lambda f: [f])
    stray = STRAY.map(lambda s: [s])
    # Mostly options: a stray token or --help ends most runs at once, which explores little.
    token = st.one_of(*[pair] * 8, flag, stray)
    return st.lists(token, max_size=6).map(lambda parts: [t for part in parts for t in part])


def _pose_args() -> st.SearchStrategy[list[str]]:
    """preview's --pose: one or several indices, some out of range or not numbers."""
    return st.lists(st.sampled_from(["0", "5", "342", "-1", "x", "99999999999"]), min_size=1, max_size=3).map(
        lambda poses: ["--pose", *poses]
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small finished dataset that examples copy into their sandbox as ``built``."""
    out = tmp_path_factory.mktemp("fuzz") / "built"
    r = run_module("gpu_render.build", "--step", "1.0", "--sizes", "8", "--limit", "12", "--out", out)
    assert r.code == 0, r.err
    return out


@pytest.fixture
def no_display(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in CI: preview finds no display."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


@contextlib.contextmanager
def sandbox(root: Path, built: Path) -> Iterator[Path]:
    """A fresh folder under ``root`` with files to point options at, as the working directory."""
    box = Path(tempfile.mkdtemp(dir=root))
    shutil.copytree(built, box / "built")
    (box / "afile").write_text("mine\n")
    (box / "foreign").mkdir()
    (box / "foreign" / "holiday.jpg").write_bytes(b"not ours")
    (box / "empty").mkdir()
    np.save(box / "rot.npy", np.array([[0.1, 0.2, 0.3], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]))
    np.save(box / "bad.npy", np.zeros((3, 5)))
    (box / "box.off").write_text("OFF\n4 4 0\n0 0 0\n2 0 0\n0 1 0\n0 0 3\n3 0 2 1\n3 0 1 3\n3 0 3 2\n3 1 2 3\n")
    old = os.getcwd()
    os.chdir(box)
    try:
        yield box
    finally:
        os.chdir(old)
        shutil.rmtree(box)


def snapshot(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Every path under ``root``: kind, size and, for files, content."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            found[os.path.relpath(os.path.join(folder, name), root)] = ("dir", 0, b"")
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = ("file", os.path.getsize(path), f.read())
    return found


def run_main(main: Callable[[list[str]], int], argv: list[str]) -> tuple[int, str, str]:
    """``main(argv)`` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's --help
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return code, out.getvalue(), err.getvalue()


def check_exit(tool: str, argv: list[str], code: int, out: str, err: str) -> None:
    """Exit 0, or 2 with exactly one line on stderr; never a traceback."""
    event(f"{tool} exit {code}")
    assert code in (0, 2), (argv, code, out, err)
    assert "Traceback" not in err, (argv, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"gpu_render.{tool}: error: "), (argv, err)


def _last(argv: list[str], option: str) -> str | None:
    """The value of the last ``option`` on a command line (argparse: the last one wins)."""
    value = None
    for k, token in enumerate(argv):
        if token == "--":
            break
        if token == option and k + 1 < len(argv):
            value = argv[k + 1]
        elif token.startswith(option + "="):
            value = token[len(option) + 1 :]
    return value


def _out_of(argv: list[str]) -> str:
    """The OUT a build command line names; by default ./clpr, ./NAME for an object, ./mesh-STEM for a mesh."""
    out = _last(argv, "--out")
    if out is not None:
        return out
    obj = _last(argv, "--object") or "clpr-cube"
    if obj == "clpr-cube":
        return "clpr"
    return "mesh-" + Path(obj[len("mesh:") :]).stem if obj.startswith("mesh:") else obj


def _inside(path: str, out: Path) -> bool:
    """Whether ``path`` is OUT, in it, or one of the folders that lead to it (made with it)."""
    p = Path(path)
    return out == Path(".") or p == out or out in p.parents or p in out.parents


@settings(FUZZ, max_examples=120)
@given(argv=_option_list(BUILD_VALUES, BUILD_FLAGS), limit=st.integers(1, 12))
def test_fuzz_build(tmp_path: Path, built: Path, argv: list[str], limit: int) -> None:
    argv = [*argv, "--limit", str(limit)]  # whatever else is drawn, a build that runs stays tiny
    with sandbox(tmp_path, built) as box:
        before = snapshot(box)
        code, out, err = run_main(build.main, argv)
        after = snapshot(box)
        check_exit("build", argv, code, out, err)
        target = Path(os.path.normpath(_out_of(argv)))
        changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
        outside = [p for p in changed if not _inside(p, target)]
        assert not outside, (argv, target, outside[:5])
        if code == 0 and "--help" not in argv and "-h" not in argv:
            assert out.startswith(("built ", "sealed ")) or "nothing to do" in out, (argv, out)
            assert not list(Path(box, target).glob(".lock*")), argv  # released and removed
    assert sorted(os.listdir(tmp_path)) == []  # nothing beside the sandbox


@settings(FUZZ, max_examples=250)
@given(
    target=st.sampled_from(VERIFY_TARGETS),
    argv=_option_list(VERIFY_VALUES, ["--help"]),
    first=st.booleans(),
)
def test_fuzz_verify(tmp_path: Path, built: Path, target: str, argv: list[str], first: bool) -> None:
    argv = [target, *argv] if first else [*argv, target]
    with sandbox(tmp_path, built) as box:
        before = snapshot(box)
        code, out, err = run_main(verify.main, argv)
        assert snapshot(box) == before, argv
    check_exit("verify", argv, code, out, err)
    assert sorted(os.listdir(tmp_path)) == []


@settings(FUZZ, max_examples=100)
@given(argv=_option_list(PREVIEW_VALUES, PREVIEW_FLAGS), poses=st.none() | _pose_args())
def test_fuzz_preview(tmp_path: Path, built: Path, no_display: None, argv: list[str], poses: list[str] | None) -> None:
    argv = [*argv, *(poses or [])]
    with sandbox(tmp_path, built) as box:
        before = snapshot(box)
        code, out, err = run_main(preview.main, argv)
        assert snapshot(box) == before, argv
    check_exit("preview", argv, code, out, err)
    if code == 0:
        assert "--help" in argv or "-h" in argv, argv  # with no display, only --help succeeds
    assert sorted(os.listdir(tmp_path)) == []
