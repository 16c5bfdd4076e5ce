"""``python -m gpu_render.preview``: look at any scene live, drawn by the build's own renderer.

Every frame is rendered by the renderer the build uses for ``--object`` (the cLPR cube's
:class:`~gpu_render.render.clpr_renderer.Renderer` or the shaded
:class:`~gpu_render.render.scene_renderer.SceneRenderer`, aliased or MSAA) into its
framebuffer, then shown 1:1 in a square centred in the window. The window therefore shows
exactly the bytes a build would write.

The look options are the build's (docs/LOOKS.md): with random point lights or ``--backgrounds``,
pose i shows the lights and photograph of the build's image i.

Keys: arrows and PageUp/PageDown step through the pose grid, Space plays and pauses, A
toggles anti-aliasing, S saves a screenshot, Esc or Q quits. Dragging with the left mouse
button turns the cube (arcball).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import moderngl
import numpy as np
from PIL import Image

from gpu_render.cli.arg_types import MAX_SIZE, MIN_SIZE, Parser, at_least, source_arg, step_type
from gpu_render.cli.preview_loops import run_interactive, run_scripted
from gpu_render.cli.preview_poses import PoseList
from gpu_render.cli.scene_options import add_scene_arguments, scene_from_args
from gpu_render.dataset.writer import atomic_write_bytes
from gpu_render.errors import UsageError
from gpu_render.render.backends import BatchRenderer, backend
from gpu_render.render.context import NoDisplayError, NoOpenGLError, Window
from gpu_render.render.scene_vertices import scene_instances
from gpu_render.render.shaders import load_program
from gpu_render.rotations.arcball import rotation_between, sphere_point
from gpu_render.rotations.euler import matrix_to_euler
from gpu_render.scene.scene import ObjectScene, Scene

PROG = "gpu_render.preview"
TITLE = "gpu_render preview"


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

    def _instances(self) -> np.ndarray:
        """The current pose's instance data. A look drawn per image (point lights, photographs)
        takes the pose's index, so pose i shows the lights and background of the build's image i
        (a dragged pose keeps those of the pose it started from)."""
        s = self.scene
        if isinstance(s, ObjectScene) and s.look.per_image:
            rotation = self.matrix[None].transpose(0, 2, 1)  # the row-vector M is R.T
            return scene_instances(rotation, s.camera.translation, np.array([self.index], dtype=np.int64))
        return backend(s).row_instances(self.matrix[None])

    def draw(self) -> None:
        """Render the current pose and show it in a square centred in the window."""
        w, h = self.window.framebuffer_size()
        size = max(1, min(w, h))
        r = self._renderer_for(size)
        frame = r.draw_atlas(self._instances())
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
        self._present["u_uv_min"] = (x / tw, y / th)
        self._present["u_uv_max"] = ((x + bw) / tw, (y + bh) / th)
        self._texture.use(0)
        self._present["u_image"] = 0
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


def build_parser() -> Parser:
    p = Parser(
        module="gpu_render.preview", description="Look at the cLPR cube or any --object live, on the build's renderer."
    )
    p.add_argument("--size", type=at_least(MIN_SIZE), default=512, metavar="PX", help="window size, px (default 512)")
    p.add_argument(
        "--poses",
        default="clpr",
        metavar="SOURCE",
        help="clpr (default), so3-grid:L, random:N[:SEED] or file:PATH, as in the build",
    )
    p.add_argument("--step", type=step_type, default=None, metavar="S", help="clpr grid step in radians (default 0.1)")
    p.add_argument(
        "--labels", type=Path, default=None, metavar="FILE", help="play back the rotations of a cLPR labels .npy"
    )
    p.add_argument(
        "--pose",
        type=at_least(0),
        nargs="+",
        default=None,
        metavar="I",
        help="pose (or labels row) to start at; with --screenshot, the poses to save",
    )
    p.add_argument(
        "--screenshot",
        default=None,
        metavar="PATH",
        help="draw --pose once, save the window to this PNG and exit; '{pose}' in it names each pose",
    )
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
