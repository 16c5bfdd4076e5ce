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
    Limits, each refused with a 4xx (or 503) JSON naming it: max_poses per request, max_size px,
    max_body_bytes of the request body, max_response_bytes of images (N * S * S * 3),
    max_render_seconds a request may wait for its images, max_inflight_bytes of answers held
    at once by the whole server (503 with Retry-After past it).
    Connections (seconds): header_timeout from a connection's first byte (or its opening) until
    the request head is complete; body_timeout from the head until the whole body has arrived
    (408); keep_alive_timeout idle between requests; send_timeout that a client may take
    nothing of its answer before the connection is closed. max_head_bytes: request line and
    headers together (431 past it).
    max_restarts: render process restarts within restart_window_s; past it the service
    stops drawing (/healthz and renders 503) until it is restarted itself.
    backgrounds: the folder of photographs a request may ask to draw behind the object
    (``backgrounds: true``); None: none (requests never name a path).
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
    max_inflight_bytes: int = 256 << 20
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 5.0
    send_timeout: float = 30.0
    max_head_bytes: int = 64 << 10
    max_restarts: int = 3
    restart_window_s: float = 600.0
    backgrounds: str | None = None

    def largest_answer_bytes(self) -> int:
        """What the largest request these limits allow reserves of max_inflight_bytes (see answer_cost)."""
        one = min(self.max_size * self.max_size * 3, self.max_response_bytes)  # pixels of one image at most
        pixels = min(self.max_response_bytes, self.max_poses * self.max_size * self.max_size * 3)
        return max(pixels + NPY_HEADER_BYTES, 2 * one)


#: Bytes of a .npy header (format 1.0, as np.save writes for a 4-d uint8 array).
NPY_HEADER_BYTES = 128


def answer_cost(count: int, size: int, fmt: str) -> int:
    """Bytes an answer holds while it is made and sent: the images (N*S*S*3), and for png/jpg
    their encoding too (at most about as large as the pixels)."""
    pixels = count * size * size * 3
    return pixels + NPY_HEADER_BYTES if fmt == "npy" else 2 * pixels


#: The JSON name of each limit, as error messages and docs/SERVE.md call it, with its option.
LIMIT_OPTIONS = {
    "max_poses": "--max-poses",
    "max_size": "--max-size",
    "max_body_bytes": "--max-body-bytes",
    "max_response_bytes": "--max-response-bytes",
    "max_render_seconds": "--max-render-seconds",
    "max_inflight_bytes": "--max-inflight-bytes",
    "body_timeout": "--body-timeout",
    "header_timeout": "--header-timeout",
    "max_head_bytes": "--max-head-bytes",
}


class LimitExceeded(Exception):
    """A request went past one of the service's limits.

    status: the HTTP status to answer (4xx, or 503 for max_inflight_bytes). limit: its JSON
    name (a key of LIMIT_OPTIONS). allowed, got: ints or floats of at most a few digits (every
    field is bounded before a limit is checked).
    """

    def __init__(self, status: int, limit: str, allowed: float, got: float, what: str) -> None:
        super().__init__(
            f"{what} ({_num(got)}) exceeds the limit {limit} = {_num(allowed)} (server option {LIMIT_OPTIONS[limit]})"
        )
        self.status, self.limit, self.allowed, self.got = status, limit, allowed, got


def _num(x: float) -> str:
    """An int as its digits (any size, no float conversion); a float as %g."""
    if isinstance(x, int):
        return str(x)
    return str(int(x)) if x.is_integer() else f"{x:g}"
