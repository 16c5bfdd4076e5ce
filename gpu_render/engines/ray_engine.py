"""The Ray engine: one build spread over every GPU of a node or a cluster.

The driver (this process) joins the cluster (``--ray-address``, ``RAY_ADDRESS``, or a local
Ray instance it starts), starts one :class:`~gpu_render.engines.ray_worker.RenderWorker` actor
per GPU (``num_gpus=1``; CPU actors of ``--worker-cpus`` on a CPU-only cluster), opens and
locks OUT exactly as a local build does, checks that every worker sees OUT (a probe file
each way), then hands out chunks one step at a time per worker (a step renders one chunk while the
worker's encoders write the one before) and shows one progress bar. Workers
write images and chunk records into OUT themselves; when every chunk is recorded the driver
seals the dataset (manifest, labels) as a local build does.

Faults (:mod:`gpu_render.engines.ray_crew`): a worker that dies or fails is replaced by a fresh
actor, up to 3 times per worker, and the chunks it held are handed out again; a chunk that fails
3 times, workers that used every restart, or a cluster with no live node left stop the build
with WorkerError (one line). Chunks already recorded stay, so the same command, or a local
build, resumes.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

from gpu_render.dataset.encoder_pool import WorkerError
from gpu_render.dataset.layouts import Layout
from gpu_render.dataset.layouts.modelnet import ModelNetSpec
from gpu_render.dataset.writer import DatasetFolder
from gpu_render.engines.job import BuildJob
from gpu_render.engines.local import open_folder, unit
from gpu_render.engines.pipeline import BuildResult
from gpu_render.engines.ray_cluster import connect, import_ray, one_line, worker_sizing
from gpu_render.engines.ray_crew import START_SECONDS, Crew
from gpu_render.engines.ray_worker import RenderWorker, probe_name
from gpu_render.engines.rebuild import build_command
from gpu_render.errors import UsageError
from gpu_render.progress import Progress


def run_ray(job: BuildJob, progress: bool = True) -> BuildResult:
    """Build (or resume) the dataset ``job`` describes on Ray workers.

    Raises UsageError (no Ray, a bad address, OUT not shared), OSError, and WorkerError (a
    worker cannot start, or a chunk failed MAX_ATTEMPTS times).
    """
    ray = import_ray()
    t0 = time.perf_counter()
    layout = job.make_layout()
    # OUT is checked before any worker starts: a second build of it is refused at once, and a
    # complete dataset starts none. The manifest's renderer is the first worker's.
    folder = open_folder(job, layout, 0)
    address = job.ray_address or os.environ.get("RAY_ADDRESS") or None
    try:
        connect(ray, address)
    except BaseException:
        folder.undo_create()
        raise
    try:
        return _build(ray, job, layout, folder, progress, t0, address)
    finally:
        ray.shutdown()


def _build(
    ray: Any, job: BuildJob, layout: Layout, folder: DatasetFolder, progress: bool, t0: float, address: str | None
) -> BuildResult:
    chunks = layout.chunks()
    live = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    size = worker_sizing(ray.cluster_resources(), job.worker_cpus, len(chunks), live)
    total = sum(stop - start for start, stop in chunks.values())
    crew: Crew | None = None
    token = uuid.uuid4().hex
    mine = probe_name(job.out, token, None)
    try:
        done = folder.open()
        if folder.complete:
            return BuildResult(total, 0, 0.0, "Ray (no worker started)", complete_before=True)
        # Ray restarts nothing itself: the crew replaces a worker that died or failed.
        remote = ray.remote(RenderWorker).options(
            num_cpus=size.cpus, num_gpus=size.gpus, max_restarts=0, max_task_retries=0
        )
        mine.write_text(token)  # read by every worker, also by those that replace one later

        def make(rank: int) -> Any:
            return remote.remote(worker_job(job), rank, size.encoders)

        actors = [make(rank) for rank in range(size.workers)]
        resume = "re-run the same command once the cluster is back, or resume on this machine with: " + build_command(
            layout.signature, job.out
        )
        crew = Crew(
            ray,
            actors,
            make,
            lambda rank, info, problem: _check_probe(job, token, rank, info, problem),
            token,
            size,
            resume,
        )
        try:
            infos = ray.get([a.describe.remote() for a in actors], timeout=START_SECONDS)
        except ray.exceptions.RayError as exc:
            line = one_line(exc)
            refused = re.match(r"(?:[\w.]+\.)?UsageError: (.*)", line)
            if refused:  # what it was asked does not fit its node (memory): no retry helps
                raise UsageError(f"a Ray worker could not start: {refused.group(1)}") from None
            raise WorkerError(f"a Ray worker could not start: {line}") from None
        for place, info in zip(crew.places, infos, strict=False):
            place.info = info
        startup = time.perf_counter() - t0  # Ray joined or started, every worker up
        folder.renderer = infos[0]["renderer"]
        try:
            problems = ray.get([a.probe.remote(token) for a in actors], timeout=START_SECONDS)
            for rank, problem in enumerate(problems):
                _check_probe(job, token, rank, infos[rank], problem)
        finally:
            for rank in range(len(actors)):
                probe_name(job.out, token, rank).unlink(missing_ok=True)
        todo = deque(k for k in chunks if k not in done)
        already = total - sum(chunks[k][1] - chunks[k][0] for k in todo)
        on = f"{size.workers} Ray worker{'s' if size.workers != 1 else ''}"
        bar = Progress(total, already, f"{layout.title} on {on}", enabled=progress, unit=unit(job))

        def recorded(k: int, record: dict[str, Any]) -> None:
            done[k] = record
            bar.update(chunks[k][1] - chunks[k][0])

        try:
            crew.run(chunks, todo, recorded)
        finally:
            bar.close()
        seconds = time.perf_counter() - t0
        infos = [p.info for p in crew.places if p.info is not None]  # each place's last worker that started
        folder.engine = {
            "name": "ray",
            "address": address or "local",
            "worker_count": len(actors),
            "workers": infos,
            "worker_restarts": crew.restarts,
            "startup_seconds": round(startup, 3),
        }
        folder.finalize(done, seconds, progress)
        workers = f"{len(actors)} Ray worker{'s' if len(actors) != 1 else ''}"
        return BuildResult(total, total - already, seconds, f"{workers} ({infos[0]['renderer']})")
    finally:
        if crew is not None:  # no worker may still write when the lock is released
            crew.end_all()
        mine.unlink(missing_ok=True)
        folder.close()
        folder.undo_create()  # a build stopped before it wrote anything leaves no OUT behind


def worker_job(job: BuildJob) -> BuildJob:
    """The job as a worker on another node needs it: OUT, a ``file:`` source and a ModelNet10
    tree by their absolute paths (the same on every node of a shared filesystem; workers do not
    share the driver's working directory). The dataset's signature stays the driver's own."""
    source, preset = job.source, job.preset
    if source.kind == "file":
        source = replace(source, path=str(Path(source.path).resolve()))
    if isinstance(preset, ModelNetSpec):
        preset = replace(preset, meshes=preset.meshes.resolve())
    return replace(job, out=job.out.resolve(), source=source, preset=preset)


def _check_probe(job: BuildJob, token: str, rank: int, info: dict[str, Any], problem: str | None) -> None:
    """Worker ``rank`` (``info``: its describe() record) answered its probe with ``problem``
    (None: it read the driver's probe file in OUT and wrote its own). UsageError if either
    failed, or if the driver does not see the worker's file; the worker's file is removed."""
    theirs = probe_name(job.out, token, rank)
    try:
        if problem is None and not theirs.exists():
            problem = f"wrote {theirs.name}, which this driver does not see"
        if problem is not None:
            raise UsageError(
                f"--out {job.out} is not on a filesystem every Ray worker sees: the worker on "
                f"{info['host']} ({info['node']}) {problem}; put OUT on a shared filesystem"
            )
    finally:
        theirs.unlink(missing_ok=True)
