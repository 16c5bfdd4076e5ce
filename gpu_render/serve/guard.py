"""ASGI middleware in front of the app: the bearer token, the body-size limit, and the request
counter (every answer, refusals included, by endpoint and status)."""

from __future__ import annotations

import hmac
import json
from typing import Any, Awaitable, Callable

from gpu_render.serve.config import LimitExceeded
from gpu_render.serve.metrics import Metrics

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Endpoints counted by name; anything else is counted as "other" (no unbounded label values).
ENDPOINTS = ("/render", "/objects", "/healthz", "/metrics", "/docs", "/openapi.json")


async def send_json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()) -> None:  # type: ignore[assignment]
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *headers]})
    await send({"type": "http.response.body", "body": data})


def limit_body(exc: LimitExceeded) -> dict[str, Any]:
    """The JSON of a refusal for a limit: the message, the limit's name, what it allows, what came."""
    return {"error": str(exc), "limit": exc.limit, "allowed": exc.allowed, "got": exc.got}


class Guard:
    """token: the bearer token every request must carry, or None. max_body: bytes a request body
    may hold (413 naming max_body_bytes past it, checked on Content-Length and on what arrives)."""

    def __init__(self, app: ASGIApp, token: str | None, max_body: int, metrics: Metrics) -> None:
        self.app, self.max_body, self.metrics = app, max_body, metrics
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
            await send_json(send, 401, {"error": "this service needs a bearer token: send 'Authorization: Bearer TOKEN'"},
                            [(b"www-authenticate", b"Bearer")])
            return
        declared = headers.get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.max_body:
            await send_json(send, 413, limit_body(LimitExceeded(413, "max_body_bytes", self.max_body, int(declared), "request body bytes")))
            return
        chunks: list[Message] = []
        size = 0
        if scope.get("method") in ("POST", "PUT", "PATCH"):
            while True:
                message = await receive()
                chunks.append(message)
                if message["type"] != "http.request":
                    break
                size += len(message.get("body", b""))
                if size > self.max_body:
                    await send_json(send, 413, limit_body(LimitExceeded(413, "max_body_bytes", self.max_body, size, "request body bytes")))
                    return
                if not message.get("more_body", False):
                    break

        async def replay() -> Message:
            return chunks.pop(0) if chunks else await receive()

        await self.app(scope, replay, send)
