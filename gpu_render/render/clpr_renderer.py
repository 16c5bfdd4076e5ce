"""The GPU batch renderer: many poses per draw call, tiled into an atlas, read back in batches.

A :class:`Renderer` is given a moderngl context (see :mod:`gpu_render.render.context`) and never
makes one. Poses arrive as the project's one matrix convention: ``matrix`` (N, 3, 3) for row
vectors and ``translation`` (N, 3) canvas px, so that a corner ``p`` lands at ``p @ M + t``
(see :func:`gpu_render.scene.clpr_labels.translation`).
"""

from __future__ import annotations

import moderngl
import numpy as np

from gpu_render.render.atlas import MAX_ATLAS_SIDE, AtlasLayout, default_batch, max_target_side, read_column
from gpu_render.render.clpr_vertices import VERTEX_ATTRIBUTES, VERTEX_FORMAT, cube_vertices, visibility_mask
from gpu_render.render.shaders import load_program
from gpu_render.scene.clpr_cube import BACKGROUND, CANVAS, DOT_RADIUS, NODES
from gpu_render.scene.clpr_labels import face_visible, node_visible

# AtlasLayout and default_batch live in render.atlas; they are re-exported for existing callers.
__all__ = ["MAX_ATLAS_SIDE", "AtlasLayout", "Renderer", "default_batch", "pose_instances"]

#: Samples per pixel with antialias=True (capped by GL_MAX_SAMPLES).
MSAA_SAMPLES = 4

_GL_SAMPLE_ALPHA_TO_COVERAGE = 0x809E

INSTANCE_DTYPE = np.dtype([("matrix", "<f4", (3, 3)), ("translation", "<f4", 3), ("mask", "<i4")])
INSTANCE_FORMAT = "9f 3f i/i"
INSTANCE_ATTRIBUTES = ("in_matrix", "in_translation", "in_mask")


