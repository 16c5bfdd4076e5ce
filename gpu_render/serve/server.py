"""Running the app under uvicorn, with the connection deadlines of
:mod:`gpu_render.serve.protocol` and a clean shutdown: SIGTERM (or Ctrl-C) stops taking
connections, answers the requests in flight, releases GL, and the process exits 0, within
max_render_seconds + SHUTDOWN_GRACE_S even while a client holds a request half sent."""

from __future__ import annotations

import signal
import socket
from types import FrameType

import uvicorn

from gpu_render.serve.app import create_app
from gpu_render.serve.config import ServeOptions
from gpu_render.serve.protocol import deadline_protocol
from gpu_render.serve.worker import RenderWorker

#: Seconds past max_render_seconds that a shutdown waits for connections before closing them:
#: every request in flight has its images (or its 408) by max_render_seconds; what is left
#: then is a client that has not sent its whole request (a slow or stalled upload).
SHUTDOWN_GRACE_S = 5.0


class Server(uvicorn.Server):
    """uvicorn's server, telling the batching thread when a shutdown starts, so that requests
    waiting out a batching window are drawn at once and answered."""

    def __init__(self, config: uvicorn.Config, worker: RenderWorker) -> None:
        super().__init__(config)
        self.worker = worker

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.worker.draining = True  # a plain assignment: safe in a signal handler
        super().handle_exit(sig, frame)


def run_server(options: ServeOptions, worker: RenderWorker, listener: socket.socket, log_level: str) -> bool:
    """Serve on ``listener`` (bound and listening) until SIGTERM or Ctrl-C; the worker is started
    and is stopped here. Returns whether the server started."""
    stopped: list[int] = []
    # uvicorn re-raises the signal that stopped it once it has shut down gracefully; with this
    # handler in place that records it instead of killing the process, so the exit status is 0.
    signal.signal(signal.SIGTERM, lambda sig, frame: stopped.append(sig))
    config = uvicorn.Config(
        create_app(options, worker),
        log_level=log_level,
        lifespan="on",
        ws="none",
        http=deadline_protocol(options, worker.metrics),
        # uvicorn types both as int seconds; it hands them to asyncio, which takes fractions too
        timeout_keep_alive=options.keep_alive_timeout,  # type: ignore[arg-type]
        timeout_graceful_shutdown=options.max_render_seconds + SHUTDOWN_GRACE_S,  # type: ignore[arg-type]
    )
    server = Server(config, worker)
    try:
        server.run(sockets=[listener])
    finally:
        worker.stop()
        listener.close()
    return bool(server.started)
