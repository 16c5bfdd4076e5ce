"""The GPU renderer for scene objects: perspective, shaded, marks in the shaders, batched.

Like the cLPR :class:`~gpu_render.render.clpr_renderer.Renderer` it is handed a moderngl
context and never makes one; it draws many poses per call into a one-column atlas (each pose
clipped to its own tile) and reads each atlas back in one read (:mod:`gpu_render.render.atlas`).

Poses arrive as SCENES.md has them: ``rotation`` (N, 3, 3) float64 R, column vectors, and
``translation`` (N, 3) float64 t, camera frame, object units: ``x_cam = R @ x_obj + t``.
"""

from __future__ import annotations

import moderngl
import numpy as np

from gpu_render.render.atlas import AtlasLayout, default_batch, max_target_side, read_column
from gpu_render.render.shaders import load_program
from gpu_render.scene.camera import Pinhole
from gpu_render.scene.look import Look
from gpu_render.scene.objects import SceneObject

#: Samples per pixel with an antialiased look (capped by GL_MAX_SAMPLES).
MSAA_SAMPLES = 4
#: Depth range margin around the unit sphere, object units.
DEPTH_MARGIN = 0.01

_GL_CLIP_DISTANCE0 = 0x3000
_CLIP_PLANES = 4

INSTANCE_DTYPE = np.dtype([("rotation", "<f4", (3, 3)), ("translation", "<f4", 3)])
_INSTANCE_FORMAT = "9f 3f/i"
_INSTANCE_ATTRIBUTES = ("in_rotation", "in_translation")
_VERTEX_FORMAT = "3f 3f"
_VERTEX_ATTRIBUTES = ("in_position", "in_normal")
_NO_MARK = {
    "u_mark_kind": 0, "u_mark_centre": (0.0, 0.0, 0.0), "u_mark_normal": (0.0, 0.0, 1.0),
    "u_mark_radius": 0.0, "u_mark_color": (0.0, 0.0, 0.0), "u_mark_color2": (0.0, 0.0, 0.0),
}


