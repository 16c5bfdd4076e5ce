"""The HTTP/1.1 connection of the service: uvicorn's httptools protocol with deadlines.

uvicorn times out only idle kept-alive connections; a client that opens a connection and
sends nothing, or sends its request head a byte at a time, or stops reading its answer, held
the connection (and the answer's memory) for ever. This protocol adds, per connection:

- header_timeout: the request head (request line and headers) must be complete within this
  many seconds of the connection's opening, or of the first byte after an idle keep-alive;
  past it the connection gets 408 JSON and is closed;
- max_head_bytes: a head larger than this gets 431 JSON and is closed (counted as the bytes
  received while it is incomplete, and as its URL and headers once parsed);
- send_timeout: a connection whose answer the client has taken none of for this many seconds
  (the transport's buffer stays above its high-water mark) is aborted, which frees the answer.

The body's deadline (body_timeout) is kept by :class:`~gpu_render.serve.guard.Guard`, which
reads the body; idle keep-alive by uvicorn's ``timeout_keep_alive``. A request line or header
that is not HTTP gets 400 JSON here (uvicorn's own answer is text).
"""

from __future__ import annotations

import asyncio
import http
import json
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gpu_render.serve.config import LimitExceeded, ServeOptions
from gpu_render.serve.metrics import Metrics


class HeadRefused(Exception):
    """Raised from a parser callback once a head was refused, to stop parsing the connection."""


class DeadlineProtocol(HttpToolsProtocol):
    """See the module docstring. The class attributes are set by :func:`deadline_protocol`."""

    header_timeout: ClassVar[float] = 10.0
    send_timeout: ClassVar[float] = 30.0
    max_head_bytes: ClassVar[int] = 64 << 10
    metrics: ClassVar[Metrics | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self._head_started = 0.0
        self._in_head = False  # between a request's first byte (or the connection's opening) and its headers' end
        self._head_bytes = 0  # bytes received while in a head
        self._head_parsed = 0  # bytes of the head's URL and headers, as parsed
        self._refused = False  # a refusal was written: nothing more is parsed or answered

    # -- the request head ------------------------------------------------------------------

    # uvicorn's protocol takes an asyncio.Transport where asyncio's base class takes any BaseTransport
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()

    def _start_head(self) -> None:
        if not self._in_head:
            self._in_head, self._head_bytes = True, 0
        if self._head_timer is None:
            self._head_started = self.loop.time()
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_expired)

    def _idle(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def data_received(self, data: bytes) -> None:
        if self._idle() and not self._in_head:
            self._start_head()  # any byte on an idle connection starts the next head's clock
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_head_bytes and not self._refused:
            self._refuse_head(self._head_bytes)

    def _refuse_head(self, size: int) -> None:
        self._refuse(
            431,
            "head_too_large",
            LimitExceeded(431, "max_head_bytes", self.max_head_bytes, size, "bytes of request line and headers"),
        )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_parsed = 0
        self._start_head()

    def on_url(self, url: bytes) -> None:
        self._head_parsed += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_parsed += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_timer()
        if self._head_parsed > self.max_head_bytes:  # a whole head that came in one read
            self._refuse_head(self._head_parsed)
            raise HeadRefused  # stops the parser: this request never reaches the app
        super().on_headers_complete()

    def _head_expired(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        if not self._idle():  # still answering the request before this one: its clock starts after
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_expired)
            return
        waited = round(self.loop.time() - self._head_started, 3)
        self._refuse(
            408,
            "header_timeout",
            LimitExceeded(408, "header_timeout", self.header_timeout, waited, "seconds waited for the request head"),
        )

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    # -- the answer ------------------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(self.send_timeout, self._send_expired)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel_send_timer()

    def _send_expired(self) -> None:
        self._send_timer = None
        self._count("send_timeout")
        self.transport.abort()  # drops what is buffered: a close would wait for the client to read it

    def _cancel_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    # -- refusals ----------------------------------------------------------------------------

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # (after a refusal, the parser's error is the HeadRefused it was stopped with)
            self._refuse(400, "bad_request", None, f"not an HTTP/1.1 request: {msg}")

    def _refuse(self, status: int, reason: str, limit: LimitExceeded | None, message: str = "") -> None:
        """Answer ``status`` with a JSON error (the limit's, or ``message``) and close the connection."""
        body: dict[str, Any] = {"error": message}
        if limit is not None:
            body = {"error": str(limit), "limit": limit.limit, "allowed": limit.allowed, "got": limit.got}
        data = json.dumps(body).encode()
        head = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n".encode()]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(data),
            b"connection: close\r\n\r\n",
        ]
        self._in_head, self._refused = False, True
        self._cancel_head_timer()
        self._count(reason)
        self.transport.write(b"".join(head) + data)
        self.transport.close()

    def _count(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.closed.labels(reason).inc()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        self._cancel_send_timer()
        super().connection_lost(exc)


def deadline_protocol(options: ServeOptions, metrics: Metrics) -> type[DeadlineProtocol]:
    """The protocol class uvicorn makes each connection with, with ``options``' deadlines."""
    return type(
        "ServiceProtocol",
        (DeadlineProtocol,),
        {
            "header_timeout": options.header_timeout,
            "send_timeout": options.send_timeout,
            "max_head_bytes": options.max_head_bytes,
            "metrics": metrics,
        },
    )
