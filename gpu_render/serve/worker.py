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

Restarts: a render process that dies (killed, out of memory, a driver crash) is replaced by a
new one, started by this thread: at once when a draw finds it gone (the requests of that draw
get RenderUnavailable, 503), else within WATCH_S. Requests queued meanwhile wait for the new
one. After max_restarts restarts within restart_window_s it is left dead: every request gets
RenderUnavailable until the service itself is restarted.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass

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
    index: np.ndarray | None = None  # (N,) int64 each image's index, for looks drawn per image


#: Longest slice of a batching window between looks at :attr:`RenderWorker.draining`, s.
DRAIN_POLL_S = 0.05
#: Seconds between looks at the render process while no request comes (a dead one is restarted).
WATCH_S = 0.5
log = logging.getLogger("gpu_render.serve")


class RenderUnavailable(RuntimeError):
    """The render process has died (or the worker is stopped): the service answers 503."""


def _resolve(future: asyncio.Future[np.ndarray], images: np.ndarray | None, error: BaseException | None) -> None:
    if future.done():  # the request gave up waiting (render time limit): nobody reads it
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert images is not None, "a draw answers images or an error"
        future.set_result(images)


class RenderWorker:
    """The batching thread and its render process; see the module docstring.

    :meth:`start` starts both and raises the render process's NoOpenGLError here; :meth:`stop`
    draws every request already queued, then stops the render process (which releases GL).
    A render process that dies is restarted (up to max_restarts within restart_window_s); past
    that, every request queued or submitted gets RenderUnavailable.
    """

    def __init__(self, options: ServeOptions, metrics: Metrics) -> None:
        self.options, self.metrics = options, metrics
        self._queue: queue.Queue[Job | None] = queue.Queue()  # None: stop
        self._thread = threading.Thread(target=self._run, name="gpu_render-batching", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.renderer_name = ""
        #: time.monotonic() when the draw the render process is busy with was sent (None: idle).
        self._drawing_since: float | None = None
        self._process = self._new_process()
        #: time.monotonic() of the restarts within the last restart_window_s.
        self._restart_times: deque[float] = deque()
        #: Render processes started after one died.
        self.restarts = 0
        #: Set once max_restarts is spent: nothing is drawn any more.
        self.given_up = False
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

    def _new_process(self) -> RenderProcess:
        o = self.options
        return RenderProcess(o.device, o.max_draw_poses, o.max_cached_renderers)

    @property
    def alive(self) -> bool:
        """Whether the batching thread and the render process run (and so draw what is queued)."""
        return self._thread.is_alive() and self._process.alive

    @property
    def available(self) -> bool:
        """Whether requests are taken: the batching thread runs and has not given up restarting
        the render process (which may be restarting: its requests wait for it)."""
        return self._thread.is_alive() and not self.given_up

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
            self._queue.put(None)
            self._thread.join()

    def submit(
        self, key: Hashable, scene: Scene, size: int, rows: np.ndarray, index: np.ndarray | None = None
    ) -> asyncio.Future[np.ndarray]:
        """Queue rotations (row-vector M, (N, 3, 3) float64) for drawing (call on the event loop);
        await the future for the images (or RenderUnavailable). The render process turns a whole
        group's rotations into the backend's instance data at once (vectorised, off this process).
        index: (N,) int64 the images' indices, which looks drawn per image choose from (default 0..N-1).
        Raises RenderUnavailable when nothing can be drawn any more (see :attr:`available`)."""
        if not self.available:
            raise RenderUnavailable(self._unavailable())
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._queue.put(Job(key, scene, size, rows, loop, future, time.monotonic(), index))
        return future

    # -- the batching thread ---------------------------------------------------------------

    def _unavailable(self) -> str:
        if self.given_up:
            return (
                f"the render process has died again after {self.options.max_restarts} restarts within "
                f"{self.options.restart_window_s:g} s (--max-restarts): the service cannot draw (restart it)"
            )
        return "the render process has died: the service cannot draw (restart it)"

    def _keep_alive(self) -> None:
        """Restart a dead render process (from this thread), unless max_restarts is spent."""
        while not self._process.alive and not self.given_up:
            now = time.monotonic()
            while self._restart_times and now - self._restart_times[0] > self.options.restart_window_s:
                self._restart_times.popleft()
            if len(self._restart_times) >= self.options.max_restarts:
                self.given_up = True
                log.error("gpu_render.serve: %s", self._unavailable())
                return
            self._restart_times.append(now)
            self._process.stop()  # reaps the dead one, frees its buffer
            fresh = self._new_process()
            try:
                self.renderer_name = fresh.start()
            except Exception as exc:
                log.error("gpu_render.serve: the render process could not be restarted: %s", exc)
                fresh.stop()
                continue
            self._process = fresh  # only once it draws: /healthz says "restarting" until then
            self.restarts += 1
            self.metrics.restarts.inc()
            log.warning("gpu_render.serve: the render process died; restarted it (pid %s)", self._process.pid)

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
                try:
                    first = self._queue.get(timeout=WATCH_S)
                except queue.Empty:
                    self._keep_alive()
                    continue
                if first is None:
                    break
                jobs, stopping = self._collect(first)
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
            if job is None:
                return jobs, True
            jobs.append(job)
            poses += len(job.rows)
        return jobs, False

    def _draw(self, group: list[Job]) -> None:
        live = [j for j in group if not j.future.done()]
        if not live:
            return
        died = False
        try:
            self._keep_alive()
            if not self._process.alive:
                raise RenderUnavailable(self._unavailable())
            rows = live[0].rows if len(live) == 1 else np.concatenate([j.rows for j in live])
            index = np.concatenate(
                [j.index if j.index is not None else np.arange(len(j.rows), dtype=np.int64) for j in live]
            )
            self._drawing_since = time.monotonic()
            try:
                images, cap = self._process.draw(
                    live[0].key, live[0].scene, live[0].size, rows, [len(j.rows) for j in live], index
                )
            except RenderProcessDied:
                died = True
                raise RenderUnavailable(
                    "the render process died while drawing this request; it is restarted: send the request again"
                ) from None
            finally:
                self._drawing_since = None
        except Exception as exc:
            for j in live:
                j.loop.call_soon_threadsafe(_resolve, j.future, None, exc)
            if died:
                self._keep_alive()
            return
        n = len(rows)
        m = self.metrics
        for start in range(0, n, cap):
            m.draws.inc()
            m.batch_poses.observe(min(cap, n - start))
        m.batch_requests.observe(len(live))
        m.poses.inc(n)
        for j, own in zip(live, images, strict=False):
            j.loop.call_soon_threadsafe(_resolve, j.future, own, None)


def _groups(jobs: list[Job]) -> list[list[Job]]:
    """Jobs grouped by key, groups in order of their first job, jobs in arrival order."""
    groups: dict[Hashable, list[Job]] = {}
    for j in jobs:
        groups.setdefault(j.key, []).append(j)
    return list(groups.values())
