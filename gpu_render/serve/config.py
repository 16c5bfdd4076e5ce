"""The service's options and limits: one frozen dataclass, shared by the app, the worker and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServeOptions:
    """How the service runs and what it accepts.

    host, port: where uvicorn listens. token: bearer token every request must carry (None:
    none asked for; required for a host outside LOOPBACK_HOSTS). device: GPU in CUDA numbering
    (see :func:`~gpu_render.render.egl_devices.headless_on`).
    window_s: seconds the batching thread waits after a request for others of the same scene
    and size to draw with it. batching: False draws each request alone (for the benchmark).
    max_draw_poses: poses per atlas pass at most (also capped by the atlas per size).
    Limits, each refused with a 4xx JSON naming it: max_poses per request, max_size px,
    max_body_bytes of the request body, max_response_bytes of images (N * S * S * 3),
    max_render_seconds a request may wait for its images.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    device: int = 0
    window_s: float = 0.002
    batching: bool = True
    max_draw_poses: int = 256
    max_poses: int = 256
    max_size: int = 512
    max_body_bytes: int = 1 << 20
    max_response_bytes: int = 64 << 20
    max_render_seconds: float = 30.0
    max_cached_renderers: int = 4


#: The JSON name of each limit, as error messages and docs/SERVE.md call it, with its option.
LIMIT_OPTIONS = {
    "max_poses": "--max-poses",
    "max_size": "--max-size",
    "max_body_bytes": "--max-body-bytes",
    "max_response_bytes": "--max-response-bytes",
    "max_render_seconds": "--max-render-seconds",
}


class LimitExceeded(Exception):
    """A request went past one of the service's limits.

    status: the HTTP status to answer (4xx). limit: its JSON name (a key of LIMIT_OPTIONS).
    """

    def __init__(self, status: int, limit: str, allowed: float, got: float, what: str) -> None:
        super().__init__(
            f"{what} ({_num(got)}) exceeds the limit {limit} = {_num(allowed)} (server option {LIMIT_OPTIONS[limit]})"
        )
        self.status, self.limit, self.allowed, self.got = status, limit, allowed, got


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
