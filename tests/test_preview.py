"""The glfw preview, in a real window under Xvfb: same pixels as the build, keys, labels, errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import moderngl
import numpy as np
import pytest
from PIL import Image

from gpu_render.render.clpr_renderer import Renderer
from gpu_render.rotations.euler import clpr_euler, euler_to_matrix
from gpu_render.scene.clpr_cube import BACKGROUND
from gpu_render.scene.clpr_labels import clpr_labels, posed_corners, translation
from tests.cli import run_module
from tests.pixels import assert_agree
from tests.xvfb import virtual_display, xdotool

WINDOW_PARITY = 0.999  # the window's screenshot vs the offscreen build render


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with virtual_display() as d:
        yield d


def offscreen(ctx: moderngl.Context, euler: np.ndarray, size: int, antialias: bool = False) -> np.ndarray:
    m = euler_to_matrix(np.atleast_2d(euler))
    with Renderer(ctx, size, antialias=antialias) as r:
        return r.render(m, translation(m))


def shot(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def preview(display: str, *args: str | Path) -> tuple[int, str, str]:
    r = run_module("gpu_render.preview", *args, env={"DISPLAY": display}, timeout=120)
    return r.code, r.out, r.err


@pytest.mark.parametrize("size, antialias", [(256, False), (200, False), (128, True)])
def test_screenshot_equals_the_build_render(ctx, display: str, tmp_path: Path, size: int, antialias: bool) -> None:
    pose = 4321
    path = tmp_path / "shot.png"
    args = ["--size", str(size), "--pose", str(pose), "--screenshot", path] + (["--antialias"] if antialias else [])
    code, out, err = preview(display, *args)
    assert code == 0, err
    assert f"saved {path}" in out
    got = shot(path)
    assert got.shape == (size, size, 3)
    want = offscreen(ctx, clpr_euler(0.1)[pose], size, antialias)[0]
    assert_agree(f"window-vs-offscreen-{size}", got[None], want[None], each=WINDOW_PARITY)


def test_labels_playback_frames_match(ctx, display: str, tmp_path: Path) -> None:
    euler = np.array([[0.3, 1.2, 2.5], [4.0, 0.1, 5.9], [6.2, 3.3, 0.7]])
    labels = clpr_labels(euler, posed_corners(euler_to_matrix(euler)))
    np.save(tmp_path / "three.npy", labels)
    code, _out, err = preview(
        display,
        "--size",
        "96",
        "--labels",
        tmp_path / "three.npy",
        "--pose",
        "0",
        "1",
        "2",
        "--screenshot",
        tmp_path / "frame_{pose}.png",
    )
    assert code == 0, err
    want = offscreen(ctx, euler, 96)
    got = np.stack([shot(tmp_path / f"frame_{i}.png") for i in range(3)])
    assert_agree("labels-playback", got, want, each=WINDOW_PARITY)
    assert not np.array_equal(got[0], got[1])  # three different frames


class Interactive:
    """A live preview process and its window, driven by real X events."""

    def __init__(self, display: str, tmp_path: Path, *args: str) -> None:
        self.display, self.dir = display, tmp_path
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gpu_render.preview", "--screenshot-dir", str(tmp_path), *args],
            env={**os.environ, "DISPLAY": display},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.window = xdotool(display, "search", "--sync", "--name", "gpu_render preview").split()[0]

    def keys(self, *names: str, check: bool = True) -> None:
        xdotool(self.display, "key", "--window", self.window, "--delay", "50", *names, check=check)

    def title(self) -> str:
        return xdotool(self.display, "getwindowname", self.window)

    def wait_title(self, text: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while text not in (title := self.title()):
            assert time.monotonic() < deadline, f"title never showed {text!r}: {title!r}"
            time.sleep(0.05)
        return title

    def screenshot(self, timeout: float = 10) -> np.ndarray:
        before = set(self.dir.glob("*.png"))
        self.keys("s")
        deadline = time.monotonic() + timeout
        while not (new := set(self.dir.glob("*.png")) - before):
            assert time.monotonic() < deadline, "no screenshot appeared"
            time.sleep(0.05)
        time.sleep(0.05)
        return shot(new.pop())

    def quit(self, key: str = "q") -> int:
        # The window closes on the key press, so sending the release may find it gone.
        self.keys(key, check=False)
        try:
            return self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def test_keys_step_the_pose_grid(ctx, display: str, tmp_path: Path) -> None:
    app = Interactive(display, tmp_path, "--size", "128", "--step", "0.1")
    try:
        app.wait_title("pose 0/250047")
        first = app.screenshot()
        app.keys("Right", "Right", "Up")  # +1 +1 +63
        title = app.wait_title("pose 65/250047")
        assert "(rx, ry, rz) = (0.000, 0.100, 0.200)" in title
        app.wait_title(" fps | ")  # measured over the first half second
        stepped = app.screenshot()
        app.keys("Prior")  # PageUp: +63^2
        app.wait_title(f"pose {65 + 63 * 63}/250047")
    finally:
        assert app.quit("q") == 0
    assert not np.array_equal(first, stepped)
    assert_agree("key-step", stepped[None], offscreen(ctx, clpr_euler(0.1)[65], 128), each=WINDOW_PARITY)
    assert_agree("key-start", first[None], offscreen(ctx, clpr_euler(0.1)[0], 128), each=WINDOW_PARITY)


def test_space_plays_and_a_toggles_antialias(display: str, tmp_path: Path) -> None:
    app = Interactive(display, tmp_path, "--size", "64", "--step", "1.0")
    try:
        app.keys("space")
        app.wait_title("playing")
        time.sleep(0.3)
        app.keys("space")
        deadline = time.monotonic() + 10
        while "playing" in (title := app.title()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert "pose 0/343" not in title  # it moved on
        app.keys("a")
        app.wait_title("MSAA")
        app.keys("a")
        app.wait_title("aliased")
    finally:
        assert app.quit("Escape") == 0


def test_drag_rotates_the_cube(ctx, display: str, tmp_path: Path) -> None:
    app = Interactive(display, tmp_path, "--size", "200")
    try:
        app.wait_title("pose 0/")
        w = app.window
        xdotool(
            display,
            "mousemove",
            "--window",
            w,
            "100",
            "100",
            "mousedown",
            "1",
            "mousemove",
            "--window",
            w,
            "150",
            "100",
            "mouseup",
            "1",
        )
        title = app.wait_title("(dragged)")
        img = app.screenshot()
    finally:
        assert app.quit() == 0
    # A drag of half the ball's radius to the right turns the cube 30 degrees about y.
    assert "(rx, ry, rz) = (0.000, 0.524, 0.000)" in title
    assert_agree("drag", img[None], offscreen(ctx, [0.0, np.pi / 6, 0.0], 200), each=WINDOW_PARITY)


def test_resize_keeps_the_cube_centred_and_square(ctx, display: str, tmp_path: Path) -> None:
    app = Interactive(display, tmp_path, "--size", "128", "--pose", "300")
    try:
        app.wait_title("pose 300/")
        xdotool(display, "windowsize", app.window, "300", "200")
        deadline = time.monotonic() + 10
        while (img := app.screenshot()).shape[:2] != (200, 300):
            assert time.monotonic() < deadline, f"window stayed {img.shape}"
    finally:
        assert app.quit() == 0
    centre = img[:, 50:250]
    assert_agree("resized", centre[None], offscreen(ctx, clpr_euler(0.1)[300], 200), each=WINDOW_PARITY)
    assert (img[:, :50] == BACKGROUND).all() and (img[:, 250:] == BACKGROUND).all()


def test_no_display(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    p = subprocess.run(
        [sys.executable, "-m", "gpu_render.preview", "--pose", "1", "--screenshot", str(tmp_path / "x.png")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "no display" in lines[0] and "xvfb-run" in lines[0] and "gpu_render.build" in lines[0]
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: np.save(p, np.zeros((4, 8, 5))), "expected cLPR labels (N, 8, 6)"),
        (lambda p: np.save(p, np.zeros((8, 6))), "expected cLPR labels (N, 8, 6)"),
        (lambda p: p.write_text("rx,ry,rz\n0,0,0\n"), "is not a .npy array"),
        (lambda p: np.save(p, np.full((3, 8, 6), np.nan)), "NaN or infinite values (row 0)"),
        (lambda p: np.save(p, np.zeros((3, 8, 6), dtype=np.int64)), "expected floating-point labels"),
        (lambda p: None, "No such file or directory"),
    ],
    ids=["wrong-shape", "2d", "not-npy", "nan", "integers", "missing"],
)
def test_bad_labels_file(display: str, tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "labels.npy"
    make(path)
    code, _, err = preview(display, "--labels", path, "--screenshot", tmp_path / "x.png")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err


def test_bad_preview_options(display: str, tmp_path: Path) -> None:
    for args, message in [
        (["--pose", "999999999"], "out of range"),
        (["--pose", "1", "2", "--screenshot", str(tmp_path / "x.png")], "needs '{pose}'"),
        (["--size", "3"], "--size: must be at least 8"),
        (["--step", "0"], "--step: must be a positive number"),
    ]:
        code, _, err = preview(display, *args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)


def test_preview_takes_any_pose_source(ctx, display: str, tmp_path: Path) -> None:
    from gpu_render.rotations.sources import parse_source, row_matrices

    path = tmp_path / "grid.png"
    code, _, err = preview(display, "--poses", "so3-grid:1", "--pose", "300", "--size", "96", "--screenshot", path)
    assert code == 0, err
    m, _ = row_matrices(parse_source("so3-grid:1", None))
    with Renderer(ctx, 96) as r:
        want = r.render(m[300:301], translation(m[300:301]))
    assert_agree("preview-so3-grid", shot(path)[None], want, each=WINDOW_PARITY)
    code, _, err = preview(display, "--poses", "random:5", "--step", "0.2", "--screenshot", path)
    assert code == 2 and "--step applies to --poses clpr only" in err


@pytest.mark.parametrize(
    "name, extra", [("cylO", []), ("tetX", ["--fov", "40", "--light", "1,0,-1", "--no-antialias"])]
)
def test_object_screenshot_equals_the_build_render(
    ctx, display: str, tmp_path: Path, name: str, extra: list[str]
) -> None:
    """Any --object, shaded, in the window: the same pixels as the build's renderer offscreen."""
    from gpu_render.cli.scene_options import parse_scene
    from gpu_render.render.backends import backend
    from gpu_render.rotations.sources import PoseSource

    path = tmp_path / "object.png"
    code, _out, err = preview(
        display, "--object", name, "--poses", "random:8:3", "--pose", "5", "--size", "160", "--screenshot", path, *extra
    )
    assert code == 0, err
    got = shot(path)
    scene = parse_scene(["--object", name, *extra])
    plan = scene.plan(PoseSource("random", count=8, seed=3))
    b = backend(scene)
    renderer = b.renderer(ctx, 160, 8)
    try:
        want = renderer.render_instances(b.instances(plan, 5, 6))
    finally:
        renderer.close()
    assert_agree(f"window-vs-offscreen-{name}", got[None], want, each=WINDOW_PARITY)
    assert (got != np.asarray(scene.background, np.uint8)).any(axis=-1).mean() > 0.1  # the object is there


