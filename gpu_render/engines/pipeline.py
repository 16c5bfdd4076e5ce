"""The one code path of every engine: render chunk k, hand it to the encoders, record it.

A chunk is a range of images the layout names (:mod:`gpu_render.dataset.layouts`): ``batch``
consecutive poses of a flat build, a shape's poses of a SYMSOL split, a ModelNet10 model's
views. Its images are rendered into a slot of an
:class:`~gpu_render.dataset.encoder_pool.EncoderPool` (shared memory), encoded and written
there by the encoder processes with atomic writes, and the chunk is recorded
(``OUT/.progress/chunk_K.json``) only once every file is in place. Whichever engine or
process does it, the bytes and the record are the same, so engines resume each other.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import moderngl

from gpu_render.dataset.encoder_pool import EncoderPool, Task
from gpu_render.dataset.layouts import Layout
from gpu_render.dataset.layouts.flat import chunk_ranges
from gpu_render.dataset.writer import write_chunk_record
from gpu_render.memory import check_batch
from gpu_render.render.atlas import MAX_ATLAS_SIDE
from gpu_render.render.backends import Backend, BatchRenderer, backend
from gpu_render.scene.scene import Plan

__all__ = ["BuildResult", "ChunkPipeline", "check_memory", "chunk_ranges", "start_pool", "worker_record"]


@dataclass(frozen=True)
class BuildResult:
    """poses: of this build (or shard); built: by this run; seconds: wall time of this run;
    renderer: GL_RENDERER (of the first worker, for Ray); complete_before: OUT already held
    this very dataset, sealed, so the run wrote nothing (built 0 with complete_before False
    is a run that only sealed what shards or an earlier run had built)."""

    poses: int
    built: int
    seconds: float
    renderer: str
    complete_before: bool = False

    @property
    def rate(self) -> float:
        return self.built / self.seconds if self.seconds > 0 else float("inf")


def slot_batch(layout: Layout) -> int:
    """Images per rendering slot: the longest chunk."""
    return max(stop - start for start, stop in layout.chunks().values())


def check_memory(layout: Layout, batch: str, slots: int, layers: bool = False) -> None:
    """Refuse (UsageError, one line naming the ``--batch`` that fits) a build whose ``slots``
    chunk slots and renderers' buffers would not fit in this machine's memory; call it before
    they are allocated (:mod:`gpu_render.dataset.memory`). batch: the build's ``--batch``."""
    sizes = ",".join(str(s) for s in layout.sizes)
    check_batch(
        slot_batch(layout),
        layout.sizes,
        slots,
        layers,
        MAX_ATLAS_SIDE,
        f"--batch {batch} at sizes {sizes} ({slots} chunks in flight)",
        "use --batch {batch} or less (in a new --out: a dataset resumes only with its own --batch)",
    )


def start_pool(layout: Layout, out: Path, slots: int, encoders: int) -> EncoderPool:
    """Fork ``encoders`` encoder processes with ``slots`` slots, writing through the layout's
    sink. Call it before any GL context exists in this process (a GL context never crosses a fork)."""
    return EncoderPool(layout.sink(out), layout.sizes, slot_batch(layout), encoders, slots)


def worker_record(node: str, renderer: str, device: str, **more: Any) -> dict[str, Any]:
    """How one worker is described in the manifest's ``engine.workers``."""
    return {"node": node, "host": socket.gethostname(), "renderer": renderer, "egl_device": device, **more}


class ChunkPipeline:
    """Renders chunks of ``layout`` with a GL context into ``pool``'s slots and records them in ``out``.

    ctx: the GL context (made by the caller through gpu_render.render.context). Consecutive
    chunks of one group (one scene) share the renderers; a new group makes new ones.
    """

    def __init__(self, layout: Layout, out: Path, pool: EncoderPool, ctx: moderngl.Context) -> None:
        self.layout = layout
        self.out = out
        self.pool = pool
        self.ctx = ctx
        self.chunks = layout.chunks()
        self.layers, self.annotate = layout.chunk_writers(out)
        self.group: int | None = None
        self.renderers: dict[int, BatchRenderer] = {}

    def poses(self, k: int) -> int:
        start, stop = self.chunks[k]
        return stop - start

    def _use(self, group: int) -> tuple[Backend, Plan, int]:
        if group != self.group:
            self._close_renderers()
            scene, plan, first = self.layout.draw(group)
            draw = backend(scene)
            batch = slot_batch(self.layout)
            self.renderers = {s: draw.renderer(self.ctx, s, batch) for s in self.layout.sizes}
            self.group, self._drawn = group, (draw, plan, first)
        return self._drawn

    def render(self, k: int, slot: int) -> list[Task]:
        """Render chunk ``k`` into ``slot`` and submit its encoding; the slot's previous chunk
        must have been settled. Returns the encoder tasks to settle."""
        start, stop = self.chunks[k]
        draw, plan, first = self._use(self.layout.group(k))
        tasks: list[Task] = []
        instances = draw.instances(plan, start - first, stop - first)
        for size, renderer in self.renderers.items():
            renderer.render_instances(instances, out=self.pool.slot(slot)[size][: stop - start])
            tasks += self.pool.submit(slot, size, start, stop - start)
            if self.layers is not None:
                self.layers.write(size, start, *renderer.render_layers(instances))
        if self.annotate is not None:
            self.annotate(start, stop)
        return tasks

    def settle(self, k: int, tasks: list[Task]) -> dict[str, Any]:
        """Wait for chunk ``k``'s files, then record it. Returns its record.

        Raises WorkerError (an encoder died or failed) or OSError (writing failed); the chunk is
        then not recorded.
        """
        digests, more = self.layout.settle(self.out, k, [d for task in tasks for d in task.get()])
        return write_chunk_record(self.out, k, *self.chunks[k], digests, **more)

    def build(self, k: int, slot: int = 0) -> dict[str, Any]:
        """Render, encode, write and record chunk ``k`` before returning (its record)."""
        return self.settle(k, self.render(k, slot))

    def _close_renderers(self) -> None:
        for r in self.renderers.values():
            r.close()
        self.renderers = {}

    def close(self) -> None:
        self._close_renderers()
        if self.layers is not None:
            self.layers.close()
