"""Encoder processes fed through shared memory, so encoding overlaps rendering.

moderngl holds the GIL while it draws and reads back, so encoder *threads* would stall for
most of each render. Encoding therefore runs in worker processes. The main process renders
straight into "slots", arrays in anonymous shared memory that the workers see too, and
hands them (slot, size, pose range) tasks; they encode, write and return file digests.

The workers are forked before the GL context exists (the context never crosses a fork), and
the shared memory vanishes with the last process that maps it, so a killed build leaks
nothing. Workers die with their parent and leave Ctrl-C to it.

Each worker has its own pipe, and the main process waits on that pipe together with every
worker's process sentinel. A worker that dies (a signal, the OOM killer, a crash in a native
encoder) is therefore noticed at once: waiting for its results raises :class:`WorkerError`
naming the process and the signal, instead of waiting forever as ``multiprocessing.Pool``
would for a task it lost. No worker is ever replaced: a fork after the GL context exists is
unsafe, and the build stops with OUT resumable. A worker whose task raises sends the
exception back; ``OSError`` (a full disk, a permission error) is raised again as it is, and
anything else becomes a :class:`WorkerError`.

A worker that is alive but makes no progress (stopped by SIGSTOP, stuck on a hung filesystem)
is treated as dead too: while the main process waits for its answer, it looks at the worker
every second, and a worker whose CPU time and I/O (``/proc/PID/stat``, ``/proc/PID/io``) have
not moved for :func:`stall_seconds` (120 s unless ``GPU_RENDER_ENCODER_STALL_SECONDS`` says
otherwise) raises :class:`WorkerError`. Only seconds the main process itself spent waiting
count, so a build suspended as a whole (Ctrl-Z, then ``fg``) goes on.
"""

from __future__ import annotations

import contextlib
import mmap
import multiprocessing
import os
import signal
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np

from gpu_render.child_process import die_with_parent, portable
from gpu_render.dataset.layouts import Sink
from gpu_render.dataset.stall import activity, stall_seconds, state_words

#: Seconds a dying worker is given to be reaped, so that its exit status can be reported.
_REAP_SECONDS = 5.0

# Set in each worker by _start_worker: the sink and the slots it reads from.
_sink: Sink | None = None
_slots: list[dict[int, np.ndarray]] = []


class WorkerError(Exception):
    """An encoder process died, stopped making progress, or its task failed with something other
    than an OSError; or a Ray worker did. ``resume``: how the build resumes, when it is not simply
    by running the same command again."""

    def __init__(self, message: str, resume: str | None = None) -> None:
        super().__init__(message)
        self.resume = resume


