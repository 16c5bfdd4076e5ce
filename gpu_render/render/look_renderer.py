"""The GPU renderer of the richer looks (docs/LOOKS.md): a mesh's own colours and textures,
random point lights with an optional Blinn-Phong term, and photographs behind the object.

It is a :class:`~gpu_render.render.scene_renderer.SceneRenderer` (same atlas, projection,
tiles, batching and layers) with another colour pass:

1. When the look has photographs, a full-screen quad first copies each pose's background
   (:func:`gpu_render.scene.backdrop.background_tiles`, made on the CPU) into its tile, every
   MSAA sample alike, so the object's antialiased edge blends into the photograph on resolve.
2. The object is drawn by ``shaders/scene_look.*``: one draw call per texture (triangles grouped
   by it), the pose's point lights read from a float texture by its place in the batch.

Per-image choices come from the images' indices in the build (``scene_instances(..., index)``);
instance data without indices counts 0, 1, ... in the batch.
"""

from __future__ import annotations

import moderngl
import numpy as np

from gpu_render.render.scene_renderer import SceneRenderer, set_uniforms
from gpu_render.render.scene_vertices import look_vertices
from gpu_render.render.shaders import load_program
from gpu_render.render.textures import upload
from gpu_render.scene.backdrop import background_tiles
from gpu_render.scene.lights import draw_lights

_VERTEX_FORMAT = "3f 3f 2f 3f"
_VERTEX_ATTRIBUTES = ("in_position", "in_normal", "in_uv", "in_colour")
_TEXTURE_UNIT, _LIGHTS_UNIT, _BACKDROP_UNIT = 0, 1, 2


def image_indices(instances: np.ndarray) -> np.ndarray:
    """(N,) int64: the instances' image indices, or 0..N-1 when they carry none."""
    if instances.dtype.names is not None and "index" in instances.dtype.names:
        return np.asarray(instances["index"], dtype=np.int64)
    return np.arange(len(instances), dtype=np.int64)


class LookRenderer(SceneRenderer):
    """A :class:`SceneRenderer` for objects with a surface or a look that is not plain."""

    def _colour_program(self) -> moderngl.Program:
        return load_program(self.ctx, "scene_look")

    def _vertex_data(self) -> tuple[np.ndarray, np.ndarray, str, tuple[str, ...]]:
        vertices, indices, self._groups = look_vertices(self.obj)
        return vertices, indices, _VERTEX_FORMAT, _VERTEX_ATTRIBUTES

    def _configure(self) -> None:
        look, surface = self.look, self.obj.surface
        cap = self.layout.capacity
        self._textures = [self._own(upload(self.ctx, image)) for image in (surface.images if surface else ())]
        k = look.points.count[1] if look.points is not None else 0
        self._lights = self._own(self.ctx.texture((k + 1, cap), 4, dtype="f4")) if look.points is not None else None
        if self._lights is not None:
            self._lights.filter = (moderngl.NEAREST, moderngl.NEAREST)
        values = {
            "u_surface": int(surface is not None),
            "u_points": int(look.points is not None),
            "u_falloff": float(look.points.falloff) if look.points is not None else 0.0,
            "u_specular": float(look.specular),
            "u_shininess": float(look.shininess),
            "u_texture": _TEXTURE_UNIT,
            "u_lights": _LIGHTS_UNIT,
        }
        set_uniforms(self.program, values)
        self._backdrop: moderngl.Texture | None = None
        if look.photos is not None:
            self._backdrop_program = self._own(load_program(self.ctx, "backdrop"))
            set_uniforms(self._backdrop_program, {"u_backdrop": _BACKDROP_UNIT})
            self._backdrop = self._own(self.ctx.texture((self.size, cap * self.size), 3, alignment=1))
            self._backdrop.filter = (moderngl.NEAREST, moderngl.NEAREST)
            self._quad = self._own(self.ctx.vertex_array(self._backdrop_program, []))

    def _submit(self, vao: moderngl.VertexArray, instances: np.ndarray) -> None:
        if vao is not self.vao:  # the layers pass: geometry only
            vao.render(moderngl.TRIANGLES, instances=len(instances))
            return
        n, s = len(instances), self.size
        index = image_indices(instances)
        look = self.look
        if self._backdrop is not None and look.photos is not None:
            tiles = background_tiles(look.photos, look.seed, index, s, look.grayscale)
            # Tile k lies k tiles up from the bottom, its rows bottom-up.
            self._backdrop.write(np.ascontiguousarray(tiles[:, ::-1]).tobytes(), viewport=(0, 0, s, n * s))
            self._backdrop.use(_BACKDROP_UNIT)
            self.ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
            self.ctx.viewport = (0, 0, s, n * s)
            self._quad.render(moderngl.TRIANGLE_STRIP, vertices=4)
            self.ctx.viewport = (0, 0, *self.viewport)
            self.ctx.enable(self._enables)
        if self._lights is not None and look.points is not None:
            draw = draw_lights(look.points, look.seed, index)
            k = look.points.count[1]
            table = np.zeros((n, k + 1, 4), dtype=np.float32)
            table[:, 0, 0] = draw.count
            table[:, 0, 1] = draw.ambient
            positions = draw.positions(np.asarray(instances["translation"], dtype=np.float64))
            table[:, 1:, :3] = np.nan_to_num(positions)
            table[:, 1:, 3] = np.nan_to_num(draw.energy)
            self._lights.write(table.tobytes(), viewport=(0, 0, k + 1, n))
            self._lights.use(_LIGHTS_UNIT)
        for texture, first, count in self._groups:
            textured = texture >= 0
            set_uniforms(self.program, {"u_textured": int(textured)})
            if textured:
                self._textures[texture].use(_TEXTURE_UNIT)
            vao.render(moderngl.TRIANGLES, vertices=count, first=first, instances=n)
