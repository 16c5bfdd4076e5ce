"""How each kind of scene is drawn: its GPU renderer, its per-pose instance data and its
CPU reference image. One small class per scene kind, picked by :func:`backend`.

The build, verify, preview and the tests go through these, so a pose renders the same way
everywhere.
"""

from __future__ import annotations

from typing import Protocol

import moderngl
import numpy as np

from gpu_render.render import clpr_reference, scene_reference
from gpu_render.render.atlas import AtlasLayout
from gpu_render.render.clpr_renderer import Renderer, default_batch, pose_instances
from gpu_render.render.look_renderer import LookRenderer
from gpu_render.render.scene_renderer import SceneRenderer, scene_instances
from gpu_render.scene.clpr_labels import translation
from gpu_render.scene.object_plan import ObjectPlan
from gpu_render.scene.plan import PosePlan
from gpu_render.scene.scene import ClprScene, ObjectScene, Plan, Scene


class BatchRenderer(Protocol):
    """What the build and the preview ask of a GPU renderer of one image size."""

    size: int
    layout: AtlasLayout

    def render_instances(self, instances: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(N, S, S, 3) uint8 RGB, rows top-down."""
        ...

    def draw_atlas(self, instances: np.ndarray) -> moderngl.Framebuffer:
        """Draw up to one atlas of poses; the framebuffer holds tile k at :meth:`tile_box`."""
        ...

    def tile_box(self, k: int) -> tuple[int, int, int, int]:
        """Tile k in :meth:`draw_atlas`'s framebuffer: (x, y, width, height), px, GL rows up."""
        ...

    def render_layers(self, instances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scene objects only (``--layers``): mask (N, S, S) uint8 and depth (N, S, S) float32."""
        ...

    def close(self) -> None: ...


class Backend(Protocol):
    def renderer(self, ctx: moderngl.Context, size: int, batch: int) -> BatchRenderer:
        """A GPU renderer of ``size`` px drawing up to ``batch`` poses per call (capped by the atlas)."""
        ...

    def instances(self, plan: Plan, start: int, stop: int) -> np.ndarray:
        """Per-instance data of poses ``start .. stop-1``, shared by every size."""
        ...

    def row_instances(self, matrix: np.ndarray) -> np.ndarray:
        """Instance data for rotations given as the project's row-vector M (q = p @ M, M = R.T),
        (N, 3, 3) float64: what the preview's arcball turns."""
        ...

    def reference(self, plan: Plan, index: int, size: int) -> np.ndarray:
        """The CPU reference image of pose ``index``: (S, S, 3) uint8 RGB, rows top-down, aliased."""
        ...


class ClprBackend:
    def __init__(self, scene: ClprScene) -> None:
        self.scene = scene

    def renderer(self, ctx: moderngl.Context, size: int, batch: int) -> Renderer:
        return Renderer(ctx, size, antialias=self.scene.antialias, batch=min(batch, default_batch(size)))

    def instances(self, plan: Plan, start: int, stop: int) -> np.ndarray:
        assert isinstance(plan, PosePlan)
        return pose_instances(plan.matrix[start:stop], plan.translation[start:stop])

    def row_instances(self, matrix: np.ndarray) -> np.ndarray:
        return pose_instances(matrix, translation(matrix))

    def reference(self, plan: Plan, index: int, size: int) -> np.ndarray:
        assert isinstance(plan, PosePlan)
        return clpr_reference.render_one(plan.corners[index], size)


class ObjectBackend:
    def __init__(self, scene: ObjectScene) -> None:
        self.scene = scene

    def renderer(self, ctx: moderngl.Context, size: int, batch: int) -> SceneRenderer:
        s = self.scene
        # A mesh's own colours or a richer look (lights, specular, photographs) take the look renderer.
        kind = SceneRenderer if s.object.surface is None and s.look.plain else LookRenderer
        return kind(ctx, s.object, s.camera, s.look, size, batch=min(batch, default_batch(size)))

    def instances(self, plan: Plan, start: int, stop: int) -> np.ndarray:
        assert isinstance(plan, ObjectPlan)
        # Looks that draw per image need each image's index in the build.
        index = np.arange(plan.first + start, plan.first + stop) if self.scene.look.per_image else None
        return scene_instances(plan.rotation[start:stop], plan.translation[start:stop], index)

    def row_instances(self, matrix: np.ndarray) -> np.ndarray:
        return scene_instances(np.asarray(matrix).transpose(0, 2, 1), self.scene.camera.translation)

    def reference(self, plan: Plan, index: int, size: int) -> np.ndarray:
        assert isinstance(plan, ObjectPlan)
        s = self.scene
        images = scene_reference.render_scene(
            s.object, s.camera, s.look, plan.rotation[index : index + 1], size, first_index=plan.first + index
        )
        return images[0]


def backend(scene: Scene) -> Backend:
    """The backend that draws ``scene``."""
    if isinstance(scene, ClprScene):
        return ClprBackend(scene)
    if isinstance(scene, ObjectScene):
        return ObjectBackend(scene)
    raise TypeError(f"no renderer for scene {type(scene).__name__}")
