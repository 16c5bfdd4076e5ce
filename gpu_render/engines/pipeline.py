"""The one code path of every engine: render chunk k, hand it to the encoders, record it.

A chunk is ``batch`` consecutive poses (the last may be shorter); chunk k holds poses
``k * batch .. min(N, (k + 1) * batch) - 1``. Its images are rendered into a slot of an
:class:`~gpu_render.dataset.encoder_pool.EncoderPool` (shared memory), encoded and written
there by the encoder processes with atomic writes, and the chunk is recorded
(``OUT/.progress/chunk_K.json``) only once every file is in place. Whichever engine or
process does it, the bytes and the record are the same, so engines resume each other.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import moderngl
import numpy as np

from gpu_render.cli.options import BuildOptions
from gpu_render.dataset.encoder_pool import EncoderPool, Task
from gpu_render.dataset.writer import chunk_digest, make_sink, write_chunk_record
from gpu_render.memory import check_batch
from gpu_render.render.atlas import MAX_ATLAS_SIDE
from gpu_render.render.backends import backend
from gpu_render.scene.scene import Plan

#: Writes the mask (n, S, S) uint8 and depth (n, S, S) float32 of poses ``start ..`` at size S.
LayerWrite = Callable[[int, int, np.ndarray, np.ndarray], None]
#: Writes the per-pose files of poses ``start .. stop-1`` that need no pixels (ImageNet3D annotations).
ChunkWrite = Callable[[int, int], None]


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


def chunk_ranges(pose_count: int, batch: int) -> dict[int, tuple[int, int]]:
    """Chunk k -> (first pose, one past its last pose), for ``pose_count`` poses in chunks of ``batch``."""
    return {k: (k * batch, min(pose_count, (k + 1) * batch)) for k in range((pose_count + batch - 1) // batch)}


def slot_batch(options: BuildOptions) -> int:
    """Poses per rendering slot: a whole chunk, or all poses when there are fewer."""
    return min(options.batch, options.pose_count)


def check_memory(options: BuildOptions, slots: int) -> None:
    """Refuse (UsageError, one line naming the ``--batch`` that fits) a build whose ``slots``
    chunk slots and renderers' buffers would not fit in this machine's memory; call it before
    they are allocated (:mod:`gpu_render.dataset.memory`)."""
    sizes = ",".join(str(s) for s in options.sizes)
    check_batch(
        slot_batch(options),
        options.sizes,
        slots,
        options.layers,
        MAX_ATLAS_SIDE,
        f"--batch {options.batch} at sizes {sizes} ({slots} chunks in flight)",
        "use --batch {batch} or less (in a new --out: a dataset resumes only with its own --batch)",
    )


def start_pool(options: BuildOptions, plan: Plan, slots: int, encoders: int) -> EncoderPool:
    """Fork ``encoders`` encoder processes with ``slots`` slots, writing through the build's
    sink (files per size, WebDataset shards or the ImageNet3D layout; the one place it is made).
    Call it before any GL context exists in this process (a GL context never crosses a fork)."""
    sink = make_sink(options.write_spec(), plan)
    return EncoderPool(sink, options.sizes, slot_batch(options), encoders, slots)


def worker_record(node: str, renderer: str, device: str, **more: Any) -> dict[str, Any]:
    """How one worker is described in the manifest's ``engine.workers``."""
    return {"node": node, "host": socket.gethostname(), "renderer": renderer, "egl_device": device, **more}


class ChunkPipeline:
    """Renders chunks of ``plan`` with a GL context into ``pool``'s slots and records them in OUT.

    ctx: the GL context (made by the caller through gpu_render.render.context).
    write_layers: where ``--layers`` mask and depth rows go (None when the build has no layers).
    annotate: writes each chunk's annotations (``--layout imagenet3d``), or None.
    """

    def __init__(
        self,
        options: BuildOptions,
        plan: Plan,
        pool: EncoderPool,
        ctx: moderngl.Context,
        write_layers: LayerWrite | None,
        annotate: ChunkWrite | None = None,
    ) -> None:
        self.options = options
        self.plan = plan
        self.pool = pool
        self.chunks = chunk_ranges(options.pose_count, options.batch)
        self.draw = backend(options.scene)
        self.write_layers = write_layers if options.layers else None
        self.annotate = annotate
        self.renderers = {s: self.draw.renderer(ctx, s, slot_batch(options)) for s in options.sizes}

    def poses(self, k: int) -> int:
        start, stop = self.chunks[k]
        return stop - start

    def render(self, k: int, slot: int) -> list[Task]:
        """Render chunk ``k`` into ``slot`` and submit its encoding; the slot's previous chunk
        must have been settled. Returns the encoder tasks to settle."""
        start, stop = self.chunks[k]
        tasks: list[Task] = []
        instances = self.draw.instances(self.plan, start, stop)
        for size, renderer in self.renderers.items():
            renderer.render_instances(instances, out=self.pool.slot(slot)[size][: stop - start])
            tasks += self.pool.submit(slot, size, start, stop - start)
            if self.write_layers is not None:
                self.write_layers(size, start, *renderer.render_layers(instances))
        if self.annotate is not None:
            self.annotate(start, stop)
        return tasks

    def settle(self, k: int, tasks: list[Task]) -> dict[str, Any]:
        """Wait for chunk ``k``'s files, then record it. Returns its record.

        Raises WorkerError (an encoder died or failed) or OSError (writing failed); the chunk is
        then not recorded.
        """
        digests = [d for task in tasks for d in task.get()]
        return write_chunk_record(self.options.out, k, *self.chunks[k], chunk_digest(digests))

    def build(self, k: int, slot: int = 0) -> dict[str, Any]:
        """Render, encode, write and record chunk ``k`` before returning (its record)."""
        return self.settle(k, self.render(k, slot))

    def close(self) -> None:
        for r in self.renderers.values():
            r.close()
