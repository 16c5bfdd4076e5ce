"""The local engine: one GL context in this process, encoder processes forked beside it.

The main process renders chunk after chunk into shared memory while the encoders write the
images of earlier chunks; at most ``IN_FLIGHT`` chunks are held, so memory stays flat however
many poses there are. OUT is locked for the whole build. If an encoder dies or fails, the build
stops with WorkerError; the chunks it had not finished are not recorded, so the same command
(with either engine) resumes.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque

from gpu_render.cli.options import BuildOptions
from gpu_render.dataset.encoder_pool import Task
from gpu_render.dataset.writer import DatasetWriter, check_room, tag_shard_temporaries
from gpu_render.engines.pipeline import (
    BuildResult,
    ChunkPipeline,
    check_memory,
    chunk_ranges,
    start_pool,
    worker_record,
)
from gpu_render.progress import Progress
from gpu_render.render.context import Headless
from gpu_render.render.egl_devices import egl_device_for_cuda

#: Chunks rendered but not yet written that may be held at once.
IN_FLIGHT = 2
log = logging.getLogger(__name__)


def progress_title(options: BuildOptions) -> str:
    what = "cLPR" if options.is_clpr else options.scene.object_name
    return what if options.shard is None else f"{what} shard {options.shard[0]}/{options.shard[1]}"


def run_local(options: BuildOptions, progress: bool = True) -> BuildResult:
    """Build (or resume) the dataset ``options`` describes on this machine's ``--device``.

    Raises UsageError, OSError, NoOpenGLError, and WorkerError when an encoder process dies or fails.
    """
    t0 = time.perf_counter()
    # Before anything is allocated: the room on OUT's filesystem for the arrays this build makes,
    # and the memory for its chunk slots.
    check_room(options.out, options.format, options.pose_count, options.sizes, layers=options.layers)
    check_memory(options, IN_FLIGHT + 1)
    plan = options.scene.plan(options.source, options.pose_count)
    chunks = chunk_ranges(options.pose_count, options.batch)
    choice = egl_device_for_cuda(options.device)
    # Only a CUDA device that was asked for by its visible number makes a fallback worth a warning.
    level = logging.WARNING if not choice.matched and os.environ.get("CUDA_VISIBLE_DEVICES") else logging.INFO
    log.log(level, "--device %d: %s", options.device, choice.how)
    # The encoder processes are forked first: no GL context may exist in a forked child.
    tag_shard_temporaries(options.shard)  # before the fork: the encoders' temporaries carry the shard's tag
    pool = start_pool(options, plan, IN_FLIGHT + 1, options.workers)
    writer: DatasetWriter | None = None
    try:
        with Headless(choice.index) as gl:
            writer = DatasetWriter(options.write_spec(), gl.renderer_name)
            done = writer.open(plan)
            mine = [k for k in chunks if writer.owns(k)]
            total = sum(chunks[k][1] - chunks[k][0] for k in mine)
            if writer.complete:
                return BuildResult(total, 0, 0.0, gl.renderer_name, complete_before=True)
            todo = [k for k in mine if k not in done]
            already = total - sum(chunks[k][1] - chunks[k][0] for k in todo)
            annotate = writer.annotations.write if writer.annotations is not None else None
            pipeline = ChunkPipeline(options, plan, pool, gl.ctx, writer.write_layers, annotate)
            bar = Progress(total, already, progress_title(options), enabled=progress)
            pending: deque[tuple[int, list[Task]]] = deque()

            def settle_oldest() -> None:
                k, tasks = pending.popleft()
                done[k] = pipeline.settle(k, tasks)
                bar.update(pipeline.poses(k))

            try:
                # The i-th chunk of this run renders into slot i % (IN_FLIGHT + 1); the chunk that
                # used that slot before has always been settled by then.
                for i, k in enumerate(todo):
                    pending.append((k, pipeline.render(k, i % pool.slot_count)))
                    while len(pending) > IN_FLIGHT:
                        settle_oldest()
                while pending:
                    settle_oldest()
            finally:
                bar.close()
                pipeline.close()
            pool.close()
            seconds = time.perf_counter() - t0
            me = worker_record(node=gl_node(), renderer=gl.renderer_name, device=choice.how, encoders=options.workers)
            writer.engine = {"name": "local", "worker_count": 1, "workers": [me]}
            writer.finalize(done, seconds)
            return BuildResult(total, total - already, seconds, gl.renderer_name)
    finally:
        pool.terminate()  # first: no worker may still write when the lock is released
        if writer is not None:
            writer.close()


def gl_node() -> str:
    """This machine's name, as the manifest records a local build's node."""
    return os.uname().nodename
