"""The service's render process (gpu_render/serve/render_process.py), against real servers on
127.0.0.1: GL lives only in the child; when the child dies it is restarted, and past
--max-restarts /healthz and requests answer 503 (never hang) and the server still shuts down
cleanly; when the server dies, so does the child; no GL at start-up ends in one line, exit 2."""

from __future__ import annotations

import io
import os
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from gpu_render.client import RenderClient
from gpu_render.rotations.sources import random_quaternions
from tests.cli import run_module
from tests.serving import Server, launch, wait_ready

SIZE = 16
#: A size whose 3 images outgrow the "crash" server's buffer made for SIZE (4 x SIZE^2 x 3 bytes).
LARGER = 48
#: Seconds a process is given to be gone (killed, reaped) before a test fails.
GONE_TIMEOUT_S = 10.0
#: Shared objects that only a process that opened a GL context maps (glvnd's EGL, Mesa's driver).
GL_LIBRARIES = ("libEGL", "libGLX", "libgallium", "swrast_dri", "libGL.so")
#: The window of the server whose render process is killed with a request waiting in it.
KILL_WINDOW_MS = 1000
#: Its render process restarts (the third death is not restarted).
KILL_RESTARTS = 2
#: /healthz's status once --max-restarts is spent.
SPENT = "render process stopped (its restarts are spent)"
#: Seconds a new render process (a spawned Python that makes a GL context) may take to answer.
RESTART_TIMEOUT_S = 30.0
#: The render time limit of the server stopped while a client stalls mid-request.
STALL_RENDER_S = 1
#: The render time limit of the server whose hung render process is killed: a request queued
#: behind the hung draw waits this long at most, restart included.
RESTART_RENDER_S = 5


