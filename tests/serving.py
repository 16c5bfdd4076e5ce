"""Running ``python -m gpu_render.serve`` in a subprocess on 127.0.0.1 and a free port, as a user would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import IO

import httpx

START_TIMEOUT_S = 60.0
TOKEN_ENV = "GPU_RENDER_TOKEN"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    token: str | None
    log: IO[str]

    def log_text(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        code = self.process.wait(timeout)
        self.log.close()
        return code


def start_server(*args: str, token: str | None = None) -> Server:
    """Start the service (the token, if any, in GPU_RENDER_TOKEN) and wait until /healthz answers 200.
    Raises if it exits first."""
    return wait_ready(launch(*args, token=token))


def launch(*args: str, token: str | None = None) -> Server:
    """Start the service; :func:`wait_ready` waits for it (several may start side by side)."""
    port = free_port()
    cmd = [sys.executable, "-m", "gpu_render.serve", "--port", str(port), *args]
    env = dict(os.environ)
    env.pop(TOKEN_ENV, None)
    if token:
        env[TOKEN_ENV] = token  # as docs/SERVE.md says: a --token would show in ps
    # Its log goes to a file: a pipe nobody reads could fill and stall the server.
    log = tempfile.TemporaryFile("w+")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True, env=env)
    return Server(p, f"http://127.0.0.1:{port}", token, log)


def wait_ready(server: Server) -> Server:
    """Wait until ``server`` answers /healthz with 200. Raises if it exits first or takes too long."""
    p = server.process
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"server exited {p.returncode}: {server.log_text()}")
        try:
            status = httpx.get(server.url + "/healthz", headers=server.headers(), timeout=1).status_code
        except httpx.TransportError:  # not listening yet
            status = 0
        if status == 200:
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError("server did not answer /healthz in time")


def rss_bytes(pid: int) -> int:
    """The resident memory of process ``pid`` (VmRSS), bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def address(server: Server) -> tuple[str, int]:
    """(host, port) of a server on 127.0.0.1."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def metric(text: str, name: str, **labels: str) -> float:
    """The value of sample ``name`` with ``labels`` in Prometheus text ``text`` (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0
