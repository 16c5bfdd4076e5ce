"""The GPU renderer of scenes of several objects: colour, instance ids, depth and whole silhouettes.

It is handed a moderngl context and never makes one, and leaves the framebuffer binding and the
enable flags as it found them (it sets the depth function, front face and culled face to
``<``, ``ccw`` and ``back``, the values the scene renderer sets). One image at a time, of any
width W and height H with any K:

- **The scene pass** (``shaders/instance.*``) draws every instance, each its own draw call with
  its own R and t, with a depth test, into three attachments at once: RGBA8 colour (the scene
  renderer's shading and marks), an R32I instance id (gt_id + 1, 0 on the background) and an R32F
  camera z (object units, 0 on the background). It is aliased: one sample at each pixel centre.
  An antialiased look also draws the colour into a 4x MSAA target and resolves it; the ids and
  depth stay the aliased pass's.
- **The silhouette pass** (``instance_mask.frag``) draws each instance alone, with no depth test
  and every face, into its own band of an R8 target: band k is the image with a border of
  ``border`` px on every side (the extended canvas, (W + 2 b) x (H + 2 b)), so a truncated
  instance's whole silhouette is kept. Each instance owns its band, so the masks are exact
  (no blending, no bit limits), and a scissor keeps each draw inside its band.

Both passes snap projected corners to the 1/256 px grid and use power-of-two viewports, so an
instance's coverage in the canvas is its coverage in the image shifted by (b, b): the visible
pixels of an instance lie inside its whole silhouette.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import moderngl
import numpy as np

from gpu_render.render.scene_renderer import MSAA_SAMPLES, set_uniforms
from gpu_render.render.scene_vertices import indexed_vertices
from gpu_render.render.shaders import load_program
from gpu_render.scene.look import Look
from gpu_render.scene.marks import Mark
from gpu_render.scene.multi_plan import ImagePlan, amodal_border
from gpu_render.scene.objects import SceneObject

#: Depth range margin around the instances' unit balls, object units.
DEPTH_MARGIN = 0.01
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


@dataclass(frozen=True, eq=False)
class InstanceLayers:
    """One image of K instances, rows top-down.

    image: (H, W, 3) uint8 RGB. instance_ids: (H, W) int32, gt_id + 1 of the instance each pixel
    shows, 0 on the background. depth: (H, W) float32 camera z, object units, 0 on the background.
    amodal: (K, H + 2 b, W + 2 b) bool, each instance's whole silhouette on the extended canvas;
    image pixel (col, row) is canvas pixel (col + b, row + b). offset: (b, b), as
    :mod:`gpu_render.dataset.bop_gt` takes it.
    """

    image: np.ndarray
    instance_ids: np.ndarray
    depth: np.ndarray
    amodal: np.ndarray
    offset: tuple[int, int]


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


class InstanceRenderer:
    """Draws images of instances of ``objects`` on a given context.

    ctx: a moderngl context (OpenGL 3.3 core), owned by the caller. objects: the distinct objects
    (an :class:`~gpu_render.scene.multi_plan.ImagePlan`'s ``objects`` index them). look: albedo,
    light, background, grayscale and antialias are used (mesh surfaces, point lights, specular
    and photo backgrounds are not). width, height: px. k: (3, 3) float64 intrinsics, px.
    border: b, px on each side of the extended canvas. max_instances: bands of the silhouette
    target (instances drawn per turn; fewer when the GL's size limit says so).
    """

    def __init__(
        self,
        ctx: moderngl.Context,
        objects: Sequence[SceneObject],
        look: Look,
        width: int,
        height: int,
        k: np.ndarray,
        border: int,
        max_instances: int = 16,
    ) -> None:
        if width < 1 or height < 1 or border < 0 or max_instances < 1:
            raise ValueError(f"bad sizes: {width}x{height}, border {border}, {max_instances} instances")
        self.ctx, self.look, self.width, self.height, self.border = ctx, look, width, height, border
        self.k = np.asarray(k, dtype=np.float64)
        self._objects: list[_Releasable] = []  # every GL object made here, released by close()
        self._closed = False
        self.canvas = (width + 2 * border, height + 2 * border)
        limit = min(int(ctx.info["GL_MAX_RENDERBUFFER_SIZE"]), int(ctx.info["GL_MAX_VIEWPORT_DIMS"][1]))
        self.bands = min(max_instances, max(1, limit // self.canvas[1]))
        if max(self.canvas) > limit:
            raise ValueError(f"an extended canvas of {self.canvas} px exceeds this GL's {limit} px")
        self.program = self._own(load_program(ctx, "instance"))
        self.mask_program = self._own(load_program(ctx, "instance", fragment="instance_mask"))
        kk = self.k
        for program in (self.program, self.mask_program):
            set_uniforms(program, {"u_focal": (kk[0, 0], kk[1, 1]), "u_principal": (kk[0, 2], kk[1, 2])})
        set_uniforms(
            self.program,
            {
                "u_albedo": tuple(c / 255.0 for c in look.albedo),
                "u_light": tuple(float(x) for x in look.light_unit),
                "u_grayscale": int(look.grayscale),
            },
        )
        self._vaos: list[tuple[moderngl.VertexArray, moderngl.VertexArray, Mark | None, bool]] = []
        for obj in objects:
            vertices, indices = indexed_vertices(obj)
            vbo, ibo = self._own(ctx.buffer(vertices.tobytes())), self._own(ctx.buffer(indices.tobytes()))
            colour = ctx.vertex_array(
                self.program, [(vbo, "3f 3f", "in_position", "in_normal")], index_buffer=ibo, index_element_size=4
            )
            mask = ctx.vertex_array(
                self.mask_program, [(vbo, "3f 12x", "in_position")], index_buffer=ibo, index_element_size=4
            )
            self._vaos.append((self._own(colour), self._own(mask), obj.mark, obj.closed))
        size = (width, height)
        self.fbo = self._own(
            ctx.framebuffer(
                [
                    ctx.renderbuffer(size, 4),
                    ctx.renderbuffer(size, 1, dtype="i4"),
                    ctx.renderbuffer(size, 1, dtype="f4"),
                ],
                ctx.depth_renderbuffer(size),
            )
        )
        self.samples = min(MSAA_SAMPLES, int(ctx.info["GL_MAX_SAMPLES"])) if look.antialias else 0
        self.msaa: moderngl.Framebuffer | None = None
        self.resolved: moderngl.Framebuffer | None = None
        if self.samples:
            self.msaa = self._own(
                ctx.framebuffer(
                    ctx.renderbuffer(size, 4, samples=self.samples), ctx.depth_renderbuffer(size, samples=self.samples)
                )
            )
            self.resolved = self._own(ctx.framebuffer(ctx.renderbuffer(size, 4)))
        self.mask_fbo = self._own(ctx.framebuffer(ctx.renderbuffer((self.canvas[0], self.canvas[1] * self.bands), 1)))

    def _own(self, obj: _Owned) -> _Owned:
        """Keep ``obj`` to release on :meth:`close`; returns it."""
        self._objects.append(obj)
        return obj

    # -- drawing ---------------------------------------------------------------------------

    def render(self, plan: ImagePlan) -> InstanceLayers:
        """Draw one image's instances (gt_id order); more than ``max_instances`` are drawn in
        turns of that many bands. Raises ValueError when an instance's bounding ball could leave
        the extended canvas."""
        if self._closed:
            raise RuntimeError("this InstanceRenderer has been closed")
        n, (w, h) = len(plan), (self.width, self.height)
        if n == 0:
            raise ValueError("an image needs at least one instance")
        if np.any(plan.objects < 0) or np.any(plan.objects >= len(self._vaos)):
            raise ValueError(f"object indices must lie in 0..{len(self._vaos) - 1}")
        if amodal_border(self.k, plan.translation, w, h) > self.border:
            raise ValueError(f"an instance's silhouette may leave the {self.border} px border")
        tz = plan.translation[:, 2]
        depth_range = (max(float(tz.min()) - 1.0 - DEPTH_MARGIN, 1e-3), float(tz.max()) + 1.0 + DEPTH_MARGIN)
        for program in (self.program, self.mask_program):
            set_uniforms(program, {"u_depth_range": depth_range})
        r, g, b = (c / 255.0 for c in self.look.background)
        background = (r, g, b, 1.0)
        self._scene(self.fbo, plan, background)
        image_fbo = self.fbo
        if self.msaa is not None and self.resolved is not None:
            self._scene(self.msaa, plan, background)
            self.ctx.copy_framebuffer(self.resolved, self.msaa)
            image_fbo = self.resolved
        image = self._read(image_fbo, 0, 3, "f1").reshape(h, w, 3)
        ids = self._read(self.fbo, 1, 1, "i4").reshape(h, w)
        depth = self._read(self.fbo, 2, 1, "f4").reshape(h, w)
        amodal = np.empty((n, self.canvas[1], self.canvas[0]), dtype=bool)
        for a in range(0, n, self.bands):
            self._silhouettes(plan, a, min(n, a + self.bands), amodal[a : a + self.bands])
        return InstanceLayers(image, ids, depth, amodal, (self.border, self.border))

    def _read(self, fbo: moderngl.Framebuffer, attachment: int, components: int, dtype: str) -> np.ndarray:
        """An attachment's W x H pixels, rows top-down: (H, W * components) of ``dtype``."""
        data = fbo.read(
            viewport=(0, 0, self.width, self.height), components=components, attachment=attachment, dtype=dtype
        )
        flat = np.frombuffer(data, dtype=np.dtype(dtype.replace("f1", "u1")))
        return flat.reshape(self.height, -1)[::-1].copy()

    def _instance_uniforms(self, program: moderngl.Program, plan: ImagePlan, i: int) -> None:
        set_uniforms(
            program,
            {
                "u_rotation": tuple(float(x) for x in plan.rotation[i].ravel()),
                "u_translation": tuple(float(x) for x in plan.translation[i]),
            },
        )

    def _scene(self, fbo: moderngl.Framebuffer, plan: ImagePlan, background: tuple[float, float, float, float]) -> None:
        """The scene pass into ``fbo`` (colour, and ids and depth where it has them)."""
        w, h = self.width, self.height
        view = (_pow2(w), _pow2(h))
        set_uniforms(
            self.program,
            {"u_offset": (0.0, 0.0), "u_canvas_rows": float(h), "u_viewport": (float(view[0]), float(view[1]))},
        )
        layers = len(fbo.color_attachments) > 1
        with self.ctx.scope(fbo, enable=moderngl.DEPTH_TEST):
            fbo.viewport = (0, 0, w, h)
            fbo.scissor = (0, 0, w, h)
            if layers:
                # moderngl takes one mask per attachment (its stubs know only one mask).
                fbo.color_mask = ((True,) * 4, (False,) * 4, (False,) * 4)  # type: ignore[assignment]
                fbo.clear(*background, depth=1.0)
                fbo.color_mask = ((False,) * 4, (True,) * 4, (True,) * 4)  # type: ignore[assignment]
                fbo.clear(0.0, 0.0, 0.0, 0.0)  # bit pattern 0: id 0 and z 0.0
                fbo.color_mask = ((True,) * 4,) * 3  # type: ignore[assignment]
            else:
                fbo.clear(*background, depth=1.0)
            fbo.viewport = (0, 0, *view)
            self.ctx.depth_func = "<"
            self.ctx.front_face = "ccw"
            self.ctx.cull_face = "back"
            for i, index in enumerate(plan.objects):
                vao, _, mark, closed = self._vaos[int(index)]
                self._instance_uniforms(self.program, plan, i)
                set_uniforms(self.program, {"u_instance": i + 1, **(mark.uniforms() if mark is not None else _NO_MARK)})
                if closed:
                    self.ctx.enable(moderngl.CULL_FACE)
                else:
                    self.ctx.disable(moderngl.CULL_FACE)
                vao.render(moderngl.TRIANGLES)

    def _silhouettes(self, plan: ImagePlan, start: int, stop: int, out: np.ndarray) -> None:
        """Whole silhouettes of instances start..stop-1 into bands 0.. of the mask target, read
        into ``out`` (stop - start, He, We) bool, rows top-down."""
        cw, ch = self.canvas
        view = (_pow2(cw), _pow2(ch))
        b = float(self.border)
        set_uniforms(
            self.mask_program,
            {"u_offset": (b, b), "u_canvas_rows": float(ch), "u_viewport": (float(view[0]), float(view[1]))},
        )
        fbo = self.mask_fbo
        count = stop - start
        with self.ctx.scope(fbo, enable=moderngl.NOTHING):
            fbo.scissor = (0, 0, cw, ch * count)
            fbo.viewport = (0, 0, cw, ch * count)
            fbo.clear(0.0, 0.0, 0.0, 0.0)
            for band, i in enumerate(range(start, stop)):
                fbo.viewport = (0, band * ch, *view)
                fbo.scissor = (0, band * ch, cw, ch)
                self._instance_uniforms(self.mask_program, plan, i)
                self._vaos[int(plan.objects[i])][1].render(moderngl.TRIANGLES)
            fbo.scissor = (0, 0, cw, ch * self.bands)
            data = fbo.read(viewport=(0, 0, cw, ch * count), components=1, dtype="f1")
        bands = np.frombuffer(data, dtype=np.uint8).reshape(count, ch, cw)
        out[:count] = bands[:, ::-1] > 0

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Release the GL objects this renderer made. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for obj in reversed(self._objects):
            if isinstance(obj, moderngl.Framebuffer):
                for att in (*obj.color_attachments, obj.depth_attachment):
                    if att is not None:
                        att.release()
            obj.release()
        self._objects.clear()

    def __enter__(self) -> InstanceRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
