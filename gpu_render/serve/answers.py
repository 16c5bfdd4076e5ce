"""The render answers and the bound on the memory they hold.

An answer is sent in CHUNK_BYTES pieces, so uvicorn's flow control holds each piece until
the client has taken the last (at most one piece and the transport's 64 KiB high-water mark
wait in the socket's buffer): a client that reads slowly slows its own answer and never
makes the server copy the rest. A .npy answer is its 128-byte header followed by the images'
own bytes (no encoded copy); png and jpg are encoded in a worker thread.

:class:`AnswerBudget` bounds what all answers hold at once: a request reserves its answer's
bytes before it is drawn and returns them once the answer is sent (or the connection is
gone); one that does not fit is refused at once with 503 and Retry-After.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gpu_render.dataset.encode import ENCODERS
from gpu_render.serve.config import LimitExceeded

MEDIA_TYPES = {"npy": "application/x-npy", "png": "image/png", "jpg": "image/jpeg", "npz": "application/x-npz"}
#: Bytes handed to the server per send (each waits until the client has taken the last).
CHUNK_BYTES = 256 << 10
#: 503: the server holds max_inflight_bytes of answers; try again after this many seconds.
RETRY_AFTER_S = 1


def npy_header(images: np.ndarray) -> bytes:
    """The header np.save writes before the bytes of ``images`` (C-contiguous), format 1.0."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, np.lib.format.header_data_from_array_1_0(images))
    return buf.getvalue()


def npy_bytes(images: np.ndarray) -> bytes:
    """(N, S, S, 3) uint8 -> the bytes of a .npy file holding it (what ``np.load`` reads back)."""
    images = np.ascontiguousarray(images)
    return npy_header(images) + images.tobytes()


def encode(images: np.ndarray, fmt: str) -> bytes:
    """One png/jpg of images[0] ((N, S, S, 3) uint8), as the build encodes it."""
    return ENCODERS[fmt](np.ascontiguousarray(images[0]))


class Reservation:
    """Bytes taken from an :class:`AnswerBudget`; :meth:`release` returns them (once)."""

    def __init__(self, budget: AnswerBudget, nbytes: int) -> None:
        self.budget, self.nbytes = budget, nbytes

    def release(self) -> None:
        if self.nbytes:
            self.budget.held -= self.nbytes
            self.nbytes = 0


class AnswerBudget:
    """At most ``capacity`` bytes of answers held at once. Used on the event loop only (no lock)."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.held = capacity, 0

    def reserve(self, nbytes: int) -> Reservation:
        """Take ``nbytes``, or raise LimitExceeded (503, max_inflight_bytes) when they do not fit now."""
        if self.held + nbytes > self.capacity:
            raise LimitExceeded(
                503, "max_inflight_bytes", self.capacity, self.held + nbytes, "bytes of answers held with this one"
            )
        self.held += nbytes
        return Reservation(self, nbytes)


class ChunkedAnswer(Response):
    """200 with ``head`` then ``payload`` (any C-contiguous buffer), sent in CHUNK_BYTES pieces
    with a Content-Length; ``on_done`` runs once the last piece is handed over or the send failed."""

    def __init__(self, head: bytes, payload: Any, media_type: str, on_done: Callable[[], None]) -> None:
        self.head, self.payload = head, memoryview(payload).cast("B")
        self.on_done = on_done
        self.status_code = 200
        self.background = None
        self.media_type = media_type
        self.init_headers({"content-length": str(len(head) + self.payload.nbytes), "content-type": media_type})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            view, head = self.payload, self.head
            start = 0
            while True:  # the head goes with the first piece: a small answer is one write
                piece = head + bytes(view[start : start + CHUNK_BYTES])
                start += CHUNK_BYTES
                more = start < view.nbytes
                await send({"type": "http.response.body", "body": piece, "more_body": more})
                if not more:
                    break
                head = b""
        finally:
            self.payload = memoryview(b"")  # the images are freed with the request, not the response object
            self.on_done()
