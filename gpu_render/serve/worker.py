"""The batching thread. Requests come in through a queue and leave as asyncio futures resolved
on the event loop, which never waits on GL: the thread hands each group's draw to the render
process (:mod:`gpu_render.serve.render_process`), the only process that holds a GL context,
and waits on its pipe, which releases the GIL (moderngl in a thread of this process would hold
it for every draw and read-back).

Dynamic batching: after taking a request, the thread waits up to ``window_s`` for more; the
requests it holds are grouped by (scene, size), each group's poses are concatenated and drawn
by the build's renderer in as few atlas passes as fit (one when they fit one atlas), and the
images are split back. Pose k of a group lands in atlas tile k % capacity, as pose i of a build
chunk lands in tile i - chunk start.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from dataclasses import dataclass
from typing import Hashable

import numpy as np

from gpu_render.scene.scene import Scene
from gpu_render.serve.config import ServeOptions
from gpu_render.serve.metrics import Metrics
from gpu_render.serve.render_process import RenderProcess, RenderProcessDied


@dataclass(frozen=True)
class Job:
    """One request's poses. key: what may share a draw (scene key, size). rows: the rotations as
    row-vector M = R.T, (N, 3, 3) float64. future: resolved with (N, S, S, 3) uint8 RGB."""

    key: Hashable
    scene: Scene
    size: int
    rows: np.ndarray
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[np.ndarray]
    arrived: float  # time.monotonic() when queued: the batching window counts from here


_STOP = object()
#: Longest slice of a batching window between looks at :attr:`RenderWorker.draining`, s.
DRAIN_POLL_S = 0.05


class RenderUnavailable(RuntimeError):
    """The render process has died (or the worker is stopped): the service answers 503."""


def _resolve(future: asyncio.Future[np.ndarray], images: np.ndarray | None, error: BaseException | None) -> None:
    if future.done():  # the request gave up waiting (render time limit): nobody reads it
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(images)


class RenderWorker:
    """The batching thread and its render process; see the module docstring.

    :meth:`start` starts both and raises the render process's NoOpenGLError here; :meth:`stop`
    draws every request already queued, then stops the render process (which releases GL).
    If the render process dies, every request queued or submitted after gets RenderUnavailable.
    """

    def __init__(self, options: ServeOptions, metrics: Metrics) -> None:
        self.options, self.metrics = options, metrics
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="gpu_render-batching", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.renderer_name = ""
        #: time.monotonic() when the draw the render process is busy with was sent (None: idle).
        self._drawing_since: float | None = None
        self._process = RenderProcess(options.device, options.max_draw_poses, options.max_cached_renderers)
        #: Set (from a signal handler: a plain assignment, no lock) when the server starts to shut
        #: down: the batching thread stops waiting for company and draws what it holds at once.
        self.draining = False

    def start(self) -> None:
        """Start the batching thread, which starts the render process (once; later calls only
        wait for it), and raise the render process's GL error."""
        if not self._ready.is_set() and not self._thread.is_alive():
            self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    @property
    def alive(self) -> bool:
        """Whether the batching thread and the render process run (and so draw what is queued)."""
        return self._thread.is_alive() and self._process.alive

    @property
    def draw_seconds(self) -> float:
        """How long the draw in progress has run, s (0 when none is): a render process that is
        alive but hung (a driver stuck in a draw) shows here, where :attr:`alive` stays True."""
        since = self._drawing_since
        return 0.0 if since is None else time.monotonic() - since

    @property
    def render_pid(self) -> int | None:
        """The render process's id (None before start)."""
        return self._process.pid

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def submit(self, key: Hashable, scene: Scene, size: int, rows: np.ndarray) -> asyncio.Future[np.ndarray]:
        """Queue rotations (row-vector M, (N, 3, 3) float64) for drawing (call on the event loop);
        await the future for the images (or RenderUnavailable). The render process turns a whole
        group's rotations into the backend's instance data at once (vectorised, off this process).
        Raises RenderUnavailable when the render process is known dead."""
        if not self.alive:
            raise RenderUnavailable(self._unavailable())
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._queue.put(Job(key, scene, size, rows, loop, future, time.monotonic()))
        return future

    # -- the batching thread ---------------------------------------------------------------

    def _unavailable(self) -> str:
        return "the render process has died: the service cannot draw (restart it)"

    def _run(self) -> None:
        # The render process starts from this thread: it dies with the thread that started it
        # (PR_SET_PDEATHSIG), and this one outlives it.
        try:
            self.renderer_name = self._process.start()
        except BaseException as exc:  # handed to start(), which raises it in the caller
            self._error = exc
            try:
                self._process.stop()
            finally:
                self._ready.set()  # start() must never wait for a thread that has ended
            return
        self._ready.set()
        try:
            stopping = False
            while not stopping:
                first = self._queue.get()
                if first is _STOP:
                    break
                jobs, stopping = self._collect(first)  # type: ignore[arg-type]
                for group in _groups(jobs):
                    self._draw(group)
        finally:
            self._process.stop()

    def _collect(self, first: Job) -> tuple[list[Job], bool]:
        """``first`` and the requests that arrive within the window after it (counted from its
        arrival, so time it spent queued behind a draw counts), up to max_draw_poses poses.
        Returns (jobs, whether a stop was asked)."""
        jobs, poses = [first], len(first.rows)
        if not self.options.batching:
            return jobs, False
        deadline = first.arrived + self.options.window_s
        while poses < self.options.max_draw_poses:
            left = 0.0 if self.draining else deadline - time.monotonic()
            try:
                # Long windows wait in slices, so that a shutdown is seen within DRAIN_POLL_S.
                job = self._queue.get(timeout=min(left, DRAIN_POLL_S)) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                if left > DRAIN_POLL_S:
                    continue
                break
            if job is _STOP:
                return jobs, True
            jobs.append(job)  # type: ignore[arg-type]
            poses += len(job.rows)  # type: ignore[attr-defined]
        return jobs, False

    def _draw(self, group: list[Job]) -> None:
        live = [j for j in group if not j.future.done()]
        if not live:
            return
        try:
            if not self._process.alive:
                raise RenderUnavailable(self._unavailable())
            rows = live[0].rows if len(live) == 1 else np.concatenate([j.rows for j in live])
            self._drawing_since = time.monotonic()
            try:
                images, cap = self._process.draw(live[0].key, live[0].scene, live[0].size, rows)
            except RenderProcessDied:
                raise RenderUnavailable(self._unavailable()) from None
            finally:
                self._drawing_since = None
        except Exception as exc:  # noqa: BLE001 - every request of the group gets the error
            for j in live:
                j.loop.call_soon_threadsafe(_resolve, j.future, None, exc)
            return
        n = len(rows)
        m = self.metrics
        for start in range(0, n, cap):
            m.draws.inc()
            m.batch_poses.observe(min(cap, n - start))
        m.batch_requests.observe(len(live))
        m.poses.inc(n)
        start = 0
        for j in live:
            stop = start + len(j.rows)
            j.loop.call_soon_threadsafe(_resolve, j.future, images[start:stop], None)
            start = stop


def _groups(jobs: list[Job]) -> list[list[Job]]:
    """Jobs grouped by key, groups in order of their first job, jobs in arrival order."""
    groups: dict[Hashable, list[Job]] = {}
    for j in jobs:
        groups.setdefault(j.key, []).append(j)
    return list(groups.values())
