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

from gpu_render.dataset.encoder_pool import Task
from gpu_render.dataset.layouts import Layout
from gpu_render.dataset.writer import DatasetFolder, tag_shard_temporaries
from gpu_render.engines.job import BuildJob
from gpu_render.engines.pipeline import BuildResult, ChunkPipeline, check_memory, start_pool, worker_record
from gpu_render.errors import UsageError
from gpu_render.progress import Progress
from gpu_render.render.context import Headless
from gpu_render.render.egl_devices import egl_device_for_cuda

#: Chunks rendered but not yet written that may be held at once.
IN_FLIGHT = 2
log = logging.getLogger(__name__)


def open_folder(job: BuildJob, layout: Layout, slots: int) -> DatasetFolder:
    """Check OUT and what the build needs before anything is allocated or forked: the layout's
    own checks, OUT (a file, another dataset, not writable: made if need be), the room on its
    filesystem for the files of known size, and the memory of ``slots`` chunk slots. A refusal
    after OUT was made removes it again."""
    layout.check(job.out)
    folder = DatasetFolder(job.out, layout, shard=job.shard, overwrite=job.overwrite, version=job.version)
    try:  # measured before OUT is made (at the folder above it), reported after OUT's own problems
        layout.check_room(job.out)
        short: UsageError | None = None
    except UsageError as exc:
        short = exc
    folder.check()
    try:
        if short is not None:
            raise short
        if slots:
            check_memory(layout, str(job.batch), slots, job.layers)
    except UsageError:
        folder.undo_create()
        raise
    return folder


def run_local(job: BuildJob, progress: bool = True) -> BuildResult:
    """Build (or resume) the dataset ``job`` describes on this machine's ``device``.

    Raises UsageError, OSError, NoOpenGLError, and WorkerError when an encoder process dies or fails.
    """
    t0 = time.perf_counter()
    layout = job.make_layout()
    folder = open_folder(job, layout, IN_FLIGHT + 1)
    chunks = layout.chunks()
    pool = None
    try:
        choice = egl_device_for_cuda(job.device)
        # Only a CUDA device that was asked for by its visible number makes a fallback worth a warning.
        level = logging.WARNING if not choice.matched and os.environ.get("CUDA_VISIBLE_DEVICES") else logging.INFO
        log.log(level, "--device %d: %s", job.device, choice.how)
        # The encoder processes are forked first: no GL context may exist in a forked child.
        tag_shard_temporaries(job.shard)  # before the fork: the encoders' temporaries carry the shard's tag
        pool = start_pool(layout, job.out, IN_FLIGHT + 1, job.workers)
        with Headless(choice.index) as gl:
            folder.renderer = gl.renderer_name
            done = folder.open()
            mine = [k for k in chunks if folder.owns(k)]
            total = sum(chunks[k][1] - chunks[k][0] for k in mine)
            if folder.complete:
                return BuildResult(total, 0, 0.0, gl.renderer_name, complete_before=True)
            todo = [k for k in mine if k not in done]
            already = total - sum(chunks[k][1] - chunks[k][0] for k in todo)
            pipeline = ChunkPipeline(layout, job.out, pool, gl.ctx)
            bar = Progress(total, already, layout.title, enabled=progress, unit=unit(job))
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
            me = worker_record(node=gl_node(), renderer=gl.renderer_name, device=choice.how, encoders=job.workers)
            folder.engine = {"name": "local", "worker_count": 1, "workers": [me]}
            folder.finalize(done, time.perf_counter() - t0, progress)
            seconds = time.perf_counter() - t0
            return BuildResult(total, total - already, seconds, gl.renderer_name)
    finally:
        if pool is not None:
            pool.terminate()  # first: no worker may still write when the lock is released
        folder.close()
        folder.undo_create()  # a build stopped before it wrote anything leaves no OUT behind


def unit(job: BuildJob) -> str:
    """What the progress bar counts: a preset's images, a scene build's poses."""
    return "pose" if job.preset is None else "image"


def gl_node() -> str:
    """This machine's name, as the manifest records a local build's node."""
    return os.uname().nodename
