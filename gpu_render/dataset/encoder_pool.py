"""Encoder processes fed through shared memory, so encoding overlaps rendering.

moderngl holds the GIL while it draws and reads back, so encoder *threads* would stall for
most of each render. Encoding therefore runs in worker processes. The main process renders
straight into "slots", arrays in anonymous shared memory that the workers see too, and
hands them (slot, size, pose range) tasks; they encode, write and return file digests.

The workers are forked before the GL context exists (the context never crosses a fork), and
the shared memory vanishes with the last process that maps it, so a killed build leaks
nothing. Workers die with their parent and leave Ctrl-C to it.
"""

from __future__ import annotations

import ctypes
import mmap
import multiprocessing
import signal
from multiprocessing.pool import AsyncResult

import numpy as np

from gpu_render.dataset.writer import ImageSink

_PR_SET_PDEATHSIG = 1

# Set in each worker by _start_worker: the sink and the slots it reads from.
_sink: ImageSink | None = None
_slots: list[dict[int, np.ndarray]] = []


def shared_array(shape: tuple[int, ...]) -> np.ndarray:
    """A uint8 array in anonymous shared memory, shared with processes forked after this."""
    nbytes = int(np.prod(shape))
    buf = mmap.mmap(-1, max(1, nbytes), flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    return np.frombuffer(buf, dtype=np.uint8, count=nbytes).reshape(shape)


def _start_worker(sink: ImageSink, slots: list[dict[int, np.ndarray]]) -> None:
    global _sink, _slots
    _sink, _slots = sink, slots
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    # Die with the parent, even on kill -9. prctl is Linux's; elsewhere the pool's closed
    # pipe still ends an idle worker.
    prctl = getattr(ctypes.CDLL(None), "prctl", None)
    if prctl is not None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _encode(slot: int, size: int, first: int, a: int, b: int) -> list[bytes]:
    assert _sink is not None
    return _sink.write(size, first + a, _slots[slot][size][a:b])


class EncoderPool:
    """``workers`` processes writing images that the main process renders into ``slots`` slots.

    sizes: image sides, px; batch: poses per slot. Create it before any GL context.
    """

    def __init__(self, sink: ImageSink, sizes: tuple[int, ...], batch: int, workers: int, slots: int) -> None:
        self.workers = workers
        self._slots = [{s: shared_array((batch, s, s, 3)) for s in sizes} for _ in range(slots)]
        self._pool = multiprocessing.get_context("fork").Pool(
            workers, initializer=_start_worker, initargs=(sink, self._slots)
        )

    @property
    def slot_count(self) -> int:
        return len(self._slots)

    def slot(self, index: int) -> dict[int, np.ndarray]:
        """The arrays of slot ``index``: size -> (batch, size, size, 3) uint8."""
        return self._slots[index]

    def submit(self, slot: int, size: int, first: int, count: int) -> list[AsyncResult]:
        """Write the ``count`` images of ``size`` in ``slot`` as poses ``first ..``, split over the workers.

        Returns the tasks; each yields the digests of its files, in pose order.
        """
        bounds = np.linspace(0, count, min(self.workers, count) + 1).astype(int)
        return [
            self._pool.apply_async(_encode, (slot, size, first, int(a), int(b)))
            for a, b in zip(bounds[:-1], bounds[1:])
            if b > a
        ]

    def close(self) -> None:
        """Wait for the workers to finish and end them."""
        self._pool.close()
        self._pool.join()

    def terminate(self) -> None:
        """End the workers now, abandoning queued work."""
        self._pool.terminate()
        self._pool.join()