def scene_instances(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Per-instance data: rotation (N, 3, 3) float64 R; translation (N, 3) or (3,) float64 t.

    Returns (N,) structured array of INSTANCE_DTYPE (float32), shared by every size.
    """
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.ndim != 3 or rotation.shape[1:] != (3, 3):
        raise ValueError(f"rotation must have shape (N, 3, 3), got {rotation.shape}")
    out = np.empty(len(rotation), dtype=INSTANCE_DTYPE)
    out["rotation"] = rotation
    out["translation"] = np.broadcast_to(np.asarray(translation, dtype=np.float64), (len(rotation), 3))
    return out


class SceneRenderer:
    """Draws one scene object at one image size on a given context.

    ctx: a moderngl context (OpenGL 3.3 core), owned by the caller. obj, camera, look: the
    scene (look.antialias picks 4x MSAA). size: image side, px. batch: poses per draw call
    (default: a full column of the largest atlas). layers: also keep a single-sampled depth
    target so :meth:`render_layers` can read mask and camera z.
    """

    def __init__(
        self, ctx: moderngl.Context, obj: SceneObject, camera: Pinhole, look: Look, size: int, *,
        batch: int | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"size must be positive, got {size}")
        self.ctx, self.obj, self.camera, self.look, self.size = ctx, obj, camera, look, size
        self.layout = AtlasLayout.column(size, batch or default_batch(size), max_target_side(ctx))
        self.samples = min(MSAA_SAMPLES, int(ctx.info["GL_MAX_SAMPLES"])) if look.antialias else 0
        self._released = False
        self._objects: list[moderngl.Buffer | moderngl.Program | moderngl.VertexArray | moderngl.Framebuffer
                            | moderngl.Renderbuffer] = []

        self.program = self._own(load_program(ctx, "scene"))
        self.layers_program = self._own(load_program(ctx, "scene", fragment="scene_layers"))
        d = camera.d
        depth_range = (max(d - 1.0 - DEPTH_MARGIN, 1e-3), d + 1.0 + DEPTH_MARGIN)
        k = camera.intrinsics(size)
        w, h = self.layout.target
        for program in (self.program, self.layers_program):
            _set(program, {
                "u_focal": (float(k[0, 0]), float(k[1, 1])),
                "u_principal": (float(k[0, 2]), float(k[1, 2])),
                "u_depth_range": depth_range,
                "u_tile": float(size),
                "u_target": (float(w), float(h)),
            })
        _set(self.program, {
            "u_albedo": tuple(c / 255.0 for c in look.albedo),
            "u_light": tuple(float(x) for x in look.light_unit),
            "u_grayscale": int(look.grayscale),
            **(obj.mark.uniforms() if obj.mark is not None else _NO_MARK),
        })
        vertices, indices = indexed_vertices(obj)
        self._vertices = self._own(ctx.buffer(vertices.tobytes()))
        self._indices = self._own(ctx.buffer(indices.tobytes()))
        self._instances = self._own(ctx.buffer(reserve=self.layout.capacity * INSTANCE_DTYPE.itemsize))
        content = [
            (self._vertices, _VERTEX_FORMAT, *_VERTEX_ATTRIBUTES),
            (self._instances, _INSTANCE_FORMAT, *_INSTANCE_ATTRIBUTES),
        ]
        self.vao = self._own(ctx.vertex_array(self.program, content, index_buffer=self._indices, index_element_size=4))
        # The layers pass reads no normal (its compiler drops in_normal): step over those bytes.
        self.layers_vao = self._own(ctx.vertex_array(self.layers_program, [
            (self._vertices, "3f 12x", "in_position"), content[1],
        ], index_buffer=self._indices, index_element_size=4))
        self.fbo = self._framebuffer(4, "f1", self.samples)
        self._resolve = self._framebuffer(4, "f1", 0) if self.samples else None
        self._layers_fbo: moderngl.Framebuffer | None = None
        self._staging = np.empty((self.layout.height, size, 3), dtype=np.uint8)
        self._depth_staging: np.ndarray | None = None

    def _own(self, obj):  # noqa: ANN001, ANN202 - any GL object; released by close()
        self._objects.append(obj)
        return obj

    def _framebuffer(self, components: int, dtype: str, samples: int) -> moderngl.Framebuffer:
        size = self.layout.target
        colour = self._own(self.ctx.renderbuffer(size, components, samples=samples, dtype=dtype))
        depth = self._own(self.ctx.depth_renderbuffer(size, samples=samples))
        return self._own(self.ctx.framebuffer(colour, depth))

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
            read_column(source, self.layout, len(chunk), out[a : a + len(chunk)], self._staging)
        return out

    def render_layers(self, instances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The aliased layers of poses given as :func:`scene_instances` data.

        Returns (mask (N, S, S) uint8, 255 on the object; depth (N, S, S) float32, camera z in
        object units, 0 on the background), rows top-down.
        """
        self._check_open()
        n, s = len(instances), self.size
        if self._layers_fbo is None:
            self._layers_fbo = self._framebuffer(1, "f4", 0)
            self._depth_staging = np.empty((self.layout.height, s), dtype=np.float32)
        assert self._depth_staging is not None
        depth = np.empty((n, s, s), dtype=np.float32)
        cap = self.layout.capacity
        for a in range(0, n, cap):
            chunk = instances[a : a + cap]
            self._draw(self._layers_fbo, self.layers_vao, chunk, (0.0, 0.0, 0.0, 0.0))
            read_column(self._layers_fbo, self.layout, len(chunk), depth[a : a + len(chunk)], self._depth_staging,
                        components=1, dtype="f4")
        mask = np.where(depth > 0, np.uint8(255), np.uint8(0))
        return mask, depth

    def draw_atlas(self, instances: np.ndarray) -> moderngl.Framebuffer:
        """Draw up to ``layout.capacity`` poses; returns the single-sampled framebuffer holding
        them (tile k at row k of the column, counted from the target's top)."""
        self._check_open()
        if len(instances) > self.layout.capacity:
            raise ValueError(f"at most {self.layout.capacity} poses fit one atlas, got {len(instances)}")
        bg = tuple(c / 255.0 for c in self.look.background)
        self._draw(self.fbo, self.vao, instances, (*bg, 1.0))
        if self._resolve is not None:
            self.ctx.copy_framebuffer(self._resolve, self.fbo)
            return self._resolve
        return self.fbo

    def _draw(self, fbo: moderngl.Framebuffer, vao: moderngl.VertexArray, instances: np.ndarray,
              clear: tuple[float, float, float, float]) -> None:
        n = len(instances)
        data = np.ascontiguousarray(instances, dtype=INSTANCE_DTYPE).tobytes()
        if len(data) > self._instances.size:
            self._instances.orphan(len(data))
        if data:
            self._instances.write(data)
        # scope() restores the framebuffer binding and the enable flags on exit.
        with self.ctx.scope(fbo, enable=moderngl.DEPTH_TEST):
            fbo.clear(*clear, depth=1.0)
            fbo.viewport = (0, 0, *self.layout.target)
            self.ctx.depth_func = "<"
            for i in range(_CLIP_PLANES):
                self.ctx.enable_direct(_GL_CLIP_DISTANCE0 + i)
            try:
                if n:
                    vao.render(moderngl.TRIANGLES, instances=n)
            finally:
                for i in range(_CLIP_PLANES):
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

    def __enter__(self) -> SceneRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def indexed_vertices(obj: SceneObject) -> tuple[np.ndarray, np.ndarray]:
    """The object's triangle corners as shared vertices and an index list.

    Returns (vertices (V, 6) float32: position then normal, object frame; indices (3T,) uint32).
    Corners with the same position and normal become one vertex, so the vertex shader runs
    once per vertex of a smooth surface instead of once per triangle corner (a sphere of
    20480 triangles has 10242 vertices, against 61440 corners).
    """
    corners = np.concatenate([obj.positions.reshape(-1, 3), obj.normals.reshape(-1, 3)], axis=1).astype(np.float32)
    unique, inverse = np.unique(corners, axis=0, return_inverse=True)
    return np.ascontiguousarray(unique), inverse.reshape(-1).astype(np.uint32)


def _set(program: moderngl.Program, values: dict[str, object]) -> None:
    """Set the uniforms the program uses (the GLSL compiler drops unused ones)."""
    for name, value in values.items():
        if name in program:
            program[name].value = value