def pose_instances(matrix: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Per-instance data for the vertex shader.

    matrix: (N, 3, 3) float64, row vectors; translation: (N, 3) float64, canvas px.
    Returns (N,) structured array of INSTANCE_DTYPE (float32 matrix and translation, and
    the visibility mask computed in float64 by the spec's rule).
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    translation = np.asarray(translation, dtype=np.float64)
    if matrix.ndim != 3 or matrix.shape[1:] != (3, 3):
        raise ValueError(f"matrix must have shape (N, 3, 3), got {matrix.shape}")
    if translation.shape != (len(matrix), 3):
        raise ValueError(f"translation must have shape ({len(matrix)}, 3), got {translation.shape}")
    corners = NODES @ matrix + translation[:, None, :]
    faces = face_visible(corners)
    out = np.empty(len(matrix), dtype=INSTANCE_DTYPE)
    out["matrix"] = matrix
    out["translation"] = translation
    out["mask"] = visibility_mask(faces, node_visible(faces))
    return out


class Renderer:
    """Draws cLPR images of one size on a given context.

    ctx: a moderngl context (OpenGL 3.3 core or later), owned by the caller.
    size: image side, px; the picture is the 256 canvas scaled by size/256, dots too.
    antialias: render with MSAA (and alpha-to-coverage for the dots) instead of aliased.
    batch: poses per draw call (atlas tiles); default: a full column of the largest atlas,
        MAX_ATLAS_SIDE // size tiles (capped by the driver's limits).

    Reusable across any number of :meth:`render` calls; :meth:`close` (or leaving a
    ``with`` block) releases its GL objects.
    """

    def __init__(self, ctx: moderngl.Context, size: int, *, antialias: bool = False, batch: int | None = None) -> None:
        if size < 1:
            raise ValueError(f"size must be positive, got {size}")
        self.ctx = ctx
        self.size = size
        self.antialias = antialias
        self.layout = AtlasLayout.column(size, batch or default_batch(size), max_target_side(ctx))
        self.samples = min(MSAA_SAMPLES, int(ctx.info["GL_MAX_SAMPLES"])) if antialias else 0
        self._released = False

        self.program = load_program(ctx, "cube")
        self.program["u_scale"] = size / CANVAS
        self.program["u_dot_radius"] = DOT_RADIUS * size / CANVAS
        self.program["u_antialias"] = int(antialias)
        self._vertices = ctx.buffer(cube_vertices().tobytes())
        self._instances = ctx.buffer(reserve=self.layout.capacity * INSTANCE_DTYPE.itemsize)
        self.vao = ctx.vertex_array(
            self.program,
            [
                (self._vertices, VERTEX_FORMAT, *VERTEX_ATTRIBUTES),
                (self._instances, INSTANCE_FORMAT, *INSTANCE_ATTRIBUTES),
            ],
        )
        w, h = self.layout.target
        self._color = ctx.renderbuffer((w, h), 4, samples=self.samples)
        self._depth = ctx.depth_renderbuffer((w, h), samples=self.samples)
        self.fbo = ctx.framebuffer(self._color, self._depth)
        self._resolve: moderngl.Framebuffer | None = None
        self._resolve_color: moderngl.Renderbuffer | None = None
        if self.samples:
            self._resolve_color = ctx.renderbuffer((w, h), 4)
            self._resolve = ctx.framebuffer(self._resolve_color)
        self._staging = np.empty((self.layout.height, self.layout.width, 3), dtype=np.uint8)

    # -- drawing ---------------------------------------------------------------------------

    def draw(self, instances: np.ndarray, target_size: tuple[int, int], columns: int) -> None:
        """Draw ``instances`` (from :func:`pose_instances`) into the bound framebuffer.

        Tile k sits at column k % columns, row k // columns (rows counted from the top) of a
        viewport of ``target_size`` (width, height) px. Clears nothing: the caller does. The
        preview uses this with a single tile to draw into its window.
        """
        n = len(instances)
        if n == 0:
            return
        if n * INSTANCE_DTYPE.itemsize > self._instances.size:
            self._instances.orphan(n * INSTANCE_DTYPE.itemsize)
        self._instances.write(np.ascontiguousarray(instances, dtype=INSTANCE_DTYPE).tobytes())
        self.program["u_columns"] = columns
        self.program["u_tile"] = float(self.size)
        self.program["u_target"] = (float(target_size[0]), float(target_size[1]))
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.ctx.depth_func = "<="
        if self.samples:
            self.ctx.enable_direct(_GL_SAMPLE_ALPHA_TO_COVERAGE)
        self.vao.render(moderngl.TRIANGLES, instances=n)
        if self.samples:
            self.ctx.disable_direct(_GL_SAMPLE_ALPHA_TO_COVERAGE)

    def render(self, matrix: np.ndarray, translation: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Render N poses.

        matrix: (N, 3, 3) float64, row vectors; translation: (N, 3) float64, canvas px.
        out: optional preallocated (N, size, size, 3) uint8, C-contiguous.
        Returns ``out``: (N, size, size, 3) uint8 RGB, rows top-down.
        """
        return self.render_instances(pose_instances(matrix, translation), out)

    def render_instances(self, instances: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Render poses given as :func:`pose_instances` data (computed once, shared by sizes).

        Returns ``out``: (N, size, size, 3) uint8 RGB, rows top-down.
        """
        self._check_open()
        n, s = len(instances), self.size
        if out is None:
            out = np.empty((n, s, s, 3), dtype=np.uint8)
        elif out.shape != (n, s, s, 3) or out.dtype != np.uint8:
            raise ValueError(f"out must be ({n}, {s}, {s}, 3) uint8, got {out.shape} {out.dtype}")
        cap = self.layout.capacity
        for start in range(0, n, cap):
            chunk = instances[start : start + cap]
            self._read_tiles(self._draw_atlas(chunk), len(chunk), out[start : start + len(chunk)])
        return out

    def draw_batch(self, matrix: np.ndarray, translation: np.ndarray) -> moderngl.Framebuffer:
        """Draw up to ``layout.capacity`` poses into the atlas and return the framebuffer holding them.

        Tile k is at column k % columns, row k // columns, counted from the top-left of a
        target of ``layout.target`` px (GL rows bottom-up). Single-sampled, MSAA resolved.
        The preview shows this framebuffer's first tile in its window.
        """
        return self.draw_atlas(pose_instances(matrix, translation))

    def draw_atlas(self, instances: np.ndarray) -> moderngl.Framebuffer:
        """:meth:`draw_batch` for poses given as :func:`pose_instances` data."""
        self._check_open()
        if len(instances) > self.layout.capacity:
            raise ValueError(f"at most {self.layout.capacity} poses fit one atlas, got {len(instances)}")
        return self._draw_atlas(instances)

    def _draw_atlas(self, instances: np.ndarray) -> moderngl.Framebuffer:
        # Leave the binding as found, so that closing this renderer never strands one.
        previous = self.ctx.fbo if self.ctx.fbo is not None else self.ctx.detect_framebuffer()
        self.fbo.use()
        bg = BACKGROUND / 255.0
        self.fbo.clear(float(bg[0]), float(bg[1]), float(bg[2]), 1.0, depth=1.0)
        self.fbo.viewport = (0, 0, *self.layout.target)
        self.draw(instances, self.layout.target, self.layout.columns)
        if self._resolve is not None:
            self.ctx.copy_framebuffer(self._resolve, self.fbo)
        previous.use()
        return self._resolve if self._resolve is not None else self.fbo

    def tile_box(self, k: int) -> tuple[int, int, int, int]:
        """Where tile k lies in :meth:`draw_atlas`'s framebuffer: (x, y, width, height), px, y up."""
        s, (_, h) = self.size, self.layout.target
        col, row = k % self.layout.columns, k // self.layout.columns
        return (col * s, h - (row + 1) * s, s, s)

    def _read_tiles(self, source: moderngl.Framebuffer, n: int, out: np.ndarray) -> None:
        """Read the first ``n`` tiles back into ``out`` (n, size, size, 3), flipping rows once."""
        read_column(source, self.layout, n, out, self._staging)

    # -- lifetime --------------------------------------------------------------------------

    def render_layers(self, instances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The cube has no mask or depth layers: ``--layers`` draws scene objects only."""
        raise ValueError("the cLPR cube has no mask or depth layers (layers are drawn for scene objects only)")

    def _check_open(self) -> None:
        if self._released:
            raise RuntimeError("this Renderer has been closed")

    def close(self) -> None:
        """Release the GL objects this renderer made. Safe to call twice."""
        if self._released:
            return
        self._released = True
        for obj in (
            self.vao,
            self.fbo,
            self._resolve,
            self._color,
            self._depth,
            self._resolve_color,
            self._vertices,
            self._instances,
            self.program,
        ):
            if obj is not None:
                obj.release()

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
