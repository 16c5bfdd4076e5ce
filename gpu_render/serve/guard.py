"""ASGI middleware in front of the app: the bearer token, the request body's limits (size,
deadline, JSON media type, UTF-8), and the request counter (every answer, refusals included,
by endpoint and status)."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from gpu_render.serve.config import LimitExceeded
from gpu_render.serve.metrics import Metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Endpoints counted by name; anything else is counted as "other" (no unbounded label values).
ENDPOINTS = ("/render", "/objects", "/healthz", "/metrics", "/docs", "/openapi.json")
#: Endpoints whose body is a JSON document.
JSON_PATHS = ("/render",)
#: Digits of a Content-Length past which it is not even parsed (it exceeds any max_body_bytes).
MAX_LENGTH_DIGITS = 18


async def send_json(send: Send, status: int, body: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": data})


def limit_body(exc: LimitExceeded) -> dict[str, Any]:
    """The JSON of a refusal for a limit: the message, the limit's name, what it allows, what came."""
    return {"error": str(exc), "limit": exc.limit, "allowed": exc.allowed, "got": exc.got}


def json_media_type(content_type: bytes) -> bool:
    """Whether a Content-Type header value names JSON (application/json or application/*+json),
    as FastAPI decides whether to parse a body. An absent one does not: a browser page can POST
    a body without a type to any site without asking first (no CORS preflight), so JSON must be
    said (415 otherwise)."""
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def not_utf8(body: bytes) -> str:
    """Why ``body`` is not UTF-8 JSON text, or "". Python's json reads UTF-16 and UTF-32 too,
    telling them by their byte order mark or by the zero bytes of ASCII characters; UTF-8 JSON
    holds no zero byte (control characters in strings must be escaped), so one is refused."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"byte {exc.start} is not"
    zero = body.find(b"\x00")
    return f"byte {zero} is a zero byte" if zero >= 0 else ""


class Guard:
    """token: the bearer token every request must carry, or None. max_body: bytes a request body
    may hold (413 naming max_body_bytes past it, checked on Content-Length and on what arrives).
    body_timeout: seconds the whole body may take to arrive after the request head (408 naming
    body_timeout, and the connection is closed). Bodies of JSON_PATHS must be sent as JSON (415)
    in UTF-8 (400; Python's json would also take UTF-16 and UTF-32)."""

    def __init__(
        self, app: ASGIApp, token: str | None, max_body: int, metrics: Metrics, body_timeout: float = 30.0
    ) -> None:
        self.app, self.max_body, self.metrics, self.body_timeout = app, max_body, metrics, body_timeout
        self.expected = None if token is None else token.encode()

    def authorized(self, header: bytes) -> bool:
        """Whether an Authorization header value carries the token: ``Bearer TOKEN``, the scheme in
        any case (RFC 7235), compared in constant time."""
        if self.expected is None:
            return True
        scheme, _, credentials = header.strip().partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.expected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        endpoint = path if path in ENDPOINTS else "other"
        status = [0]

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self._guarded(scope, receive, counted)
        finally:
            self.metrics.requests.labels(endpoint, str(status[0])).inc()

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        if not self.authorized(headers.get(b"authorization", b"")):
            await send_json(
                send,
                401,
                {"error": "this service needs a bearer token: send 'Authorization: Bearer TOKEN'"},
                [(b"www-authenticate", b"Bearer")],
            )
            return
        declared = headers.get(b"content-length", b"0")
        if declared.isdigit() and (len(declared) > MAX_LENGTH_DIGITS or int(declared) > self.max_body):
            got = int(declared) if len(declared) <= MAX_LENGTH_DIGITS else 10**MAX_LENGTH_DIGITS
            await send_json(
                send, 413, limit_body(LimitExceeded(413, "max_body_bytes", self.max_body, got, "request body bytes"))
            )
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        is_json = scope.get("path") in JSON_PATHS
        if is_json and not json_media_type(headers.get(b"content-type", b"")):
            got = headers.get(b"content-type", b"").decode("latin-1")
            sent = f"got {got!r}" if got else "no Content-Type was sent"
            await send_json(
                send, 415, {"error": f"the body must be JSON, sent with Content-Type: application/json ({sent})"}
            )
            return
        body = await self._read_body(receive, send)
        if body is None:
            return
        if is_json:
            problem = not_utf8(body)
            if problem:
                await send_json(
                    send,
                    400,
                    {
                        "error": f"the body is not valid JSON: JSON must be UTF-8 (RFC 8259), and "
                        f"{problem} (UTF-16 and UTF-32 are refused)"
                    },
                )
                return
        replayed = [{"type": "http.request", "body": body, "more_body": False}]

        async def replay() -> Message:
            return replayed.pop() if replayed else await receive()

        await self.app(scope, replay, send)

    async def _read_body(self, receive: Receive, send: Send) -> bytes | None:
        """The whole body, or None once a refusal (413, 408) is sent or the client is gone."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.body_timeout
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                waited = round(loop.time() - started, 3)
                await send_json(
                    send,
                    408,
                    limit_body(
                        LimitExceeded(
                            408,
                            "body_timeout",
                            self.body_timeout,
                            waited,
                            f"seconds waited for the body ({size} bytes came)",
                        )
                    ),
                    [(b"connection", b"close")],
                )
                return None
            if message["type"] != "http.request":
                return None  # the client is gone: nobody to answer
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                await send_json(
                    send,
                    413,
                    limit_body(LimitExceeded(413, "max_body_bytes", self.max_body, size, "request body bytes")),
                )
                return None
            if not message.get("more_body", False):
                return b"".join(chunks)
