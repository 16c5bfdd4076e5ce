"""The GPU renderer for scene objects: perspective, shaded, marks in the shaders, batched.

Like the cLPR :class:`~gpu_render.render.clpr_renderer.Renderer` it is handed a moderngl
context and never makes one; it draws many poses per call into a one-column atlas and reads
each atlas back in one read (:mod:`gpu_render.render.atlas`). The atlas is exactly one tile
wide and tile k sits k tiles up from the bottom, so a short batch clears, resolves and reads
only the rows it uses. Closed objects are drawn with back faces culled and convex ones
without a depth test; a pose is clipped to its tile only when its bounding ball could leave it.

Poses arrive as SCENES.md has them: ``rotation`` (N, 3, 3) float64 R, column vectors, and
``translation`` (N, 3) float64 t, camera frame, object units: ``x_cam = R @ x_obj + t``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TypeVar

import moderngl
import numpy as np

from gpu_render.render.atlas import AtlasLayout, default_batch, max_target_side, read_tiles_bottom_up
from gpu_render.render.scene_vertices import INSTANCE_DTYPE, gpu_instances, indexed_vertices, scene_instances
from gpu_render.render.shaders import load_program
from gpu_render.scene.camera import Pinhole, unit_ball_inside_image
from gpu_render.scene.look import Look
from gpu_render.scene.objects import SceneObject

#: Samples per pixel with an antialiased look (capped by GL_MAX_SAMPLES).
MSAA_SAMPLES = 4
#: Depth range margin around the unit sphere, object units.
DEPTH_MARGIN = 0.01

_GL_CLIP_DISTANCE0 = 0x3000
_CLIP_PLANES = 4

_INSTANCE_FORMAT = "9f 3f/i"
_INSTANCE_ATTRIBUTES = ("in_rotation", "in_translation")
_VERTEX_FORMAT = "3f 3f"
_VERTEX_ATTRIBUTES = ("in_position", "in_normal")
_NO_MARK = {
    "u_mark_kind": 0,
    "u_mark_centre": (0.0, 0.0, 0.0),
    "u_mark_normal": (0.0, 0.0, 1.0),
    "u_mark_radius": 0.0,
    "u_mark_color": (0.0, 0.0, 0.0),
    "u_mark_color2": (0.0, 0.0, 0.0),
}


class _Releasable(Protocol):
    def release(self) -> None: ...


_Owned = TypeVar("_Owned", bound=_Releasable)


class SceneRenderer:
    """Draws one scene object at one image size on a given context.

    ctx: a moderngl context (OpenGL 3.3 core), owned by the caller. obj, camera, look: the
    scene (look.antialias picks 4x MSAA). size: image side, px. batch: poses per draw call
    (default: a full column of the largest atlas). layers: also keep a single-sampled depth
    target so :meth:`render_layers` can read mask and camera z.
    """

    def __init__(
        self,
        ctx: moderngl.Context,
        obj: SceneObject,
        camera: Pinhole,
        look: Look,
        size: int,
        *,
        batch: int | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"size must be positive, got {size}")
        self.ctx, self.obj, self.camera, self.look, self.size = ctx, obj, camera, look, size
        self.layout = AtlasLayout.column(size, batch or default_batch(size), max_target_side(ctx))
        self.samples = min(MSAA_SAMPLES, int(ctx.info["GL_MAX_SAMPLES"])) if look.antialias else 0
        self._released = False
        # Back faces of a closed object never show; a convex one's front faces never overlap.
        self._enables = (moderngl.CULL_FACE if obj.closed else 0) | (0 if obj.convex else moderngl.DEPTH_TEST)
        self._objects: list[_Releasable] = []  # every GL object made here, released by close()

        self.program = self._own(self._colour_program())
        self.layers_program = self._own(load_program(ctx, "scene", fragment="scene_layers"))
        d = camera.d
        depth_range = (max(d - 1.0 - DEPTH_MARGIN, 1e-3), d + 1.0 + DEPTH_MARGIN)
        k = self._k = camera.intrinsics(size)
        # The framebuffers are one tile wide; the viewport keeps the power-of-two sides of the
        # layout, so that window coordinates stay exact (what lies past S px is discarded).
        w, h = self.viewport = self.layout.target
        for program in (self.program, self.layers_program):
            set_uniforms(
                program,
                {
                    "u_focal": (float(k[0, 0]), float(k[1, 1])),
                    "u_principal": (float(k[0, 2]), float(k[1, 2])),
                    "u_depth_range": depth_range,
                    "u_tile": float(size),
                    "u_target": (float(w), float(h)),
                },
            )
        set_uniforms(
            self.program,
            {
                "u_albedo": tuple(c / 255.0 for c in look.albedo),
                "u_light": tuple(float(x) for x in look.light_unit),
                "u_grayscale": int(look.grayscale),
                **(obj.mark.uniforms() if obj.mark is not None else _NO_MARK),
            },
        )
        vertices, indices, vertex_format, attributes = self._vertex_data()
        self._vertices = self._own(ctx.buffer(vertices.tobytes()))
        self._indices = self._own(ctx.buffer(indices.tobytes()))
        self._instances = self._own(ctx.buffer(reserve=self.layout.capacity * INSTANCE_DTYPE.itemsize))
        content = [
            (self._vertices, vertex_format, *attributes),
            (self._instances, _INSTANCE_FORMAT, *_INSTANCE_ATTRIBUTES),
        ]
        self.vao = self._own(ctx.vertex_array(self.program, content, index_buffer=self._indices, index_element_size=4))
        # The layers pass reads no normal (its compiler drops in_normal): step over those bytes.
        self.layers_vao = self._own(
            ctx.vertex_array(
                self.layers_program,
                [
                    (self._vertices, f"3f {vertices.shape[1] * 4 - 12}x", "in_position"),
                    content[1],
                ],
                index_buffer=self._indices,
                index_element_size=4,
            )
        )
        self._configure()
        self.fbo = self._framebuffer(4, "f1", self.samples, h)
        self._resolved: dict[int, moderngl.Framebuffer] = {}  # MSAA resolve targets by rows
        self._layers_fbo: moderngl.Framebuffer | None = None
        self._staging = np.empty((self.layout.height, size, 3), dtype=np.uint8)
        self._depth_staging: np.ndarray | None = None

    def _own(self, obj: _Owned) -> _Owned:
        """Keep ``obj`` to release on :meth:`close`; returns it."""
        self._objects.append(obj)
        return obj

    # -- what a variant changes (gpu_render.render.look_renderer) ---------------------------

    def _colour_program(self) -> moderngl.Program:
        """The program of the colour pass. Unmarked objects shade from the normal alone: a
        fragment shader that reads fewer varyings."""
        return load_program(self.ctx, "scene", fragment="scene" if self.obj.mark is not None else "scene_plain")

    def _vertex_data(self) -> tuple[np.ndarray, np.ndarray, str, tuple[str, ...]]:
        """(vertices (V, C) float32 with position first, indices (3T,) uint32, their moderngl
        format and attribute names)."""
        vertices, indices = indexed_vertices(self.obj)
        return vertices, indices, _VERTEX_FORMAT, _VERTEX_ATTRIBUTES

    def _configure(self) -> None:
        """Make what the colour pass needs beyond the program and buffers (nothing here)."""

    def _submit(self, vao: moderngl.VertexArray, instances: np.ndarray) -> None:
        """Issue the draw calls of ``instances`` (inside the pass's framebuffer scope)."""
        vao.render(moderngl.TRIANGLES, instances=len(instances))

    def _framebuffer(
        self, components: int, dtype: str, samples: int, rows: int, depth: bool = True
    ) -> moderngl.Framebuffer:
        """A target one tile wide and ``rows`` px high; with a depth buffer unless the object
        is convex (its draws never test depth) or ``depth`` is False."""
        size = (self.size, rows)
        colour = self._own(self.ctx.renderbuffer(size, components, samples=samples, dtype=dtype))
        if not depth or self.obj.convex:
            return self._own(self.ctx.framebuffer(colour))
        return self._own(self.ctx.framebuffer(colour, self._own(self.ctx.depth_renderbuffer(size, samples=samples))))

    # -- drawing ---------------------------------------------------------------------------

    def render(self, rotation: np.ndarray, translation: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Render N poses: rotation (N, 3, 3) float64 R, translation (N, 3) or (3,) t.

        Returns ``out``: (N, size, size, 3) uint8 RGB, rows top-down.
        """
        return self.render_instances(scene_instances(rotation, translation), out)

    def render_instances(self, instances: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Render poses given as :func:`scene_instances` data. Returns (N, S, S, 3) uint8, rows top-down."""
        self._check_open()
        n, s = len(instances), self.size
        if out is None:
            out = np.empty((n, s, s, 3), dtype=np.uint8)
        elif out.shape != (n, s, s, 3) or out.dtype != np.uint8:
            raise ValueError(f"out must be ({n}, {s}, {s}, 3) uint8, got {out.shape} {out.dtype}")
        cap = self.layout.capacity
        for a in range(0, n, cap):
            chunk = instances[a : a + cap]
            source = self.draw_atlas(chunk)
            self.read(source, len(chunk), out[a : a + len(chunk)])
        return out

    def read(self, source: moderngl.Framebuffer, n: int, out: np.ndarray) -> None:
        """Read tiles 0..n-1 of ``source`` (from :meth:`draw_atlas`) into ``out``
        (n, S, S, 3) uint8, rows top-down: one glReadPixels and one flipping copy."""
        read_tiles_bottom_up(source, self.size, n, out, self._staging)

    def render_layers(self, instances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The aliased layers of poses given as :func:`scene_instances` data.

        Returns (mask (N, S, S) uint8, 255 on the object; depth (N, S, S) float32, camera z in
        object units, 0 on the background), rows top-down.
        """
        self._check_open()
        n, s = len(instances), self.size
        if self._layers_fbo is None:
            self._layers_fbo = self._framebuffer(1, "f4", 0, self.viewport[1])
            self._depth_staging = np.empty((self.layout.height, s), dtype=np.float32)
        assert self._depth_staging is not None
        depth = np.empty((n, s, s), dtype=np.float32)
        cap = self.layout.capacity
        for a in range(0, n, cap):
            chunk = instances[a : a + cap]
            self._draw(self._layers_fbo, self.layers_vao, chunk, (0.0, 0.0, 0.0, 0.0))
            read_tiles_bottom_up(
                self._layers_fbo,
                s,
                len(chunk),
                depth[a : a + len(chunk)],
                self._depth_staging,
                components=1,
                dtype="f4",
            )
        mask = np.where(depth > 0, np.uint8(255), np.uint8(0))
        return mask, depth

    def draw_atlas(self, instances: np.ndarray) -> moderngl.Framebuffer:
        """Draw up to ``layout.capacity`` poses; returns the single-sampled framebuffer holding
        them: tile k covers GL rows [k S, (k + 1) S) (y up), the full width S."""
        self._check_open()
        if len(instances) > self.layout.capacity:
            raise ValueError(f"at most {self.layout.capacity} poses fit one atlas, got {len(instances)}")
        r, g, b = (c / 255.0 for c in self.look.background)
        self._draw(self.fbo, self.vao, instances, (r, g, b, 1.0))
        return self.resolve(len(instances))

    def resolve(self, n: int) -> moderngl.Framebuffer:
        """The single-sampled framebuffer holding tiles 0..n-1 of the last draw: the MSAA
        target resolved over its first n S rows only, or the draw target itself."""
        if not self.samples:
            return self.fbo
        rows = max(1, n) * self.size
        target = self._resolved.get(rows)
        if target is None:
            if len(self._resolved) >= 2:  # the full atlas and the latest short batch
                for r in [r for r in self._resolved if r != self.layout.capacity * self.size]:
                    self._release(self._resolved.pop(r))
            target = self._resolved[rows] = self._framebuffer(4, "f1", 0, rows, depth=False)
        # A blit copies the region both targets share from the origin: the first ``rows`` rows.
        self.ctx.copy_framebuffer(target, self.fbo)
        return target

    def tile_box(self, k: int) -> tuple[int, int, int, int]:
        """Where tile k lies in :meth:`draw_atlas`'s framebuffer: (x, y, width, height), px, y up."""
        return (0, k * self.size, self.size, self.size)

    def _draw(
        self,
        fbo: moderngl.Framebuffer,
        vao: moderngl.VertexArray,
        instances: np.ndarray,
        clear: tuple[float, float, float, float],
    ) -> None:
        n = len(instances)
        data = gpu_instances(instances).tobytes()
        if len(data) > self._instances.size:
            self._instances.orphan(len(data))
        if data:
            self._instances.write(data)
        # Clip planes only when some pose's bounding ball could leave its tile: without them
        # llvmpipe skips its clipping stage.
        clip = n > 0 and not unit_ball_inside_image(self._k, instances["translation"], self.size)
        # scope() restores the framebuffer binding and the enable flags on exit.
        with self.ctx.scope(fbo, enable=self._enables):
            fbo.clear(*clear, depth=1.0, viewport=(0, 0, self.size, max(1, n) * self.size))
            fbo.viewport = (0, 0, *self.viewport)
            self.ctx.depth_func = "<"
            self.ctx.front_face = "ccw"
            self.ctx.cull_face = "back"
            for i in range(_CLIP_PLANES if clip else 0):
                self.ctx.enable_direct(_GL_CLIP_DISTANCE0 + i)
            try:
                if n:
                    self._submit(vao, instances)
            finally:
                for i in range(_CLIP_PLANES if clip else 0):
                    self.ctx.disable_direct(_GL_CLIP_DISTANCE0 + i)

    # -- lifetime --------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._released:
            raise RuntimeError("this SceneRenderer has been closed")

    def close(self) -> None:
        """Release the GL objects this renderer made. Safe to call twice."""
        if self._released:
            return
        self._released = True
        for obj in reversed(self._objects):
            obj.release()
        self._objects.clear()
        self._resolved.clear()

    def _release(self, fbo: moderngl.Framebuffer) -> None:
        """Release a framebuffer this renderer made, with its attachments."""
        for obj in (fbo, *fbo.color_attachments, *([fbo.depth_attachment] if fbo.depth_attachment else [])):
            self._objects.remove(obj)
            obj.release()

    def __enter__(self) -> SceneRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def set_uniforms(program: moderngl.Program, values: Mapping[str, object]) -> None:
    """Set the uniforms the program uses (the GLSL compiler drops unused ones)."""
    for name, value in values.items():
        if name in program:
            uniform = program[name]
            assert isinstance(uniform, moderngl.Uniform)
            uniform.value = value
