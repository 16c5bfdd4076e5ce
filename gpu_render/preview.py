"""``python -m gpu_render.preview``: look at any scene live, drawn by the build's own renderer.

Every frame is rendered by the renderer the build uses for ``--object`` (the cLPR cube's
:class:`~gpu_render.render.clpr_renderer.Renderer` or the shaded
:class:`~gpu_render.render.scene_renderer.SceneRenderer`, aliased or MSAA) into its
framebuffer, then shown 1:1 in a square centred in the window. The window therefore shows
exactly the bytes a build would write.

Keys: arrows and PageUp/PageDown step through the pose grid, Space plays and pauses, A
toggles anti-aliasing, S saves a screenshot, Esc or Q quits. Dragging with the left mouse
button turns the cube (arcball).
"""

from __future__ import annotations

import io
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import moderngl
import numpy as np
from PIL import Image

from gpu_render.rotations.arcball import rotation_between, sphere_point
from gpu_render.render.context import NoDisplayError, NoOpenGLError, Window
from gpu_render.errors import UsageError
from gpu_render.arg_types import MAX_SIZE, MIN_SIZE, Parser, at_least, source_arg, step_type
from gpu_render.rotations.euler import clpr_angles, euler_to_matrix, matrix_to_euler
from gpu_render.render.backends import BatchRenderer, backend
from gpu_render.render.shaders import load_program
from gpu_render.rotations.sources import PoseSource, read_npy, row_matrices
from gpu_render.dataset.writer import atomic_write_bytes
from gpu_render.scene.scene import Scene
from gpu_render.scene_options import add_scene_arguments, scene_from_args

PROG = "gpu_render.preview"
TITLE = "gpu_render preview"


@dataclass(frozen=True)
class PoseList:
    """What the preview steps through.

    matrix: (N, 3, 3) float64 row-vector rotations (q = p @ M); euler: (N, 3) their cLPR
    angles, radians, for the title. axis: poses per grid axis for a cLPR grid (Up/Down step
    n, PageUp/PageDown n^2); None otherwise (Up/Down step 10, PageUp/PageDown 100).
    name: "pose" or "row".
    """

    matrix: np.ndarray
    euler: np.ndarray
    axis: int | None
    name: str

    @staticmethod
    def from_source(source: PoseSource) -> PoseList:
        matrix, euler = row_matrices(source)
        if euler is None:
            euler = matrix_to_euler(matrix)
        axis = len(clpr_angles(source.step)) if source.kind == "clpr" else None
        return PoseList(matrix, euler, axis, "pose")

    @staticmethod
    def from_labels(path: Path) -> PoseList:
        euler = labels_euler(path)
        return PoseList(euler_to_matrix(euler), euler, None, "row")


