""":class:`RenderStream`: batches rendered on demand, chunk by chunk, with the build's renderer.

Chunks are the build's: chunk k holds poses k*batch .. (k+1)*batch - 1 of the source, and pose i
of a chunk is drawn into atlas tile i by a renderer made as the build makes it, so its image has
the bytes ``--format npy`` writes. (On llvmpipe a pixel can depend on the tile's absolute place
in the window; keeping the build's chunks keeps the places.)

Worker w of W takes chunks w, w + W, w + 2W, ... A finite source yields each of its poses once per
epoch across the W workers; ``random:inf[:SEED]`` draws chunk c of epoch e as
:func:`~gpu_render.rotations.sources.random_chunk` (SEED, e, c), forever, so what a worker
yields depends on (seed, epoch, worker, W) alone.

The GL context is opened on the first batch, in the process that asks for it (a DataLoader
worker, after its fork), through :mod:`gpu_render.render.context`; a process forked while its
parent held a context refuses to open one (:class:`~gpu_render.render.context.ForkedContextError`).

The first batch of a process takes seconds (the pose source, the GL context, the shaders, the
first draw): the logger ``gpu_render.stream`` says at INFO how far it got, with timings.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gpu_render.cli.scene_options import OBJECT_SIZE
from gpu_render.reading import Closing
from gpu_render.render.backends import BatchRenderer, backend
from gpu_render.render.context import check_fork_safe
from gpu_render.render.egl_devices import headless_on
from gpu_render.rotations.sources import random_chunk, row_matrices
from gpu_render.scene.object_plan import ObjectPlan
from gpu_render.scene.plan import PosePlan
from gpu_render.scene.scene import CLPR_OBJECT, ClprScene, ObjectScene
from gpu_render.stream.labels import clpr_chunk_labels, object_chunk_labels
from gpu_render.stream.options import DEFAULT_BATCH, StreamOptions, stream_options

#: One batch: images (B, S, S, 3) uint8 RGB, rows top-down; labels by name, arrays of B rows.
Batch = tuple[np.ndarray, dict[str, np.ndarray]]

#: Progress of each process's first batch, at INFO.
log = logging.getLogger("gpu_render.stream")


class _Drawing:
    """The GL context and renderer of one process. ``pid``: the process that opened them."""

    def __init__(self, options: StreamOptions) -> None:
        check_fork_safe("gpu_render.stream cannot open its OpenGL context")
        self.pid = os.getpid()
        t0 = time.monotonic()
        self.gl = headless_on(options.device)
        t1 = time.monotonic()
        log.info(
            "pid %d: OpenGL context made on device %d (%s) in %.2f s",
            self.pid,
            options.device,
            self.gl.ctx.info.get("GL_RENDERER", "?"),
            t1 - t0,
        )
        try:
            self.renderer: BatchRenderer = backend(options.scene).renderer(self.gl.ctx, options.size, options.capacity)
        except BaseException:
            self.gl.close()
            raise
        log.info(
            "pid %d: renderer built for %s at %d px, %d poses a draw, in %.2f s",
            self.pid,
            options.scene.object_name,
            options.size,
            options.capacity,
            time.monotonic() - t1,
        )

    def close(self) -> None:
        self.renderer.close()
        self.gl.close()


class RenderStream(Closing):
    """Batches of images and labels, rendered on demand: ``for images, labels in stream``, or
    ``next(stream)``. ``close()`` (or leaving ``with``) releases the GL context.

    Takes the build's options as keywords (:func:`~gpu_render.stream.options.stream_options`):
    ``object``, ``poses`` (also ``random:inf[:SEED]``), ``size``, ``batch`` (the build's
    ``--batch``: chunk size, and B of every batch but a finite source's last), ``step``,
    ``device`` and the look (``fov``, ``distance``, ``light``, ``color``, ``background``,
    ``antialias``, ``grayscale``). worker, workers: take chunks ``worker``, ``worker +
    workers``, ... only. epoch: which epoch iteration yields (``set_epoch``).

    Each batch is (images (B, S, S, 3) uint8 RGB, rows top-down; labels), labels a dict of
    arrays with B rows: ``index`` int64 (the pose's position in its source, or in the epoch's
    stream for ``random:inf``), ``quaternion`` (B, 4) and ``matrix`` (B, 3, 3) float64, and
    more per object (:mod:`gpu_render.stream.labels`). Raises UsageError (one line) for bad
    options, at construction.
    """

    def __init__(
        self,
        object: str = CLPR_OBJECT,
        poses: str | None = None,
        size: int | None = OBJECT_SIZE,
        *,
        batch: int = DEFAULT_BATCH,
        step: float | None = None,
        device: int = 0,
        worker: int = 0,
        workers: int = 1,
        epoch: int = 0,
        **look: Any,
    ) -> None:
        self.options = stream_options(object, poses, size, batch=batch, step=step, device=device, **look)
        self.worker, self.workers = split_check(worker, workers)
        self.epoch = epoch_check(epoch)
        self._drawing: _Drawing | None = None
        self._rows: tuple[np.ndarray, np.ndarray | None] | None = None
        self._pass: Iterator[Batch] | None = None

    @classmethod
    def from_options(cls, options: StreamOptions, worker: int = 0, workers: int = 1, epoch: int = 0) -> RenderStream:
        """A stream of already parsed options."""
        stream = cls.__new__(cls)
        stream.options = options
        stream.worker, stream.workers = split_check(worker, workers)
        stream.epoch = epoch_check(epoch)
        stream._drawing, stream._rows, stream._pass = None, None, None
        return stream

    def set_epoch(self, epoch: int) -> None:
        """Which epoch the next iteration yields (``random:inf``: which rotations)."""
        self.epoch = epoch_check(epoch)
        self._pass = None

    def __iter__(self) -> Iterator[Batch]:
        """A fresh pass over the current epoch (``for images, labels in stream``)."""
        return self.batches(self.epoch, self.worker, self.workers)

    def __next__(self) -> Batch:
        """The next batch of the current pass (``next(stream)``); StopIteration at a finite
        epoch's end. ``set_epoch`` starts a new pass."""
        if self._pass is None:
            self._pass = iter(self)
        return next(self._pass)

    def chunks(self, worker: int, workers: int) -> Iterator[int]:
        """The chunk numbers worker ``worker`` of ``workers`` yields, in order."""
        if self.options.finite:
            return iter(range(worker, self.options.chunk_count, workers))
        return itertools.count(worker, workers)

    def batches(self, epoch: int, worker: int = 0, workers: int = 1) -> Iterator[Batch]:
        """Epoch ``epoch`` of worker ``worker`` of ``workers``, batch by batch."""
        split_check(worker, workers)
        epoch_check(epoch)
        for chunk in self.chunks(worker, workers):
            yield self.render_chunk(chunk, epoch)

    def render_chunk(self, chunk: int, epoch: int = 0) -> Batch:
        """Chunk ``chunk`` of epoch ``epoch`` (epochs of finite sources are all the same)."""
        o = self.options
        start = chunk * o.batch
        first = self._drawing is None or self._drawing.pid != os.getpid()  # this process's first batch
        t0 = time.monotonic()
        if first:
            log.info("pid %d: first batch (chunk %d of %s): starting", os.getpid(), chunk, o.source.spec)
        if o.finite:
            if not 0 <= chunk < o.chunk_count:
                raise IndexError(f"chunk {chunk} is out of range: the source has {o.chunk_count}")
            had_rows = self._rows is not None
            matrix, euler = self._source_rows()
            if first and not had_rows:
                log.info(
                    "pid %d: %d rotations of %s ready in %.2f s",
                    os.getpid(),
                    len(matrix),
                    o.source.spec,
                    time.monotonic() - t0,
                )
            stop = min(start + o.batch, o.pose_count)
            rows, angles = matrix[start:stop], None if euler is None else euler[start:stop]
        else:
            rows = np.ascontiguousarray(random_chunk(o.source.seed, epoch, chunk, o.batch).transpose(0, 2, 1))
            angles = None
        scene = o.scene
        if isinstance(scene, ClprScene):
            plan: PosePlan | ObjectPlan = PosePlan.from_rows(rows, angles)
            labels = clpr_chunk_labels(plan, start, o.size)  # type: ignore[arg-type]
        else:
            assert isinstance(scene, ObjectScene)
            plan = ObjectPlan.from_rows(rows, scene.object, scene.camera)
            labels = object_chunk_labels(plan, start, o.size)
        if first:
            log.info(
                "pid %d: scene built: %d poses planned and labelled (%.2f s so far)",
                os.getpid(),
                len(rows),
                time.monotonic() - t0,
            )
        drawing = self._drawing_here()
        t1 = time.monotonic()
        images = drawing.renderer.render_instances(backend(scene).instances(plan, 0, len(rows)))
        if first:
            now = time.monotonic()
            log.info(
                "pid %d: first batch rendered: %d images of %d px in %.2f s (%.2f s in all)",
                os.getpid(),
                len(images),
                o.size,
                now - t1,
                now - t0,
            )
        return images, labels

    def _source_rows(self) -> tuple[np.ndarray, np.ndarray | None]:
        if self._rows is None:
            self._rows = row_matrices(self.options.source)
        return self._rows

    def _drawing_here(self) -> _Drawing:
        if self._drawing is not None and self._drawing.pid != os.getpid():
            self._drawing = None  # the parent's, inherited over a fork: never used nor released here
        if self._drawing is None:
            self._drawing = _Drawing(self.options)
        return self._drawing

    def _release(self) -> None:
        """Release the GL context, if this process opened one. The stream can still be iterated:
        a new context is opened on the next batch."""
        if self._drawing is not None and self._drawing.pid == os.getpid():
            self._drawing.close()
        self._drawing = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_drawing"] = None  # a GL context never travels to another process
        state["_pass"] = None  # nor a generator
        return state

    def _fields(self) -> dict[str, Any]:
        return stream_fields(self.options)


def stream_fields(o: StreamOptions) -> dict[str, Any]:
    """What a stream's one-line ``repr`` shows: what is drawn, the pose source, poses per epoch, size and batch."""
    obj = o.scene.object_name
    obj = "mesh:" + Path(obj[5:]).name if obj.startswith("mesh:") else obj
    source = o.source.spec if o.source.kind != "file" else f"file:{Path(o.source.path).name}"
    count = o.pose_count if o.finite else math.inf
    return {"object": obj, "poses": source, "count": count, "size": o.size, "batch": o.batch}


def split_check(worker: int, workers: int) -> tuple[int, int]:
    if not (isinstance(worker, int) and isinstance(workers, int) and workers >= 1 and 0 <= worker < workers):
        raise ValueError(f"worker must be 0 <= worker < workers, got worker {worker!r} of {workers!r}")
    return worker, workers


def epoch_check(epoch: int) -> int:
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        raise ValueError(f"epoch must be an integer >= 0, got {epoch!r}")
    return epoch
