"""``[GPU_RENDER_TOKEN=T] python -m gpu_render.serve [--host 127.0.0.1] [--port 8000] ...``: run the service.

Bad options end with one line and exit status 2. SIGTERM (or Ctrl-C) stops taking connections,
answers the requests in flight, releases GL and exits 0.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from gpu_render.cli.arg_types import MAX_SIZE, MIN_SIZE, Parser, at_least
from gpu_render.errors import UsageError
from gpu_render.extras import install_hint
from gpu_render.render.context import NoOpenGLError
from gpu_render.serve.config import LOOPBACK_HOSTS, ServeOptions

PROG = "gpu_render.serve"
TOKEN_ENV = "GPU_RENDER_TOKEN"
MAX_WINDOW_MS = 60_000


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def serve_parser() -> argparse.ArgumentParser:
    d = ServeOptions()
    p = Parser(
        module=PROG,
        description="Serve renders over HTTP: POST /render, GET /objects, /healthz, /metrics (docs/SERVE.md).",
    )
    p.add_argument("--host", default=d.host, help="address to bind (default 127.0.0.1; any other needs --token)")
    p.add_argument("--port", type=at_least(0, 65535), default=d.port, help="TCP port (default 8000)")
    p.add_argument(
        "--token",
        default=None,
        help=f"bearer token every request must carry; prefer the environment "
        f"variable {TOKEN_ENV}, since a command line is visible to every user of the machine (ps)",
    )
    p.add_argument(
        "--device",
        type=at_least(0),
        default=d.device,
        metavar="N",
        help="GPU N in CUDA numbering, as the build's --device (default 0)",
    )
    p.add_argument(
        "--window-ms",
        type=float,
        default=d.window_s * 1000,
        metavar="MS",
        help="batching window: how long a request waits for others to draw with (default 2)",
    )
    p.add_argument("--no-batching", action="store_true", help="draw every request alone (for comparison)")
    p.add_argument(
        "--max-draw-poses",
        type=at_least(1),
        default=d.max_draw_poses,
        metavar="N",
        help=f"poses per atlas pass at most (default {d.max_draw_poses})",
    )
    p.add_argument(
        "--max-poses",
        type=at_least(1),
        default=d.max_poses,
        metavar="N",
        help=f"limit: poses per request (default {d.max_poses})",
    )
    p.add_argument(
        "--max-size",
        type=at_least(MIN_SIZE, MAX_SIZE),
        default=d.max_size,
        metavar="PX",
        help=f"limit: image size, at most {MAX_SIZE} as for the build (default {d.max_size})",
    )
    p.add_argument(
        "--max-body-bytes",
        type=at_least(1),
        default=d.max_body_bytes,
        metavar="B",
        help=f"limit: request body (default {d.max_body_bytes})",
    )
    p.add_argument(
        "--max-response-bytes",
        type=at_least(1),
        default=d.max_response_bytes,
        metavar="B",
        help=f"limit: N*S*S*3 bytes of images per request (default {d.max_response_bytes})",
    )
    p.add_argument(
        "--max-render-seconds",
        type=positive_float,
        default=d.max_render_seconds,
        metavar="S",
        help=f"limit: seconds a request waits for its render (default {d.max_render_seconds:g})",
    )
    p.add_argument(
        "--max-inflight-bytes",
        type=at_least(1),
        default=d.max_inflight_bytes,
        metavar="B",
        help="limit: bytes of answers the server holds at once (images being drawn, encoded or sent); "
        f"past it a request gets 503 with Retry-After (default {d.max_inflight_bytes})",
    )
    p.add_argument(
        "--header-timeout",
        type=positive_float,
        default=d.header_timeout,
        metavar="S",
        help="seconds from a connection's opening (or its first byte after an idle keep-alive) until "
        f"the request head is complete; then 408 and closed (default {d.header_timeout:g})",
    )
    p.add_argument(
        "--body-timeout",
        type=positive_float,
        default=d.body_timeout,
        metavar="S",
        help=f"seconds from the request head until the whole body has arrived; then 408 and closed "
        f"(default {d.body_timeout:g})",
    )
    p.add_argument(
        "--keep-alive-timeout",
        type=positive_float,
        default=d.keep_alive_timeout,
        metavar="S",
        help=f"seconds an idle connection is kept open between requests (default {d.keep_alive_timeout:g})",
    )
    p.add_argument(
        "--send-timeout",
        type=positive_float,
        default=d.send_timeout,
        metavar="S",
        help="seconds a client may take nothing of its answer before its connection is closed "
        f"(default {d.send_timeout:g})",
    )
    p.add_argument(
        "--max-head-bytes",
        type=at_least(1024),
        default=d.max_head_bytes,
        metavar="B",
        help=f"limit: bytes of request line and headers; past it 431 and closed (default {d.max_head_bytes})",
    )
    p.add_argument(
        "--max-restarts",
        type=at_least(0),
        default=d.max_restarts,
        metavar="N",
        help=f"render process restarts within {d.restart_window_s:g} s; past them the service answers "
        f"503 until it is restarted itself (default {d.max_restarts})",
    )
    p.add_argument(
        "--backgrounds",
        default=None,
        metavar="DIR",
        help="photographs (.jpg/.png, searched recursively) that requests may ask for behind the object "
        "(backgrounds: true); a request never names a path (default: none)",
    )
    p.add_argument(
        "--log-level",
        default="warning",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn's log level (default warning)",
    )
    return p


def parse_serve_args(argv: list[str] | None = None) -> tuple[ServeOptions, str]:
    """(options, log level). Raises UsageError (one line)."""
    ns = serve_parser().parse_args(argv)
    token = ns.token if ns.token is not None else os.environ.get(TOKEN_ENV) or None
    if token is not None and not token.strip():
        raise UsageError("argument --token: must not be empty")
    if token is not None and not all("!" <= ch <= "~" for ch in token):
        # An HTTP header carries no spaces at its ends, no control characters, and (in httpx,
        # curl and the client) only ASCII: a token with them could never be sent.
        raise UsageError(
            "argument --token: must be printable ASCII without spaces (a token an "
            "'Authorization: Bearer' header can carry)"
        )
    if ns.host not in LOOPBACK_HOSTS and token is None:
        raise UsageError(
            f"--host {ns.host} is reachable from other machines: give --token (or {TOKEN_ENV}) so that "
            "every request must carry it, or bind 127.0.0.1"
        )
    if not (0 <= ns.window_ms <= MAX_WINDOW_MS):
        raise UsageError(f"argument --window-ms: must be 0..{MAX_WINDOW_MS}, got {ns.window_ms:g}")
    options = ServeOptions(
        host=ns.host,
        port=ns.port,
        token=token,
        device=ns.device,
        window_s=ns.window_ms / 1000,
        batching=not ns.no_batching,
        max_draw_poses=ns.max_draw_poses,
        max_poses=ns.max_poses,
        max_size=ns.max_size,
        max_body_bytes=ns.max_body_bytes,
        max_response_bytes=ns.max_response_bytes,
        max_render_seconds=ns.max_render_seconds,
        max_inflight_bytes=ns.max_inflight_bytes,
        header_timeout=ns.header_timeout,
        body_timeout=ns.body_timeout,
        keep_alive_timeout=ns.keep_alive_timeout,
        send_timeout=ns.send_timeout,
        max_head_bytes=ns.max_head_bytes,
        max_restarts=ns.max_restarts,
        backgrounds=None if ns.backgrounds is None else str(ns.backgrounds),
    )
    if options.backgrounds is not None:
        from gpu_render.dataset.backgrounds import photo_catalogue

        photo_catalogue(Path(options.backgrounds))  # a missing or empty folder ends here, in one line
    largest = options.largest_answer_bytes()
    if options.max_inflight_bytes < largest:
        raise UsageError(
            f"argument --max-inflight-bytes: must be at least {largest}, what the largest request the "
            "other limits allow holds (its images, or a png/jpg and its pixels), or it would never be served"
        )
    return options, ns.log_level


def main(argv: list[str] | None = None) -> int:
    try:
        options, log_level = parse_serve_args(argv)
        # The [serve] extra, imported once the options are known good.
        from gpu_render.serve.metrics import Metrics
        from gpu_render.serve.server import run_server
        from gpu_render.serve.worker import RenderWorker

        listener = bind(options.host, options.port)  # a port in use ends here, in one line
        worker = RenderWorker(options, Metrics())
        worker.start()  # GL errors end here in one line too
    except (UsageError, NoOpenGLError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        if (exc.name or "").split(".")[0] == "gpu_render":
            raise  # a fault of this package, not a missing extra: no install can help
        print(f"{PROG}: error: {install_hint(exc.name or 'fastapi', 'serve')}", file=sys.stderr)
        return 2
    host, port = listener.getsockname()[:2]
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    print(
        f"{PROG}: serving on {url} ({worker.renderer_name}); API docs at {url}/docs; SIGTERM or Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    return 0 if run_server(options, worker, listener, log_level) else 2


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, handed to uvicorn. Raises UsageError (one line)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise UsageError(f"argument --host: cannot resolve {host!r} ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


if __name__ == "__main__":
    sys.exit(main())
