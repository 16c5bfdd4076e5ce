""":class:`Renderer`: rotations in, images and labels out, from Python, with the build's renderers.

``from gpu_render import Renderer`` (imported on first use, so ``import gpu_render`` stays light).
It holds one headless OpenGL context, made where every context is made
(:mod:`gpu_render.render.context`, through :func:`~gpu_render.render.egl_devices.headless_on`),
and draws a batch of rotations exactly as a ``--format npy`` build of the same rotations
(``--poses file:``) and options draws them: the same renderer, in the same chunks of
``batch`` poses and the same atlas tiles, so the images are byte for byte the build's, and the
labels are the arrays of its poses.npz.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from gpu_render.render.backends import Backend, BatchRenderer, backend
from gpu_render.render.context import Headless, check_fork_safe
from gpu_render.render.egl_devices import headless_on
from gpu_render.rotations.sources import rotation_matrices
from gpu_render.scene.backdrop import Photos
from gpu_render.scene.object_plan import ObjectPlan
from gpu_render.scene.objects import SceneObject
from gpu_render.scene.plan import PosePlan
from gpu_render.scene.scene import CLPR_OBJECT, ObjectScene, Scene
from gpu_render.scene.spec import DEFAULT_SIZE, SceneSpec

#: Poses per chunk unless told: the build's default ``--batch`` (gpu_render.cli.options.DEFAULT_BATCH).
DEFAULT_BATCH = 512
#: GPU renderers kept made, one per atlas capacity (min(batch, N) of recent calls).
KEPT_RENDERERS = 2

#: What :meth:`Renderer.render` returns: images (N, S, S, 3) uint8 RGB, rows top-down; labels.
Rendered = tuple[np.ndarray, dict[str, np.ndarray]]


def read_mesh_file(path: Path, textures: bool = True) -> tuple[SceneObject, str]:
    """The normalised object of the mesh file at ``path`` (with its colours and textures unless
    ``textures`` is False) and the file's sha256 (hex), as a ``--object mesh:PATH`` build reads
    them. Raises a one-line ValueError or OSError."""
    from gpu_render.dataset.mesh_files import load_mesh_file  # trimesh: loaded for mesh files only

    return load_mesh_file(path, textures=textures), hashlib.sha256(path.read_bytes()).hexdigest()


def find_photo_files(folder: Path, ratio: float) -> Photos:
    """The photographs of ``backgrounds=`` as a build finds them."""
    from gpu_render.dataset.backgrounds import photo_catalogue

    return photo_catalogue(folder, ratio)


class RendererClosedError(RuntimeError):
    """A :class:`Renderer` was used after :meth:`Renderer.close` (or its ``with`` block)."""


class Renderer:
    """Renders batches of rotations of one scene at one size, offscreen, like pyrender's
    OffscreenRenderer::

        with Renderer(object="icosa", size=224) as r:
            images, labels = r.render(quaternions)   # (N, 224, 224, 3) uint8

    object: ``clpr-cube`` (the 2018 cube), a SYMSOL solid (``tet cube icosa cone cyl tetX cylO
    sphereX``) or ``mesh:PATH``. size: image side, px, 8..4096. look: the build's look and
    camera options as keywords (``fov``, ``distance``, ``light``, ``color``, ``background``,
    ``antialias``, ``grayscale``, ``layers``; :class:`~gpu_render.scene.spec.SceneSpec` says
    what each means). batch: the build's ``--batch``, which decides each pose's atlas tile and so,
    on some drivers, a few edge pixels of an object's image: a build with the same ``--batch``
    writes the same bytes. device: GPU in CUDA numbering, as the build's ``--device``.

    Raises a one-line ValueError (:class:`~gpu_render.scene.spec.SceneSpecError`) for a bad
    option, and NoOpenGLError when no OpenGL 3.3 context can be made. The context is made here,
    in this process; :meth:`close` (or leaving the ``with`` block) frees it.
    """

    def __init__(
        self,
        object: str = CLPR_OBJECT,
        size: int = DEFAULT_SIZE,
        *,
        batch: int = DEFAULT_BATCH,
        device: int = 0,
        **look: Any,
    ) -> None:
        self.spec = SceneSpec.create(object=object, size=size, **look)
        self.batch = _count("batch", batch, 1)
        self.device = _count("device", device, 0)
        self.scene: Scene = self.spec.scene(read_mesh_file, find_photo_files)
        self._draw: Backend = backend(self.scene)
        self._renderers: dict[int, BatchRenderer] = {}
        check_fork_safe("gpu_render.Renderer cannot open its OpenGL context")
        self._pid = os.getpid()
        self._gl: Headless | None = headless_on(self.device)

    @property
    def size(self) -> int:
        """Image side, px."""
        return self.spec.size

    @property
    def gl_renderer(self) -> str:
        """GL_RENDERER of the context, e.g. ``llvmpipe (LLVM 15.0.6, 256 bits)``."""
        return self._context().renderer_name

    def render(self, rotations: Any) -> Rendered:
        """Draw N poses.

        rotations: (N, 3, 3) rotation matrices R, column vectors, object frame to camera frame
        (``x_cam = R @ x_obj``; camera x right, y down, z forward), or (N, 4) unit quaternions
        (w, x, y, z) of the same rotations; any real dtype, N >= 1. Checked as ``--poses file:``
        checks them (norm or orthonormality within 1e-6, det +1); a bad array raises a one-line
        ValueError naming the problem and the first bad row.

        Returns (images, labels). images: (N, S, S, 3) uint8 RGB, rows top-down, the bytes a
        ``--format npy`` build writes to ``images_{S}.npy``. labels: the arrays a build writes to
        poses.npz for these poses, by name (``quaternion`` (N, 4) w first, w >= 0; ``matrix``
        (N, 3, 3) R; and per scene the rest: docs/LABELS.md, docs/SCENES.md); the cube adds
        ``labels`` (N, 8, 6) float64, labels.npy's rows. With ``layers=True``, also ``mask``
        (N, S, S) uint8 (255 on the object) and ``depth`` (N, S, S) float32 (camera z, object
        units, 0 on the background), as ``mask_{S}.npy`` and ``depth_{S}.npy``.
        """
        gl = self._context()
        rows = np.ascontiguousarray(rotation_matrices(rotations, "rotations").transpose(0, 2, 1))
        if isinstance(self.scene, ObjectScene):
            scene = self.scene
            plan: PosePlan | ObjectPlan = ObjectPlan.from_rows(rows, scene.object, scene.camera, scene.look)
        else:
            plan = PosePlan.from_rows(rows)
        n, s = len(rows), self.size
        renderer = self._renderer(gl, min(self.batch, n))
        images = np.empty((n, s, s, 3), dtype=np.uint8)
        masks, depths = [], []
        for start in range(0, n, self.batch):  # the build's chunks: pose i sits where the build puts it
            stop = min(n, start + self.batch)
            instances = self._draw.instances(plan, start, stop)
            renderer.render_instances(instances, out=images[start:stop])
            if self.spec.layers:
                mask, depth = renderer.render_layers(instances)
                masks.append(mask)
                depths.append(depth)
        labels = plan.rich_labels((s,))
        if plan.labels is not None:
            labels["labels"] = plan.labels
        if self.spec.layers:
            labels["mask"], labels["depth"] = np.concatenate(masks), np.concatenate(depths)
        return images, labels

    def _context(self) -> Headless:
        if self._gl is None:
            raise RendererClosedError("this Renderer is closed: make a new one to render again")
        if self._pid != os.getpid():
            raise RendererClosedError(
                f"this Renderer was made in process {self._pid}; its OpenGL context does not cross a fork: "
                "make a new Renderer in this process"
            )
        return self._gl

    def _renderer(self, gl: Headless, capacity: int) -> BatchRenderer:
        """The GPU renderer of ``capacity`` poses per chunk, as a build of ``capacity`` poses per
        chunk makes it (its atlas, and so each pose's tile, depends on it)."""
        found = self._renderers.pop(capacity, None)
        if found is None:
            found = self._draw.renderer(gl.ctx, self.size, capacity)
            while len(self._renderers) >= KEPT_RENDERERS:
                self._renderers.pop(next(iter(self._renderers))).close()
        self._renderers[capacity] = found  # most recently used last
        return found

    def close(self) -> None:
        """Free the GPU renderers and the OpenGL context. Safe to call twice; rendering
        afterwards raises :class:`RendererClosedError`."""
        gl, self._gl = self._gl, None
        if gl is None or self._pid != os.getpid():
            return  # closed already, or a parent's context inherited over a fork: not ours to free
        try:
            for r in self._renderers.values():
                r.close()
        finally:
            self._renderers.clear()
            gl.close()

    @property
    def closed(self) -> bool:
        return self._gl is None

    def __enter__(self) -> Renderer:
        self._context()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"Renderer({self.spec.object!r}, size={self.size}, batch={self.batch}, {state})"


def _count(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}: must be an integer >= {low}, got {value!r}")
    return int(value)
