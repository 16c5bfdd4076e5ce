"""Render chunks of poses of several scenes and have encoder processes write them.

The same pipeline as ``python -m gpu_render.build``: the GL context lives in this process and
renders each chunk into a shared-memory slot of an :class:`~gpu_render.dataset.encoder_pool.EncoderPool`
(forked before the context exists), whose workers encode and write it through a sink while the
next chunk renders. At most ``IN_FLIGHT`` chunks are pending. A chunk's ``settle`` callback runs
on this thread, in chunk order, with what the workers returned for its images.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from gpu_render.dataset.encoder_pool import EncoderPool, Task
from gpu_render.render.backends import ObjectBackend
from gpu_render.render.context import Headless
from gpu_render.scene.object_plan import ObjectPlan
from gpu_render.scene.scene import ObjectScene

IN_FLIGHT = 2


@dataclass(frozen=True, eq=False)
class Chunk:
    """Poses to render as one unit.

    key: the chunk's record number. start: global index of its first image (the sink maps it
    to a file or a key). group: which scene draws it (consecutive chunks of one group share a
    renderer). rotation: (n, 3, 3) float64 R, object frame to camera frame.
    """

    key: int
    start: int
    group: int
    rotation: np.ndarray


def render_chunks(
    gl: Headless,
    pool: EncoderPool,
    size: int,
    chunks: Iterable[Chunk],
    scene_of: Callable[[int], ObjectScene],
    settle: Callable[[Chunk, list[bytes]], None],
) -> None:
    """Render every chunk at ``size`` px, hand it to ``pool``, and call ``settle`` for each in order."""
    pending: deque[tuple[Chunk, list[Task]]] = deque()
    group, draw, renderer = -1, None, None

    def settle_oldest() -> None:
        chunk, tasks = pending.popleft()
        settle(chunk, [r for task in tasks for r in task.get()])

    try:
        for i, chunk in enumerate(chunks):
            if chunk.group != group or renderer is None:
                if renderer is not None:
                    renderer.close()
                    renderer = None
                scene = scene_of(chunk.group)
                draw = ObjectBackend(scene)
                renderer = draw.renderer(gl.ctx, size, pool_batch(pool, size))
                group = chunk.group
            assert draw is not None
            n = len(chunk.rotation)
            plan = ObjectPlan(
                chunk.rotation,
                np.broadcast_to(draw.scene.camera.translation, (n, 3)).copy(),
                draw.scene.object,
                draw.scene.camera,
            )
            slot = i % pool.slot_count
            renderer.render_instances(draw.instances(plan, 0, n), out=pool.slot(slot)[size][:n])
            pending.append((chunk, pool.submit(slot, size, chunk.start, n)))
            while len(pending) > IN_FLIGHT:
                settle_oldest()
        while pending:
            settle_oldest()
    finally:
        if renderer is not None:
            renderer.close()


def pool_batch(pool: EncoderPool, size: int) -> int:
    """Images one slot of ``pool`` holds at ``size``."""
    return int(pool.slot(0)[size].shape[0])


def todo(chunks: Iterable[Chunk], done: dict[int, object]) -> Iterator[Chunk]:
    """The chunks not yet recorded."""
    return (c for c in chunks if c.key not in done)
