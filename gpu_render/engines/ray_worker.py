"""One Ray worker (actor): a GL context on the GPU Ray gave it, its own encoder processes, and
whole chunks rendered, encoded, written and recorded in OUT through the shared chunk pipeline.

A plain class: :mod:`gpu_render.engines.ray_engine` makes it a Ray actor, so this module
loads without Ray. Ray sets ``CUDA_VISIBLE_DEVICES`` to the actor's GPU; its EGL device is
chosen by :func:`gpu_render.render.egl_devices.egl_device_for_cuda` (CUDA ordinal 0 of the
process). The actor never touches OUT until the driver has opened it and the probe passed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from gpu_render.dataset.atomic import set_temporary_tag
from gpu_render.dataset.encoder_pool import Task
from gpu_render.engines.job import BuildJob
from gpu_render.engines.pipeline import ChunkPipeline, check_memory, start_pool, worker_record
from gpu_render.render.context import Headless
from gpu_render.render.egl_devices import egl_device_for_cuda

log = logging.getLogger(__name__)
#: Chunk slots of a worker: chunk k renders into one while the encoders write chunk k-1 from the other.
SLOTS = 2


def node_address() -> str:
    """The IP address Ray knows this worker's node by (only called inside a Ray actor)."""
    import ray  # present wherever this runs as an actor

    return str(ray.util.get_node_ip_address())


def probe_name(out: Path, token: str, rank: int | None) -> Path:
    """The shared-filesystem probe file in OUT: the driver's (rank None) or worker ``rank``'s.
    Temporary names, so a build that dies mid-probe leaves nothing a later build keeps."""
    who = "driver" if rank is None else f"w{rank}"
    return out / f".ray-probe-{who}.tmp-{token}"


class RenderWorker:
    """Renders the chunks it is handed. rank: its number (0..workers-1), in temporary names.
    encoders: encoder processes it forks (its CPUs less one for rendering, at least one)."""

    def __init__(self, job: BuildJob, rank: int, encoders: int) -> None:
        set_temporary_tag(f"ray{rank}")  # several workers write beside each other in OUT
        self.job, self.rank = job, rank
        self.node = node_address()
        layout = job.make_layout()
        check_memory(layout, str(job.batch), SLOTS, job.layers)  # on this worker's node, before the slots exist
        self.pool = start_pool(layout, job.out, SLOTS, encoders)  # forked before the GL context exists
        self.started: dict[int, list[Task]] = {}  # chunk rendered, not yet settled -> its encoder tasks
        self.renders = 0
        self.choice = egl_device_for_cuda(0)
        log.info("worker %d: %s", rank, self.choice.how)
        self.gl = Headless(self.choice.index)
        self.pipeline = ChunkPipeline(layout, job.out, self.pool, self.gl.ctx)

    def describe(self) -> dict[str, Any]:
        """This worker for the manifest: node, host, GL_RENDERER, EGL device choice, pid, encoders."""
        return worker_record(
            node=self.node,
            renderer=self.gl.renderer_name,
            device=self.choice.how,
            pid=os.getpid(),
            encoders=len(self.pool.pids),
        )

    def probe(self, token: str) -> str | None:
        """Read the driver's probe in OUT and write this worker's; None if both worked, else
        what went wrong (one line)."""
        out = self.job.out
        theirs = probe_name(out, token, None)
        try:
            if theirs.read_text() != token:
                return f"reads other contents in {theirs}"
            probe_name(out, token, self.rank).write_text(f"{self.rank} {self.node}")
        except OSError as exc:
            return f"cannot use {exc.filename or out}: {exc.strerror or exc}"
        return None

    def step(self, render: int | None, settle: int | None) -> dict[str, Any] | None:
        """Render chunk ``render`` and hand it to the encoders, then wait for chunk ``settle``
        (rendered by the previous step) and record it, so rendering overlaps encoding.

        Returns ``settle``'s record (None without one). Raises ChunkError naming the chunk that
        failed; the worker's state is then unknown and the driver has Ray restart it.
        """
        if render is not None:
            try:
                self.started[render] = self.pipeline.render(render, self.renders % self.pool.slot_count)
                self.renders += 1
            except Exception as exc:  # named and sent back whole; the driver retries elsewhere
                raise ChunkError(render, f"{type(exc).__name__}: {' '.join(str(exc).split())}") from exc
        if settle is None:
            return None
        try:
            return self.pipeline.settle(settle, self.started.pop(settle))
        except Exception as exc:
            raise ChunkError(settle, f"{type(exc).__name__}: {' '.join(str(exc).split())}") from exc


class ChunkError(Exception):
    """Chunk ``chunk`` failed in a worker; ``message`` is the error in one line."""

    def __init__(self, chunk: int, message: str) -> None:
        super().__init__(chunk, message)
        self.chunk, self.message = chunk, message

    def __str__(self) -> str:
        return self.message
