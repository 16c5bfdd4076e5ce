"""The Ray engine: one build spread over every GPU of a node or a cluster.

The driver (this process) joins the cluster (``--ray-address``, ``RAY_ADDRESS``, or a local
Ray instance it starts), starts one :class:`~gpu_render.engines.ray_worker.RenderWorker` actor
per GPU (``num_gpus=1``; CPU actors of ``--worker-cpus`` on a CPU-only cluster), opens and
locks OUT exactly as a local build does, checks that every worker sees OUT (a probe file
each way), then hands out chunks one step at a time per worker (a step renders one chunk while the
worker's encoders write the one before) and shows one progress bar. Workers
write images and chunk records into OUT themselves; when every chunk is recorded the driver
seals the dataset (manifest, labels) as a local build does.

Faults: Ray restarts a worker that dies (``max_restarts``); the chunk it held is handed out
again. A chunk that fails (an exception, or its worker dying) ``MAX_ATTEMPTS`` times stops the
build with WorkerError naming it; chunks already recorded stay, so the same command, or a
local build, resumes.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter, deque
from dataclasses import replace
from pathlib import Path
from typing import Any

from gpu_render.dataset.encoder_pool import WorkerError
from gpu_render.dataset.writer import DatasetWriter, check_room
from gpu_render.engines.local import progress_title
from gpu_render.engines.pipeline import BuildResult, chunk_ranges
from gpu_render.engines.ray_cluster import connect, import_ray, one_line, worker_sizing
from gpu_render.engines.ray_worker import ChunkError, RenderWorker, probe_name
from gpu_render.errors import UsageError
from gpu_render.options import BuildOptions
from gpu_render.progress import Progress

#: Times Ray restarts one worker after it died.
MAX_RESTARTS = 3
#: Tries of one chunk (each failure or death of its worker is one) before the build stops.
MAX_ATTEMPTS = 3
#: Seconds a worker may take to start (GL context, encoder processes, its plan).
START_SECONDS = 300.0
#: Seconds between tries of a worker that Ray is restarting.
REST_SECONDS = 0.5
def run_ray(options: BuildOptions, progress: bool = True) -> BuildResult:
    """Build (or resume) the dataset ``options`` describes on Ray workers.

    Raises UsageError (no Ray, a bad address, OUT not shared), OSError, and WorkerError (a
    worker cannot start, or a chunk failed MAX_ATTEMPTS times).
    """
    ray = import_ray()
    t0 = time.perf_counter()
    check_room(options.out, options.format, options.pose_count, options.sizes, layers=options.layers)
    address = options.ray_address or os.environ.get("RAY_ADDRESS") or None
    connect(ray, address)
    try:
        return _build(ray, options, progress, t0, address)
    finally:
        ray.shutdown()


def _build(ray: Any, options: BuildOptions, progress: bool, t0: float, address: str | None) -> BuildResult:
    chunks = chunk_ranges(options.pose_count, options.batch)
    live = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    size = worker_sizing(ray.cluster_resources(), options.worker_cpus, len(chunks), live)
    plan = options.scene.plan(options.source, options.pose_count)
    total = options.pose_count
    # OUT is locked and checked before any worker starts: a second build of it is refused at
    # once, and a complete dataset starts none. The manifest's renderer is the first worker's.
    writer = DatasetWriter(options.write_spec(), "")
    actors: list[Any] = []
    running: dict[Any, tuple[int, int | None, int | None]] = {}  # step -> (worker, chunk rendered, chunk settled)
    try:
        done = writer.open(plan)
        if writer.complete:
            return BuildResult(total, 0, 0.0, "Ray (no worker started)", complete_before=True)
        remote = ray.remote(RenderWorker).options(
            num_cpus=size.cpus, num_gpus=size.gpus, max_restarts=MAX_RESTARTS, max_task_retries=0
        )
        actors = [remote.remote(worker_options(options), rank, size.encoders) for rank in range(size.workers)]
        try:
            infos = ray.get([a.describe.remote() for a in actors], timeout=START_SECONDS)
        except ray.exceptions.RayError as exc:
            raise WorkerError(f"a Ray worker could not start: {one_line(exc)}") from None
        startup = time.perf_counter() - t0  # Ray joined or started, every worker up
        writer.renderer = infos[0]["renderer"]
        _probe(ray, options, actors, infos)
        todo = deque(k for k in chunks if k not in done)
        already = total - sum(chunks[k][1] - chunks[k][0] for k in todo)
        on = f"{size.workers} Ray worker{'s' if size.workers != 1 else ''}"
        bar = Progress(total, already, f"{progress_title(options)} on {on}", enabled=progress)
        attempts: Counter[int] = Counter()
        restarts = [0] * len(actors)
        idle = deque(range(len(actors)))
        started: dict[int, int] = {}  # worker -> the chunk it rendered and settles in its next step
        resting: dict[int, float] = {}  # worker Ray is restarting -> when to try it again
        away: dict[int, float] = {}  # worker -> since when it has been unavailable
        try:
            while todo or running or started:
                now = time.monotonic()
                for a in [a for a, when in resting.items() if when <= now]:
                    del resting[a]
                    idle.append(a)
                for a in list(idle):
                    render, settle = (todo.popleft() if todo else None), started.pop(a, None)
                    if render is None and settle is None:
                        continue
                    idle.remove(a)
                    running[actors[a].step.remote(render, settle)] = (a, render, settle)
                    if render is not None:
                        started[a] = render
                if not running:
                    if not resting:
                        raise WorkerError(f"every Ray worker died {MAX_RESTARTS + 1} times; {len(todo)} chunks are left")
                    time.sleep(REST_SECONDS)
                    continue
                ready, _ = ray.wait(list(running), num_returns=1, timeout=REST_SECONDS if resting else None)
                if not ready:
                    continue
                a, render, settle = running.pop(ready[0])
                try:
                    record = ray.get(ready[0])
                    if settle is not None:
                        done[settle] = record
                        bar.update(chunks[settle][1] - chunks[settle][0])
                    idle.append(a)
                    away.pop(a, None)
                    continue
                except ray.exceptions.ActorUnavailableError as exc:
                    failed, why = settle, f"its worker on {infos[a]['host']} went away ({one_line(exc)})"
                    if a in away:  # handed to a worker Ray is restarting: not run, not an attempt
                        failed = None
                    else:  # it may still hold a rendered chunk in a slot: restart it afresh
                        ray.kill(actors[a], no_restart=False)
                except ray.exceptions.RayActorError as exc:
                    failed, why = settle, f"its worker on {infos[a]['host']} died ({one_line(exc)})"
                except ray.exceptions.RayError as exc:
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, ChunkError):
                        failed, why = cause.chunk, cause.message
                    else:
                        failed, why = settle, one_line(exc)
                    ray.kill(actors[a], no_restart=False)  # a fresh worker: its encoders may be gone
                # The worker's steps since its last success are lost: its chunks go to the next free worker.
                started.pop(a, None)
                todo.extendleft(k for k in (render, settle) if k is not None)
                if failed is None and a in away:
                    if time.monotonic() - away[a] < START_SECONDS:
                        resting[a] = time.monotonic() + REST_SECONDS
                    continue
                away.setdefault(a, time.monotonic())
                restarts[a] += 1
                if restarts[a] <= MAX_RESTARTS:
                    resting[a] = time.monotonic() + REST_SECONDS
                if failed is not None:
                    attempts[failed] += 1
                    if attempts[failed] >= MAX_ATTEMPTS:
                        start, stop = chunks[failed]
                        raise WorkerError(
                            f"chunk {failed} (poses {start}..{stop - 1}) failed {attempts[failed]} times on Ray: {why}"
                        )
        finally:
            bar.close()
        seconds = time.perf_counter() - t0
        writer.engine = {
            "name": "ray", "address": address or "local", "worker_count": len(actors), "workers": infos,
            "worker_restarts": sum(restarts), "startup_seconds": round(startup, 3),
        }
        writer.finalize(done, seconds)
        workers = f"{len(actors)} Ray worker{'s' if len(actors) != 1 else ''}"
        return BuildResult(total, total - already, seconds, f"{workers} ({infos[0]['renderer']})")
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)
        if running:  # no worker may still write when the lock is released
            ray.wait(list(running), num_returns=len(running), timeout=30)
        writer.close()


def worker_options(options: BuildOptions) -> BuildOptions:
    """The options as a worker on another node needs them: OUT and a ``file:`` source by their
    absolute paths (the same on every node of a shared filesystem; workers do not share the
    driver's working directory). The dataset's signature stays the driver's own."""
    source = options.source
    if source.kind == "file":
        source = replace(source, path=str(Path(source.path).resolve()))
    return replace(options, out=options.out.resolve(), source=source)


def _probe(ray: Any, options: BuildOptions, actors: list[Any], infos: list[dict[str, Any]]) -> None:
    """Every worker reads the driver's probe file in OUT and writes its own, which the driver
    reads back; UsageError naming the first worker for which either fails."""
    token = uuid.uuid4().hex
    mine = probe_name(options.out, token, None)
    mine.write_text(token)
    theirs = [probe_name(options.out, token, rank) for rank in range(len(actors))]
    try:
        problems = ray.get([a.probe.remote(token) for a in actors], timeout=START_SECONDS)
        for rank, problem in enumerate(problems):
            if problem is None and not theirs[rank].exists():
                problem = f"wrote {theirs[rank].name}, which this driver does not see"
            if problem is not None:
                raise UsageError(
                    f"--out {options.out} is not on a filesystem every Ray worker sees: the worker on "
                    f"{infos[rank]['host']} ({infos[rank]['node']}) {problem}; put OUT on a shared filesystem"
                )
    finally:
        for path in (mine, *theirs):
            path.unlink(missing_ok=True)