def shared_array(shape: tuple[int, ...]) -> np.ndarray:
    """A uint8 array in anonymous shared memory, shared with processes forked after this."""
    nbytes = int(np.prod(shape))
    buf = mmap.mmap(-1, max(1, nbytes), flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    return np.frombuffer(buf, dtype=np.uint8, count=nbytes).reshape(shape)


def _start_worker(sink: Sink, slots: list[dict[int, np.ndarray]], parent: int) -> None:
    global _sink, _slots
    _sink, _slots = sink, slots
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    die_with_parent(parent)


def _encode(slot: int, size: int, first: int, a: int, b: int) -> list[bytes]:
    assert _sink is not None
    return _sink.write(size, first + a, _slots[slot][size][a:b])


def _serve(
    conn: Connection,
    inherited: list[Connection],
    sink: Sink,
    slots: list[dict[int, np.ndarray]],
    parent: int,
) -> None:
    """A worker's life: take (id, slot, size, first, a, b) tasks from ``conn`` until None or EOF,
    answer each with (id, True, digests) or (id, False, exception)."""
    for other in inherited:  # the parent's ends of earlier workers' pipes, copied by the fork
        other.close()
    _start_worker(sink, slots, parent)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if task is None:
            return
        task_id, slot, size, first, a, b = task
        try:
            answer: tuple[int, bool, Any] = (task_id, True, _encode(slot, size, first, a, b))
        except Exception as exc:  # sent to the parent, which stops the build with it
            answer = (task_id, False, portable(exc))
        try:
            conn.send(answer)
        except OSError:
            return  # the parent is gone


class Task:
    """One range of images handed to one worker; :meth:`get` waits for its file digests."""

    def __init__(self, pool: EncoderPool, worker: int, task_id: int, what: str) -> None:
        self._pool = pool
        self.worker = worker
        self.id = task_id
        self.what = what

    def get(self) -> list[bytes]:
        """The digests of the task's files, in pose order.

        Raises OSError as the worker raised it, or WorkerError when a worker died or failed.
        """
        return self._pool._result(self)


class EncoderPool:
    """``workers`` processes writing images that the main process renders into ``slots`` slots.

    sizes: image sides, px; batch: poses per slot. Create it before any GL context.
    At most ``batch`` processes are started: a slot never splits into more pieces.
    stall: seconds a worker holding work may make no progress (default :func:`stall_seconds`).
    """

    def __init__(
        self,
        sink: Sink,
        sizes: tuple[int, ...],
        batch: int,
        workers: int,
        slots: int,
        stall: float | None = None,
    ) -> None:
        self.stall = stall_seconds() if stall is None else stall
        self.workers = max(1, min(workers, batch))
        self._whole_chunks = getattr(sink, "whole_chunks", False)  # wds: one task per chunk and size, one shard each
        self._slots = [{s: shared_array((batch, s, s, 3)) for s in sizes} for _ in range(slots)]
        self._procs: list[BaseProcess] = []
        self._conns: list[Connection] = []
        self._answers: dict[int, tuple[bool, Any]] = {}
        self._next_id = 0
        self._next_worker = 0
        fork = multiprocessing.get_context("fork")
        try:
            for k in range(self.workers):
                mine, theirs = fork.Pipe(duplex=True)
                proc = fork.Process(
                    target=_serve,
                    args=(theirs, list(self._conns), sink, self._slots, os.getpid()),
                    name=f"gpu_render-encoder-{k}",
                    daemon=True,
                )
                try:
                    proc.start()
                finally:
                    theirs.close()  # the worker holds its end; only it may keep the pipe open
                self._procs.append(proc)
                self._conns.append(mine)
        except BaseException:
            self.terminate()
            raise

    @property
    def slot_count(self) -> int:
        return len(self._slots)

    @property
    def pids(self) -> list[int]:
        """Process ids of the workers."""
        return [p.pid for p in self._procs if p.pid is not None]

    def slot(self, index: int) -> dict[int, np.ndarray]:
        """The arrays of slot ``index``: size -> (batch, size, size, 3) uint8."""
        return self._slots[index]

    def submit(self, slot: int, size: int, first: int, count: int) -> list[Task]:
        """Write the ``count`` images of ``size`` in ``slot`` as poses ``first ..``, split over the workers.

        Returns the tasks; each yields the digests of its files, in pose order.
        """
        pieces = 1 if self._whole_chunks else min(self.workers, count)
        bounds = np.linspace(0, count, pieces + 1).astype(int)
        tasks = []
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=False):
            if b <= a:
                continue
            worker, self._next_worker = self._next_worker, (self._next_worker + 1) % self.workers
            task = Task(self, worker, self._next_id, f"poses {first + a}..{first + b - 1} at {size} px")
            self._next_id += 1
            try:
                self._conns[worker].send((task.id, slot, size, first, a, b))
            except OSError:
                raise self._died(worker) from None
            tasks.append(task)
        return tasks

    def _result(self, task: Task) -> list[bytes]:
        """Wait for ``task``'s answer, watching every worker; see :meth:`Task.get`."""
        conn = self._conns[task.worker]
        sentinels = {p.sentinel: k for k, p in enumerate(self._procs)}
        poll = min(1.0, self.stall / 4)
        still, seen = 0, activity(self._procs[task.worker].pid or 0)  # polls without progress, and what moved
        while task.id not in self._answers:
            ready = wait([conn, *sentinels], timeout=poll)
            if not ready:
                now = activity(self._procs[task.worker].pid or 0)
                still = still + 1 if now is not None and seen is not None and now[1] == seen[1] else 0
                seen = now
                if still * poll >= self.stall:
                    raise self._stalled(task.worker, now[0] if now else "")
                continue
            still = 0
            dead = [sentinels[r] for r in ready if isinstance(r, int) and r in sentinels]
            if dead:
                raise self._died(dead[0])
            try:
                task_id, ok, value = conn.recv()
            except (EOFError, OSError):
                raise self._died(task.worker) from None
            self._answers[task_id] = (ok, value)
        ok, value = self._answers.pop(task.id)
        if ok:
            return value
        if isinstance(value, OSError):
            raise value
        pid = self._procs[task.worker].pid
        raise WorkerError(f"encoder process {pid} failed writing {task.what}: {type(value).__name__}: {value}")

    def _stalled(self, worker: int, state: str) -> WorkerError:
        """The error for a worker that made no progress for ``self.stall`` s (``state``: its
        /proc state letter)."""
        return WorkerError(
            f"encoder process {self._procs[worker].pid} made no progress for {self.stall:g} s "
            f"({state_words(state)}), so it is treated as dead"
        )

    def _died(self, worker: int) -> WorkerError:
        """The error for a worker that is gone: which process, and how it ended."""
        proc = self._procs[worker]
        proc.join(_REAP_SECONDS)
        code = proc.exitcode
        if code is None:
            how = "stopped answering"
        elif code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
            if code == -signal.SIGKILL:
                how += " (by hand or by the out-of-memory killer)"
        else:
            how = f"exited with status {code}"
        return WorkerError(f"encoder process {proc.pid} {how}")

    def close(self) -> None:
        """Wait for the workers to finish their tasks and end them; one that does not end within
        the stall bound (its tasks are all answered by then) is terminated."""
        for conn in self._conns:
            try:
                conn.send(None)
            except OSError:
                continue  # that worker is gone already; join() below reaps it
        for proc in self._procs:
            proc.join(self.stall)
        self.terminate()

    def terminate(self) -> None:
        """End the workers now, abandoning queued work."""
        for proc in self._procs:
            if proc.exitcode is None:
                proc.terminate()
                if proc.pid is not None:  # a stopped worker acts on SIGTERM only once continued
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(proc.pid, signal.SIGCONT)
        for proc in self._procs:
            proc.join(_REAP_SECONDS)
            if proc.exitcode is None:
                proc.kill()
                proc.join()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for conn in self._conns:
            conn.close()
        self._conns = []