def labels_euler(path: Path) -> np.ndarray:
    """The rotations of a cLPR labels file: ``labels[:, 0, 3:6]``, (N, 3) float64 radians.

    Raises UsageError (one line) unless ``path`` is a .npy of finite floats shaped (N, 8, 6).
    """
    name = f"--labels {path}"
    try:
        labels, _ = read_npy(path, name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if labels.ndim != 3 or labels.shape[1:] != (8, 6):
        raise UsageError(f"{name} has shape {labels.shape}, expected cLPR labels (N, 8, 6)")
    if not np.issubdtype(labels.dtype, np.floating):
        raise UsageError(f"{name} holds {labels.dtype}, expected floating-point labels")
    return labels[:, 0, 3:6].astype(np.float64)


class Preview:
    """The preview's state and drawing, on a window's context."""

    def __init__(self, window: Window, poses: PoseList, scene: Scene, screenshot_dir: Path) -> None:
        self.window = window
        self.ctx: moderngl.Context = window.ctx
        self.poses = poses
        self.scene = scene
        self.screenshot_dir = screenshot_dir
        self.playing = False
        self.dragged = False
        self.index = 0
        self.matrix = np.eye(3)
        self._drag: tuple[np.ndarray, np.ndarray] | None = None  # (start point on the ball, matrix then)
        self._renderer: BatchRenderer | None = None
        self._renderer_key: tuple[int, bool] | None = None
        self._texture: moderngl.Texture | None = None
        self._present = load_program(self.ctx, "present")
        self._quad = self.ctx.vertex_array(self._present, [])
        self.set_pose(0)

    # -- state -------------------------------------------------------------------------------

    @property
    def antialias(self) -> bool:
        return self.scene.antialias

    def toggle_antialias(self) -> None:
        self.scene = self.scene.with_antialias(not self.scene.antialias)

    def set_pose(self, index: int) -> None:
        self.index = index % len(self.poses.matrix)
        self.matrix = self.poses.matrix[self.index].copy()
        self.dragged = False

    def step(self, delta: int) -> None:
        self.set_pose(self.index + delta)

    def grid_steps(self) -> tuple[int, int]:
        """Steps for Up/Down and PageUp/PageDown."""
        n = self.poses.axis
        return (n, n * n) if n else (10, 100)

    def begin_drag(self, x: float, y: float) -> None:
        self._drag = (self._ball(x, y), self.matrix.copy())

    def drag_to(self, x: float, y: float) -> None:
        if self._drag is None:
            return
        start, base = self._drag
        self.matrix = base @ rotation_between(start, self._ball(x, y))
        self.dragged = True

    def end_drag(self) -> None:
        self._drag = None

    def _ball(self, x: float, y: float) -> np.ndarray:
        w, h = self.window.window_size()
        return sphere_point(x, y, (w / 2, h / 2), max(1.0, min(w, h) / 2))

    def title(self, fps: float | None = None) -> str:
        rx, ry, rz = matrix_to_euler(self.matrix[None])[0] if self.dragged else self.poses.euler[self.index]
        where = f"{self.poses.name} {self.index}/{len(self.poses.matrix)}" + (" (dragged)" if self.dragged else "")
        parts = [TITLE, where, f"(rx, ry, rz) = ({rx:.3f}, {ry:.3f}, {rz:.3f})"]
        if fps is not None:
            parts.append(f"{fps:.0f} fps")
        parts.append("MSAA" if self.antialias else "aliased")
        if self.playing:
            parts.append("playing")
        return " | ".join(parts)

    # -- drawing -----------------------------------------------------------------------------

    def _renderer_for(self, size: int) -> BatchRenderer:
        r = self._renderer
        if r is None or self._renderer_key != (size, self.antialias):
            if r is not None:
                r.close()
            r = self._renderer = backend(self.scene).renderer(self.ctx, size, 1)
            self._renderer_key = (size, self.antialias)
        return r

    def draw(self) -> None:
        """Render the current pose and show it in a square centred in the window."""
        w, h = self.window.framebuffer_size()
        size = max(1, min(w, h))
        r = self._renderer_for(size)
        frame = r.draw_atlas(backend(self.scene).row_instances(self.matrix[None]))
        if self._texture is None or self._texture.size != frame.size:
            if self._texture is not None:
                self._texture.release()
            self._texture = self.ctx.texture(frame.size, 4)
            self._texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self.ctx.copy_framebuffer(self._texture, frame)
        screen = self.ctx.screen
        screen.use()
        bg = np.asarray(self.scene.background) / 255.0
        screen.viewport = (0, 0, w, h)
        self.ctx.disable(moderngl.DEPTH_TEST)
        screen.clear(float(bg[0]), float(bg[1]), float(bg[2]), 1.0)
        screen.viewport = ((w - size) // 2, (h - size) // 2, size, size)
        tw, th = frame.size
        x, y, bw, bh = r.tile_box(0)
        self._present["u_uv_min"].value = (x / tw, y / th)
        self._present["u_uv_max"].value = ((x + bw) / tw, (y + bh) / th)
        self._texture.use(0)
        self._present["u_image"].value = 0
        self._quad.render(moderngl.TRIANGLE_STRIP, vertices=4)

    def pixels(self) -> np.ndarray:
        """What the window shows (the back buffer just drawn): (H, W, 3) uint8 RGB, rows top-down."""
        w, h = self.window.framebuffer_size()
        data = self.ctx.screen.read(viewport=(0, 0, w, h), components=3, alignment=1)
        return np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)[::-1]  # the one flip, at readback

    def save_screenshot(self, path: Path) -> Path:
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(self.pixels())).save(buf, format="PNG")
        atomic_write_bytes(path, buf.getvalue())
        return path

    def next_screenshot_path(self) -> Path:
        k = 0
        while True:
            path = self.screenshot_dir / f"gpu_render-{self.poses.name}{self.index}-{k}.png"
            if not path.exists():
                return path
            k += 1

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
        if self._texture is not None:
            self._texture.release()
        self._quad.release()
        self._present.release()


# -- the interactive loop ------------------------------------------------------------------------


