"""The render process: the one process of the service that holds a GL context.

moderngl holds the GIL while it draws and reads back, so GL in a thread of the server would
stall the event loop for every draw. The server's batching thread therefore hands each group's
draw to this child process and waits on a pipe (which releases the GIL):

- it sends ``("draw", key, scene or None, size, rows)``: rows are the group's rotations as
  row-vector M = R.T, (N, 3, 3) float64; the scene travels only when the child has no
  renderer for ``key`` (both sides keep the same LRU of ``max_cached_renderers`` keys, so the
  parent knows), since an object's scene is up to megabytes of mesh;
- the child turns the rows into the backend's instance data, draws with the build's renderer
  straight into an image buffer in shared memory, and answers ``("done", capacity)`` (atlas
  poses per pass) or ``("error", exception)``;
- the buffer is a memfd that the parent makes, sized max_draw_poses x S x S x 3 bytes for the
  largest size drawn so far (grown when a draw needs more), and hands to the child as a file
  descriptor over the pipe (SCM_RIGHTS). The images never go through pickle.

The child is started with the ``spawn`` method: the server process has threads (uvicorn's,
anyio's, the batching thread) by the time it starts one, and a fork of a threaded process may
inherit a lock held by another thread; spawn also guarantees the child inherits no GL state.
It dies with the thread that started it (``PR_SET_PDEATHSIG``: the batching thread, which
outlives it), sees the parent's end of the pipe close if the server dies, and ignores SIGINT
and SIGTERM, which the server handles (a Ctrl-C or a SIGTERM to the process group must not kill
it before the requests in flight are drawn).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import mmap
import multiprocessing
import os
import signal
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle, send_handle
from typing import Any

import numpy as np

from gpu_render.child_process import die_with_parent
from gpu_render.child_process import portable as portable_error
from gpu_render.memory import buffer_size
from gpu_render.render.context import NoOpenGLError
from gpu_render.scene.scene import Scene

#: Seconds :meth:`RenderProcess.stop` waits for the child to release GL and exit before killing it.
STOP_TIMEOUT_S = 10.0


class RenderProcessDied(RuntimeError):
    """The render process is gone (killed, crashed, or never started)."""


def remember(cache: OrderedDict[Hashable, Any], key: Hashable, value: Any, capacity: int) -> list[Any]:
    """Put ``key`` last in the LRU ``cache`` (with ``value`` if new); return the values evicted
    (the oldest, past ``capacity``). Both sides of the pipe use this, so their caches agree."""
    if key in cache:
        cache.move_to_end(key)
    else:
        cache[key] = value
    evicted = []
    while len(cache) > capacity:
        evicted.append(cache.popitem(last=False)[1])
    return evicted


def portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a NoOpenGLError (for one) or a RuntimeError carrying
    its type and message, so that the server still reports a GL failure in one line."""
    return portable_error(exc, NoOpenGLError if isinstance(exc, NoOpenGLError) else RuntimeError)


def image_bytes(n: int, size: int) -> int:
    """Bytes of n RGB uint8 images of size x size px."""
    return n * size * size * 3