def test_looks_screenshot_equals_the_builds_image_of_that_index(display: str, tmp_path: Path) -> None:
    """Random point lights and a photograph in the window: pose i shows the lights and
    background of the build's image i (a --format npy build of the same options)."""
    from tests.textured_meshes import write_photos

    write_photos(tmp_path / "photos", [(120, 100), (40, 30)])
    look = ["--object", "cylO", "--lights", "render4cnn", "--backgrounds", tmp_path / "photos"]
    look += ["--background-ratio", "1", "--look-seed", "3"]
    size, pose = 96, 5
    path = tmp_path / "looks.png"
    code, _out, err = preview(
        display, *look, "--poses", "random:8:3", "--pose", str(pose), "--size", str(size), "--screenshot", path
    )
    assert code == 0, err
    built = run_module(
        "gpu_render.build", *look, "--poses", "random:8:3", "--sizes", str(size), "--format", "npy",
        "--workers", "1", "--out", tmp_path / "build",
    )  # fmt: skip
    assert built.code == 0, built.err
    want = np.load(tmp_path / "build" / f"images_{size}.npy")
    got = shot(path)
    assert_agree("window-vs-build-looks", got[None], want[pose : pose + 1], each=WINDOW_PARITY)
    # The same pose drawn as image 0 gets other lights and another photograph: the index made them equal.
    from gpu_render.renderer import Renderer
    from gpu_render.rotations.sources import random_quaternions

    options = {"lights": "render4cnn", "backgrounds": str(tmp_path / "photos"), "background_ratio": 1.0}
    with Renderer("cylO", size, look_seed=3, **options) as r:
        q = random_quaternions(8, 3)
        assert r.render(q)[0].tobytes() == want.tobytes()  # the build's poses and looks
        as_first = r.render(q[pose : pose + 1])[0]
    assert np.mean(np.all(np.abs(got.astype(int) - as_first) <= 8, axis=-1)) < 0.9