def run_interactive(preview: Preview) -> None:
    import glfw

    handle = preview.window.handle
    up_down, page = preview.grid_steps()
    keys = {
        glfw.KEY_RIGHT: 1,
        glfw.KEY_LEFT: -1,
        glfw.KEY_UP: up_down,
        glfw.KEY_DOWN: -up_down,
        glfw.KEY_PAGE_UP: page,
        glfw.KEY_PAGE_DOWN: -page,
    }
    pending_screenshot = [False]

    def on_key(_w, key: int, _scancode: int, action: int, _mods: int) -> None:
        if action not in (glfw.PRESS, glfw.REPEAT):
            return
        if key in keys:
            preview.step(keys[key])
        elif key == glfw.KEY_SPACE and action == glfw.PRESS:
            preview.playing = not preview.playing
        elif key == glfw.KEY_A and action == glfw.PRESS:
            preview.toggle_antialias()
        elif key == glfw.KEY_S and action == glfw.PRESS:
            pending_screenshot[0] = True  # taken right after the next frame is drawn
        elif key in (glfw.KEY_ESCAPE, glfw.KEY_Q):
            glfw.set_window_should_close(handle, True)

    # Events arrive in order but are handled in batches, so querying the cursor when the button
    # goes down could already see where it went next: follow it through its own events instead.
    cursor = list(glfw.get_cursor_pos(handle))

    def on_button(_w, button: int, action: int, _mods: int) -> None:
        if button == glfw.MOUSE_BUTTON_LEFT:
            if action == glfw.PRESS:
                preview.begin_drag(*cursor)
            else:
                preview.end_drag()

    def on_cursor(_w, x: float, y: float) -> None:
        cursor[:] = [x, y]
        preview.drag_to(x, y)

    glfw.set_key_callback(handle, on_key)
    glfw.set_mouse_button_callback(handle, on_button)
    glfw.set_cursor_pos_callback(handle, on_cursor)

    frames, since = 0, time.perf_counter()
    fps: float | None = None
    glfw.set_window_title(handle, preview.title())
    while not glfw.window_should_close(handle):
        if preview.playing:
            glfw.poll_events()
            preview.step(1)
        else:
            glfw.wait_events_timeout(0.25)  # idle without spinning
        preview.draw()
        if pending_screenshot[0]:
            pending_screenshot[0] = False
            path = preview.save_screenshot(preview.next_screenshot_path())
            print(f"saved {path}", flush=True)
        glfw.swap_buffers(handle)
        frames += 1
        now = time.perf_counter()
        if now - since >= 0.5:
            fps, frames, since = frames / (now - since), 0, now
        glfw.set_window_title(handle, preview.title(fps))


def run_scripted(preview: Preview, poses: list[int], screenshot: str) -> list[Path]:
    """Draw each pose once and save what the window shows; returns the files written."""
    import glfw

    written = []
    glfw.poll_events()
    for index in poses:
        preview.set_pose(index)
        preview.draw()
        path = Path(screenshot.replace("{pose}", str(index)))  # only {pose} is special: "{x}" is a name
        written.append(preview.save_screenshot(path))
        glfw.set_window_title(preview.window.handle, preview.title())
        glfw.swap_buffers(preview.window.handle)
        glfw.poll_events()
    return written


def build_parser() -> Parser:
    p = Parser(prog="python -m gpu_render.preview",
               description="Look at the cLPR cube or any --object live, on the build's renderer.")
    p.add_argument("--size", type=at_least(MIN_SIZE), default=512, metavar="PX", help="window size, px (default 512)")
    p.add_argument("--poses", default="clpr", metavar="SOURCE",
                   help="clpr (default), so3-grid:L, random:N[:SEED] or file:PATH, as in the build")
    p.add_argument("--step", type=step_type, default=None, metavar="S", help="clpr grid step in radians (default 0.1)")
    p.add_argument("--labels", type=Path, default=None, metavar="FILE", help="play back the rotations of a cLPR labels .npy")
    p.add_argument("--pose", type=at_least(0), nargs="+", default=None, metavar="I",
                   help="pose (or labels row) to start at; with --screenshot, the poses to save")
    p.add_argument("--screenshot", default=None, metavar="PATH",
                   help="draw --pose once, save the window to this PNG and exit; '{pose}' in it names each pose")
    p.add_argument("--screenshot-dir", type=Path, default=Path("."), metavar="DIR", help="where S saves screenshots")
    add_scene_arguments(p)  # --object, camera and look, as in the build; --antialias starts with MSAA (A toggles it)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        a = build_parser().parse_args(argv)
        if a.size > MAX_SIZE:
            raise UsageError(f"argument --size: must be at most {MAX_SIZE}, got {a.size}")
        if a.labels is not None:
            poses = PoseList.from_labels(a.labels)
        else:
            poses = PoseList.from_source(source_arg(a.poses, a.step))
        chosen = a.pose or [0]
        too_far = [i for i in chosen if i >= len(poses.matrix)]
        if too_far:
            raise UsageError(f"--pose {too_far[0]} is out of range: there are {len(poses.matrix)} {poses.name}s")
        if a.screenshot is not None and len(chosen) > 1 and "{pose}" not in a.screenshot:
            raise UsageError("--screenshot needs '{pose}' in its name to save several poses")
        if a.pose is not None and len(a.pose) > 1 and a.screenshot is None:
            raise UsageError("several --pose values need --screenshot; the window starts at one pose")
        scene = scene_from_args(a)
        with Window(a.size, a.size, TITLE) as window:
            preview = Preview(window, poses, scene, a.screenshot_dir)
            try:
                if a.screenshot is not None:
                    for path in run_scripted(preview, chosen, a.screenshot):
                        print(f"saved {path}")
                else:
                    preview.set_pose(chosen[0])
                    run_interactive(preview)
            finally:
                preview.close()
    except (UsageError, NoDisplayError, NoOpenGLError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"{PROG}: error: writing{where} failed: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