class RenderProcess:
    """The parent's handle on the render child; used by one thread (the batching thread) only,
    except :attr:`alive` and :attr:`pid`, which any thread may read.

    device: GPU in CUDA numbering (see :func:`~gpu_render.render.egl_devices.headless_on`).
    max_draw_poses: poses per atlas pass at most (the renderers' batch, and the buffer's size
    in images). max_cached_renderers: renderers the child keeps.
    """

    def __init__(self, device: int, max_draw_poses: int, max_cached_renderers: int) -> None:
        self.device, self.max_draw_poses, self.max_cached = device, max_draw_poses, max_cached_renderers
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._buffer: mmap.mmap | None = None
        self._known: OrderedDict[Hashable, None] = OrderedDict()  # the keys the child has renderers for
        self.renderer_name = ""
        self._dead = False

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def alive(self) -> bool:
        """Whether the child runs and answers (False once a draw found it gone)."""
        return self._process is not None and not self._dead and self._process.exitcode is None

    def start(self) -> str:
        """Start the child and wait until it has made its GL context. Returns the GL renderer's
        name; raises the child's error (NoOpenGLError when there is no usable GL, or when the
        child dies before it has a context)."""
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=True)
        self._process = ctx.Process(
            target=child_main,
            args=(child, self.device, self.max_draw_poses, self.max_cached, os.getpid()),
            name="gpu_render-render",
            daemon=True,
        )
        self._process.start()
        child.close()  # the child's end lives only in the child: its death closes the pipe
        self._conn = parent
        # Before multiprocessing's own exit handler, which would SIGTERM (ignored) and then wait.
        atexit.register(self.stop)
        try:
            kind, value = parent.recv()
        except (EOFError, OSError):  # it died making the context (a crash in the GL driver, say)
            self._dead = True
            self._process.join(STOP_TIMEOUT_S)
            raise NoOpenGLError(
                f"the render process died while making its GL context ({self._describe_exit()})"
            ) from None
        if kind != "ready":
            self._process.join(STOP_TIMEOUT_S)
            self._dead = True
            raise value
        self.renderer_name = value
        return value

    def draw(
        self,
        key: Hashable,
        scene: Scene,
        size: int,
        rows: np.ndarray,
        counts: Sequence[int] | None = None,
        index: np.ndarray | None = None,
    ) -> tuple[list[np.ndarray], int]:
        """Draw rotations ``rows`` (row-vector M = R.T, (N, 3, 3) float64) of ``scene`` at
        ``size`` px. Returns (images, atlas capacity): images is one (n, S, S, 3) uint8 RGB array
        per entry of ``counts`` (consecutive poses, summing to N; default [N]), each its own copy
        (so one request's images are freed when it is done, whatever its batch-mates do). index:
        (N,) int64 the images' indices, which looks drawn per image choose from (default 0..N-1).
        Raises RenderProcessDied, or the child's exception for this draw (the child lives on)."""
        if not self.alive or self._conn is None:
            raise RenderProcessDied("the render process is not running")
        n = len(rows)
        need = image_bytes(n, size)
        try:
            if self._buffer is None or len(self._buffer) < need:  # MemoryError if it cannot fit
                self._grow(buffer_size(need, max(need, image_bytes(self.max_draw_poses, size))))
            known = key in self._known
            remember(self._known, key, None, self.max_cached)  # as the child does, before drawing
            self._conn.send(("draw", key, None if known else scene, size, np.ascontiguousarray(rows), index))
            kind, value = self._conn.recv()
        except (EOFError, OSError) as exc:  # the child is gone: its end of the pipe closed
            self._dead = True
            raise RenderProcessDied(f"the render process died ({self._describe_exit()})") from exc
        if kind == "error":
            self._known.pop(key, None)  # the child dropped it too
            raise value
        assert self._buffer is not None
        drawn = np.frombuffer(self._buffer, dtype=np.uint8, count=need).reshape(n, size, size, 3)
        bounds = itertools.accumulate(counts if counts is not None else [n], initial=0)
        return [drawn[a:b].copy() for a, b in itertools.pairwise(bounds)], int(value)

    def _grow(self, nbytes: int) -> None:
        """A new shared buffer of ``nbytes``, handed to the child (which drops its old one)."""
        assert self._conn is not None and self._process is not None
        fd = os.memfd_create("gpu_render-images", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, nbytes)
            buffer = mmap.mmap(fd, nbytes, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
            self._conn.send(("buffer", nbytes))
            send_handle(self._conn, fd, self._process.pid)
        finally:
            os.close(fd)
        if self._buffer is not None:
            self._buffer.close()
        self._buffer = buffer

    def _describe_exit(self) -> str:
        assert self._process is not None
        self._process.join(1.0)
        code = self._process.exitcode
        if code is None:
            return "no answer on its pipe"
        return f"killed by signal {-code}" if code < 0 else f"exit status {code}"

    def stop(self) -> None:
        """Ask the child to release GL and exit; kill it if it does not within STOP_TIMEOUT_S."""
        if self._process is None:
            return
        atexit.unregister(self.stop)
        if self._process.pid is None:  # its start failed (spawn refused): nothing runs, nothing to join
            self._dead = True
            return
        if self._conn is not None:
            with contextlib.suppress(OSError):  # a child already gone cannot be told: joined below
                self._conn.send(None)
            self._conn.close()
            self._conn = None
        self._process.join(STOP_TIMEOUT_S)
        if self._process.exitcode is None:
            self._process.kill()
            self._process.join()
        self._dead = True
        if self._buffer is not None:
            self._buffer.close()
            self._buffer = None


def indexed(instances: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Scene instance data (N,) with each image's index ((N,) int64) added, as a build's carries it."""
    from gpu_render.render.scene_vertices import scene_instances

    return scene_instances(instances["rotation"], instances["translation"], index)


# -- the child -------------------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server handles Ctrl-C and SIGTERM and
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # then tells this process to stop
    die_with_parent(parent)  # SIGKILL when the thread that started us ends, even on kill -9


def child_main(conn: Connection, device: int, max_draw_poses: int, max_cached: int, parent: int) -> None:
    """The render process's life: make the GL context (answer ``("ready", renderer name)`` or
    ``("failed", error)``), then serve messages until None or the pipe closes."""
    _die_with_parent(parent)
    from gpu_render.render.egl_devices import headless_on

    try:
        gl = headless_on(device)
    except BaseException as exc:
        conn.send(("failed", portable(exc)))
        return
    conn.send(("ready", gl.renderer_name))
    renderers: OrderedDict[Hashable, Any] = OrderedDict()  # key -> (backend, renderer)
    buffer: mmap.mmap | None = None
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return  # the server is gone
            if message is None:
                return
            if message[0] == "buffer":
                fd = recv_handle(conn)
                try:
                    if buffer is not None:
                        buffer.close()  # no view of it outlives a draw (_draw's are its locals)
                    buffer = mmap.mmap(fd, message[1], flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
                finally:
                    os.close(fd)
                continue
            _, key, scene, size, rows, index = message
            try:
                assert buffer is not None, "a draw before any image buffer"
                answer: tuple[str, Any] = (
                    "done",
                    _draw(gl.ctx, renderers, buffer, key, scene, size, rows, max_draw_poses, max_cached, index),
                )
            except Exception as exc:
                dropped = renderers.pop(key, None)
                if dropped is not None:
                    dropped[1].close()
                answer = ("error", portable(exc))
            try:
                conn.send(answer)
            except OSError:
                return
    finally:
        for _, r in renderers.values():
            r.close()
        if buffer is not None:
            buffer.close()
        gl.close()


def _draw(
    ctx: Any,
    renderers: OrderedDict[Hashable, Any],
    buffer: mmap.mmap,
    key: Hashable,
    scene: Scene | None,
    size: int,
    rows: np.ndarray,
    max_draw_poses: int,
    max_cached: int,
    index: np.ndarray | None = None,
) -> int:
    """Draw ``rows`` ((N, 3, 3) float64 row-vector M) of the scene under ``key`` at ``size`` px
    into the first N x S x S x 3 bytes of ``buffer``, with the key's renderer (made from
    ``scene`` on a GL context ``ctx`` when the LRU ``renderers`` lacks it). Returns the atlas
    capacity (poses per pass). index: (N,) int64 the images' indices, for looks drawn per image."""
    from gpu_render.render.backends import ObjectBackend, backend

    if key in renderers:
        back, renderer = renderers[key]
    else:
        if scene is None:
            raise RuntimeError(f"no scene for {key!r}: the server and the render process disagree")
        back = backend(scene)
        renderer = back.renderer(ctx, size, max_draw_poses)
    for _, old in remember(renderers, key, (back, renderer), max_cached):
        old.close()
    instances = back.row_instances(rows)
    if index is not None and isinstance(back, ObjectBackend) and back.scene.look.per_image:
        instances = indexed(instances, index)
    n = len(rows)
    out = np.frombuffer(buffer, dtype=np.uint8, count=image_bytes(n, size)).reshape(n, size, size, 3)
    renderer.render_instances(instances, out=out)
    return int(renderer.layout.capacity)