def gone(pid: int) -> bool:
    """Whether process ``pid`` no longer runs (absent, or a zombie left for its reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def wait_gone(pid: int) -> bool:
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def maps_gl(pid: int) -> bool:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return any(lib in maps for lib in GL_LIBRARIES)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Server]]:
    """ "kill": its render process is killed; "crash": the server itself is killed; "stall": gets
    SIGTERM while a client stalls mid-request. Started side by side."""
    started = {
        "kill": launch("--window-ms", str(KILL_WINDOW_MS), "--max-restarts", str(KILL_RESTARTS)),
        "crash": launch("--max-draw-poses", "4"),
        "stall": launch("--max-render-seconds", str(STALL_RENDER_S)),
        "restart": launch("--max-render-seconds", str(RESTART_RENDER_S)),
    }
    try:
        yield {name: wait_ready(s) for name, s in started.items()}
    finally:
        for s in started.values():
            if s.process.poll() is None:
                s.process.kill()
            s.stop()


def render_pid(server: Server) -> int:
    health = httpx.get(server.url + "/healthz").json()
    assert health["status"] == "ok", health
    return int(health["render_pid"])


def test_gl_lives_in_the_render_process_only(servers: dict[str, Server]) -> None:
    s = servers["crash"]
    pid = render_pid(s)
    assert pid != s.process.pid
    client = RenderClient(s.url)
    image = client.render([[1, 0, 0, 0]], size=SIZE)
    assert image.shape == (1, SIZE, SIZE, 3) and image.dtype == np.uint8 and image.std() > 0
    # A larger size needs a larger image buffer: the render process swaps to it, and back.
    large = client.render(random_quaternions(3, 2), size=LARGER)
    assert large.shape == (3, LARGER, LARGER, 3) and large.std() > 0
    assert client.render([[1, 0, 0, 0]], size=SIZE).tobytes() == image.tobytes()
    assert maps_gl(pid), "the render process has no GL library mapped: the test's names are out of date"
    assert not maps_gl(s.process.pid)


def wait_restarted(server: Server, old_pid: int) -> dict[str, object]:
    """/healthz once it is 200 with a render process other than ``old_pid``."""
    deadline = time.monotonic() + RESTART_TIMEOUT_S
    while True:
        health = httpx.get(server.url + "/healthz")
        if health.status_code == 200 and health.json()["render_pid"] != old_pid:
            return dict(health.json())
        assert time.monotonic() < deadline, f"no new render process: {health.text}"
        time.sleep(0.1)


def test_a_killed_render_process_is_restarted_until_its_restarts_are_spent(servers: dict[str, Server]) -> None:
    """SIGKILL of the render process: a request waiting in the batching window is drawn by the
    restarted one, and so are the requests after; past --max-restarts the service answers 503
    (/healthz and renders, at once, JSON with Retry-After) and still stops cleanly."""
    from tests.serving import metric

    s = servers["kill"]
    pid = render_pid(s)
    client = RenderClient(s.url, timeout=60)
    before = client.render([[0, 1, 0, 0]], size=SIZE)
    with ThreadPoolExecutor(1) as pool:
        # A request waiting out the batching window when the render process dies.
        waiting = pool.submit(
            httpx.post, s.url + "/render", json={"quaternions": [[1, 0, 0, 0]], "size": SIZE}, timeout=60
        )
        time.sleep(KILL_WINDOW_MS / 1000 / 3)
        assert not waiting.done()
        os.kill(pid, signal.SIGKILL)
        r = waiting.result(timeout=60)
    assert r.status_code == 200 and np.load(io.BytesIO(r.content)).shape == (1, SIZE, SIZE, 3), r.text
    assert wait_gone(pid)
    health = wait_restarted(s, pid)
    assert health["restarts"] == 1 and health["status"] == "ok"
    assert client.render([[0, 1, 0, 0]], size=SIZE).tobytes() == before.tobytes()  # the new one draws the same
    assert metric(httpx.get(s.url + "/metrics").text, "gpu_render_render_process_restarts_total") == 1
    # With no request at all, a death is seen and the render process restarted too.
    second = int(health["render_pid"])  # type: ignore[call-overload]
    os.kill(second, signal.SIGKILL)
    assert wait_restarted(s, second)["restarts"] == KILL_RESTARTS
    # Past --max-restarts: nothing more is drawn, and every answer says so at once.
    os.kill(render_pid(s), signal.SIGKILL)
    deadline = time.monotonic() + RESTART_TIMEOUT_S
    while (health_answer := httpx.get(s.url + "/healthz")).json()["status"] != SPENT:
        # Between the death and the batching thread's look at it (WATCH_S), it says "restarting".
        assert health_answer.status_code == 200 or health_answer.json()["status"] == "render process restarting"
        assert time.monotonic() < deadline, f"a dead render process still looked alive: {health_answer.text}"
        time.sleep(0.1)
    assert health_answer.status_code == 503
    assert health_answer.json()["render_pid"] is None
    t0 = time.monotonic()
    refused = httpx.post(s.url + "/render", json={"quaternions": [[0, 1, 0, 0]], "size": SIZE}, timeout=30)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert "restarts" in refused.json()["error"] and "restart it" in refused.json()["error"], refused.text
    assert time.monotonic() - t0 < 5, "a request to a server without its render process took long"
    assert s.process.poll() is None
    assert httpx.get(s.url + "/objects").status_code == 200  # what needs no GL is still served
    s.process.send_signal(signal.SIGTERM)
    assert s.process.wait(30) == 0, s.log_text()
    assert "restarted it" in s.log_text()


def test_a_request_queued_behind_a_hung_draw_is_served_once_the_render_process_is_killed(
    servers: dict[str, Server],
) -> None:
    """A render process stuck in a draw (SIGSTOP), then killed: the draw's request has had its
    408, and the request queued behind it is drawn by the restarted render process."""
    s = servers["restart"]
    pid = render_pid(s)
    body = {"quaternions": [[1, 0, 0, 0]], "size": SIZE}
    os.kill(pid, signal.SIGSTOP)
    try:
        assert httpx.post(s.url + "/render", json=body, timeout=30).status_code == 408
        deadline = time.monotonic() + 10
        while "not answering" not in httpx.get(s.url + "/healthz").json()["status"]:  # the draw is in progress
            assert time.monotonic() < deadline, "the hung draw never showed in /healthz"
            time.sleep(0.05)
        with ThreadPoolExecutor(1) as pool:
            queued = pool.submit(httpx.post, s.url + "/render", json=body, timeout=60)
            time.sleep(0.2)
            os.kill(pid, signal.SIGKILL)
            r = queued.result(timeout=60)
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGCONT)
    # Queued behind the hung draw for up to max_render_seconds: drawn in time (200) by the new process.
    assert r.status_code == 200, r.text
    assert wait_restarted(s, pid)["restarts"] == 1


def test_render_process_dies_with_a_killed_server(servers: dict[str, Server]) -> None:
    s = servers["crash"]
    pid = render_pid(s)
    s.process.kill()
    s.process.wait(30)
    assert wait_gone(pid), f"render process {pid} outlived its server"


def test_no_opengl_at_start_up_is_one_line_exit_2(tmp_path: Path) -> None:
    # glvnd finds no EGL vendor at all: what a machine without any driver looks like.
    r = run_module(
        "gpu_render.serve",
        "--port",
        "0",
        env={"__EGL_VENDOR_LIBRARY_FILENAMES": str(tmp_path / "none.json")},
        timeout=60,
    )
    assert r.code == 2
    line = r.one_line_error()
    assert line.startswith("gpu_render.serve: error: ") and "no headless OpenGL" in line


def test_a_gl_error_that_cannot_be_pickled_stays_a_gl_error() -> None:
    """The render process sends its start-up error over the pipe: one that pickle refuses (a
    local class here) must still reach the server as a NoOpenGLError, reported in one line."""
    from gpu_render.render.context import NoOpenGLError
    from gpu_render.serve.render_process import portable

    class DriverError(NoOpenGLError):
        pass

    sent = portable(DriverError("EGL said no"))
    assert type(sent) is NoOpenGLError and str(sent) == "DriverError: EGL said no"
    assert type(portable(KeyError("k"))) is KeyError  # picklable: sent as it is
    assert type(portable(type("Local", (Exception,), {})("x"))) is RuntimeError


def test_both_ends_keep_the_same_renderer_lru() -> None:
    """The server sends a scene only for keys the render process lacks: both evict alike."""
    from collections import OrderedDict

    from gpu_render.serve.render_process import remember

    cache: OrderedDict[str, int] = OrderedDict()
    evicted = [remember(cache, k, v, 2) for k, v in (("a", 1), ("b", 2), ("a", 9), ("c", 3))]
    assert evicted == [[], [], [], [2]]
    assert list(cache.items()) == [("a", 1), ("c", 3)]


def test_a_hung_render_process_makes_healthz_503_until_it_answers(servers: dict[str, Server]) -> None:
    """A render process that is alive but stuck in a draw (SIGSTOP here; a hung driver in life):
    its requests get 408 at max_render_seconds, /healthz says so with 503, and both recover."""
    s = servers["stall"]
    pid = render_pid(s)
    body = {"quaternions": [[1, 0, 0, 0]], "size": SIZE}
    os.kill(pid, signal.SIGSTOP)
    try:
        r = httpx.post(s.url + "/render", json=body, timeout=30)
        assert r.status_code == 408 and r.json()["limit"] == "max_render_seconds", r.text
        deadline = time.monotonic() + 10
        while (health := httpx.get(s.url + "/healthz")).status_code == 200:
            assert time.monotonic() < deadline, "a hung render process still looked healthy"
            time.sleep(0.1)
        assert health.status_code == 503 and "not answering" in health.json()["status"], health.text
        assert health.json()["render_pid"] == pid
    finally:
        os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + 10
    while httpx.get(s.url + "/healthz").status_code != 200:
        assert time.monotonic() < deadline, "the render process answered again but /healthz stayed 503"
        time.sleep(0.1)
    assert httpx.post(s.url + "/render", json=body, timeout=30).status_code == 200


def test_sigterm_exits_0_while_a_client_stalls_mid_request(servers: dict[str, Server]) -> None:
    """A client that sent half its body and then nothing held the shutdown forever (uvicorn
    waited for every connection); now it is cut off max_render_seconds + SHUTDOWN_GRACE_S
    after the signal (test_serve.py tests that requests in flight are answered)."""
    from gpu_render.serve.server import SHUTDOWN_GRACE_S

    s = servers["stall"]
    host, port = s.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port))) as stalled:
        stalled.sendall(
            b"POST /render HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 500\r\n\r\n{"quaternions": '
        )
        time.sleep(0.2)  # the server has the request's head and waits for its body
        s.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert s.process.wait(STALL_RENDER_S + SHUTDOWN_GRACE_S + 20) == 0, s.log_text()
        assert time.monotonic() - signalled < STALL_RENDER_S + SHUTDOWN_GRACE_S + 10


def test_a_render_process_that_cannot_start_is_an_error_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    """multiprocessing refusing to spawn (a script without the ``__main__`` guard, say) made
    RenderProcess.stop raise AssertionError in the batching thread, and RenderWorker.start
    waited forever for it."""
    import multiprocessing.context
    import threading

    from gpu_render.serve.config import ServeOptions
    from gpu_render.serve.metrics import Metrics
    from gpu_render.serve.worker import RenderWorker

    def refuse(self: object) -> None:
        raise RuntimeError("spawn refused")

    monkeypatch.setattr(multiprocessing.context.SpawnProcess, "start", refuse)
    worker = RenderWorker(ServeOptions(), Metrics())
    raised: list[BaseException] = []

    def start() -> None:
        try:
            worker.start()
        except RuntimeError as exc:
            raised.append(exc)

    starter = threading.Thread(target=start, daemon=True)
    starter.start()
    starter.join(GONE_TIMEOUT_S)
    assert not starter.is_alive(), "RenderWorker.start hung"
    assert [str(e) for e in raised] == ["spawn refused"]
    assert not worker.alive
