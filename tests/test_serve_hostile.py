"""``python -m gpu_render.serve`` against hostile clients on 127.0.0.1 (bounded in connections
and time): numbers of any size, slow and idle connections (slowloris), oversized and malformed
request heads, bodies in the wrong encoding or without a media type, and many unread large
answers. Every refusal is JSON; nothing gets a 500; memory stays bounded."""

from __future__ import annotations

import io
import json
import selectors
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import numpy as np
import pytest

from gpu_render.rotations.sources import random_quaternions
from tests.serving import Server, address, launch, metric, rss_bytes, wait_ready

#: The "slow" server's --header-timeout, --body-timeout and --keep-alive-timeout, s.
HEAD_S, BODY_S, IDLE_S = 2.0, 2.0, 1.0
#: How late past its deadline a connection may be closed (the event loop's latency on a loaded machine), s.
CLOSE_SLACK_S = 2.0
#: Its --max-head-bytes.
MAX_HEAD = 4096
#: Slow connections held at once, by kind (bounded: 200 in all).
SLOW = {"silent": 50, "partial head": 100, "dribbling head": 10, "partial body": 30, "idle keep-alive": 10}
#: Seconds between the bytes of a dribbling head (the deadline is not reset by bytes that come).
DRIBBLE_S = 0.25
#: The "memory" server: answers of MEM_POSES x MEM_SIZE^2 x 3 bytes (12 MiB, more than loopback's
#: socket buffers take), at most MEM_HELD of them at once, and a client that takes nothing of its
#: answer for MEM_SEND_S seconds is cut off.
MEM_POSES, MEM_SIZE, MEM_HELD, MEM_SEND_S = 64, 256, 2, 2.0
MEM_ANSWER = MEM_POSES * MEM_SIZE * MEM_SIZE * 3
MEM_INFLIGHT = MEM_HELD * (MEM_ANSWER + 128)
#: Clients that each ask for a MEM_ANSWER and never read it.
MEM_CLIENTS = 8
#: What the server's resident memory may grow by, past the answers it holds: allocator slack,
#: 256 KiB pieces being sent, request bodies (the rotations of 8 requests as JSON and lists).
RSS_SLACK = 24 << 20


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Server]]:
    started = {
        "slow": launch(
            "--header-timeout",
            str(HEAD_S),
            "--body-timeout",
            str(BODY_S),
            "--keep-alive-timeout",
            str(IDLE_S),
            "--max-head-bytes",
            str(MAX_HEAD),
            "--max-size",
            "32",
            "--max-poses",
            "4",
        ),
        "memory": launch(
            "--max-size",
            str(MEM_SIZE),
            "--max-poses",
            str(MEM_POSES),
            "--max-draw-poses",
            str(MEM_POSES),
            "--max-response-bytes",
            str(MEM_ANSWER),
            "--max-inflight-bytes",
            str(MEM_INFLIGHT),
            "--send-timeout",
            str(MEM_SEND_S),
            "--window-ms",
            "0",
        ),
    }
    try:
        yield {name: wait_ready(s) for name, s in started.items()}
    finally:
        codes = {name: s.stop() for name, s in started.items()}
    assert codes == {"slow": 0, "memory": 0}


def post_json(server: Server, body: bytes, content_type: str | None = "application/json") -> httpx.Response:
    headers = {} if content_type is None else {"content-type": content_type}
    return httpx.post(server.url + "/render", content=body, headers=headers, timeout=30)


def test_numbers_of_any_size_are_refused_naming_the_field(servers: dict[str, Server]) -> None:
    """A size of 309+ digits raised OverflowError: a plain-text 500 with a traceback."""
    s = servers["slow"]
    big = "9" * 320
    cases = {
        f'{{"quaternions": [[1, 0, 0, 0]], "size": {big}}}': "size",
        f'{{"quaternions": [[1, 0, 0, 0]], "size": -{big}}}': "size",
        '{"quaternions": [[1, 0, 0, 0]], "size": 1e400}': "size",
        f'{{"quaternions": [[{big}, 0, 0, 0]], "size": 8}}': "quaternions.0.0",
        '{"quaternions": [[1e400, 0, 0, 0]], "size": 8}': "quaternions.0.0",
        f'{{"matrices": [[[1, 0, 0], [0, 1, 0], [0, 0, {big}.5]]], "size": 8}}': "matrices.0.2.2",
        f'{{"object": "cylO", "quaternions": [[1, 0, 0, 0]], "size": 8, "fov": {big}}}': "fov",
        f'{{"object": "cylO", "quaternions": [[1, 0, 0, 0]], "size": 8, "color": [{big}, 0, 0]}}': "color.0",
        f'{{"object": "cylO", "quaternions": [[1, 0, 0, 0]], "size": 8, "light": [{big}, 0, 0]}}': "light.0",
    }
    for body, where in cases.items():
        r = post_json(s, body.encode())
        assert r.status_code == 422 and r.headers["content-type"] == "application/json", (where, r.status_code, r.text)
        assert r.json()["error"].startswith(f"{where}: "), (where, r.json())
    # An integer longer than Python's json takes (4300 digits) is a body that is not JSON.
    r = post_json(s, b'{"quaternions": [[1, 0, 0, 0]], "size": ' + b"9" * 5000 + b"}")
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"], r.text
    # 16.0 is the JSON number 16 (JSON Schema's integer); 16.5 is not an integer.
    assert post_json(s, b'{"quaternions": [[1, 0, 0, 0]], "size": 16.0}').status_code == 200
    assert post_json(s, b'{"quaternions": [[1, 0, 0, 0]], "size": 16.5}').status_code == 422
    text = httpx.get(s.url + "/metrics").text
    assert metric(text, "gpu_render_requests_total", endpoint="/render", status="500") == 0


def test_bodies_and_protocol_errors_get_json(servers: dict[str, Server]) -> None:
    """UTF-16 JSON was accepted (docs said 400); JSON without a Content-Type got a 422 about a
    "dictionary"; uvicorn's own refusals were text/plain."""
    s = servers["slow"]
    ok = '{"quaternions": [[1, 0, 0, 0]], "size": 8}'
    for encoding in ("utf-16", "utf-16-le", "utf-32"):
        r = post_json(s, ok.encode(encoding))
        assert r.status_code == 400 and "UTF-8" in r.json()["error"], (encoding, r.text)
    assert post_json(s, b"\xef\xbb\xbf" + ok.encode()).status_code == 200  # a UTF-8 byte order mark is UTF-8
    r = post_json(s, ok.encode(), content_type=None)
    assert r.status_code == 415 and "no Content-Type was sent" in r.json()["error"], r.text
    r = post_json(s, ok.encode(), content_type="text/plain")
    assert r.status_code == 415 and "Content-Type: application/json" in r.json()["error"], r.text
    for method, path, status in (("GET", "/nowhere", 404), ("DELETE", "/render", 405), ("GET", "/render", 405)):
        r = httpx.request(method, s.url + path)
        assert r.status_code == status and r.headers["content-type"] == "application/json" and r.json()["error"], path
    raw = {
        b"NOT HTTP AT ALL\r\n\r\n": 400,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (2 * MAX_HEAD) + b"\r\n\r\n": 431,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n": 400,
        b"POST /render HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n\r\n": 413,
    }
    for request, status in raw.items():
        answer = exchange(s, request)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 %d " % status), (request[:60], answer[:200])
        assert b"content-type: application/json" in head.lower(), answer[:300]
        assert json.loads(body)["error"], answer
    assert json.loads(exchange(s, list(raw)[1]).partition(b"\r\n\r\n")[2])["limit"] == "max_head_bytes"


def exchange(server: Server, request: bytes) -> bytes:
    """Send raw bytes on a new connection; everything the server answers until it closes (or 5 s)."""
    with socket.create_connection(address(server), timeout=5) as c:
        c.sendall(request)
        c.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := c.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
    return b"".join(chunks)


@dataclass
class Slow:
    """One slow connection: its kind, socket, when it opened, what it was sent and got back, when it closed."""

    kind: str
    sock: socket.socket
    opened: float
    unsent: bytes = b""
    got: bytearray = field(default_factory=bytearray)
    closed: float | None = None

    def deadline(self) -> float:
        return {"partial body": BODY_S, "idle keep-alive": IDLE_S}.get(self.kind, HEAD_S)


def open_slow(server: Server, kind: str) -> Slow:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    first = {
        "silent": b"",
        "partial head": b"POST /render HTTP/1.1\r\nHost: x\r\n",
        "dribbling head": head[:1],
        "partial body": b"POST /render HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"quat',
        "idle keep-alive": head,  # answered, then left idle
    }[kind]
    c = socket.create_connection(address(server))
    opened = time.monotonic()
    c.sendall(first)
    c.setblocking(False)
    return Slow(kind, c, opened, unsent=head[1:] if kind == "dribbling head" else b"")


def still_open(conn: Slow) -> bool:
    try:
        return conn.sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except ConnectionError:
        return False


def test_slow_and_idle_connections_are_closed_in_time_while_others_are_served(servers: dict[str, Server]) -> None:
    """200 connections that send nothing, part of a head (or a byte of it every DRIBBLE_S), part
    of a body, or nothing after their first request: a normal client is served while they are
    held, and each is closed within its deadline + CLOSE_SLACK_S (never before it), silent and
    partial heads with 408 JSON naming header_timeout, partial bodies naming body_timeout."""
    s = servers["slow"]
    conns = [open_slow(s, kind) for kind, n in SLOW.items() for _ in range(n)]
    try:
        r = httpx.post(s.url + "/render", json={"quaternions": [[1, 0, 0, 0]], "size": 32}, timeout=30)
        assert r.status_code == 200 and np.load(io.BytesIO(r.content)).shape == (1, 32, 32, 3)
        held = sum(still_open(c) for c in conns)
        assert held == len(conns), f"only {held} of {len(conns)} slow connections were held while a client was served"
        wait_closed(conns, time.monotonic() + HEAD_S + BODY_S + 3 * CLOSE_SLACK_S)
    finally:
        for c in conns:
            c.sock.close()
    late = [
        (c.kind, c.closed - c.opened)
        for c in conns
        if c.closed is None or c.closed - c.opened > c.deadline() + CLOSE_SLACK_S
    ]
    assert late == [], late
    early = [(c.kind, round(c.closed - c.opened, 3)) for c in conns if c.closed - c.opened < c.deadline() - 0.05]  # type: ignore[operator]
    assert early == [], early
    for c in conns:
        head, _, body = bytes(c.got).partition(b"\r\n\r\n")
        if c.kind == "idle keep-alive":
            assert head.startswith(b"HTTP/1.1 200 "), bytes(c.got)[:200]
            continue
        assert head.startswith(b"HTTP/1.1 408 ") and b"connection: close" in head.lower(), (c.kind, bytes(c.got)[:300])
        limit = "body_timeout" if c.kind == "partial body" else "header_timeout"
        assert json.loads(body)["limit"] == limit, (c.kind, body)
    text = httpx.get(s.url + "/metrics").text
    heads = SLOW["silent"] + SLOW["partial head"] + SLOW["dribbling head"]
    assert metric(text, "gpu_render_connections_closed_total", reason="header_timeout") == heads
    worst = max(c.closed - c.opened - c.deadline() for c in conns)  # type: ignore[operator]
    print(
        f"\n{len(conns)} slow connections held; a normal client served meanwhile; each closed at most "
        f"{worst:.2f} s past its deadline (header {HEAD_S:g} s, body {BODY_S:g} s, keep-alive {IDLE_S:g} s)"
    )


def wait_closed(conns: list[Slow], give_up: float) -> None:
    """Read every connection until the server closes it (noting when), sending the dribblers'
    bytes one every DRIBBLE_S, until all are closed or ``give_up``."""
    sel = selectors.DefaultSelector()
    for c in conns:
        sel.register(c.sock, selectors.EVENT_READ, c)
    next_dribble = time.monotonic() + DRIBBLE_S
    open_count = len(conns)
    while open_count and time.monotonic() < give_up:
        for key, _ in sel.select(timeout=0.05):
            c = key.data
            try:
                chunk = c.sock.recv(65536)
            except ConnectionError:
                chunk = b""
            if chunk:
                c.got += chunk
                continue
            c.closed = time.monotonic()
            sel.unregister(c.sock)
            open_count -= 1
        if time.monotonic() >= next_dribble:
            next_dribble += DRIBBLE_S
            for c in conns:
                if c.unsent and c.closed is None:
                    try:
                        c.sock.send(c.unsent[:1])
                        c.unsent = c.unsent[1:]
                    except OSError:
                        c.unsent = b""  # closed by the server: seen on the read side
    sel.close()


def test_unread_large_answers_keep_memory_bounded(servers: dict[str, Server]) -> None:
    """Each unread 64 MiB answer held ~150 MiB (six took a server from 193 to 1,117 MiB). Now
    MEM_CLIENTS clients ask for a 12 MiB answer each and read none of it: MEM_HELD are drawn
    and held (max_inflight_bytes), the others get 503 JSON with Retry-After at once, the
    server's memory grows by at most max_inflight_bytes + RSS_SLACK, and MEM_SEND_S after the
    clients stop taking their answers the connections are closed and the bytes released."""
    s = servers["memory"]
    body = json.dumps({"quaternions": random_quaternions(MEM_POSES, 1).tolist(), "size": MEM_SIZE}).encode()
    warm = post_json(s, body)  # the renderer made, the shared image buffer touched: the baseline
    assert warm.status_code == 200 and len(warm.content) == MEM_ANSWER + 128
    baseline = rss_bytes(s.process.pid)
    request = (
        b"POST /render HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    ) + body
    socks = []
    try:
        for _ in range(MEM_CLIENTS):
            c = socket.socket()
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)  # a client that reads nothing
            c.connect(address(s))
            c.sendall(request)
            socks.append(c)
        firsts = []
        for c in socks:
            c.settimeout(60)
            firsts.append(c.recv(4096))  # the status line and headers (and a 503's JSON)
        statuses = [int(f.split(b" ", 2)[1]) for f in firsts]
        assert sorted(statuses) == [200] * MEM_HELD + [503] * (MEM_CLIENTS - MEM_HELD), statuses
        for first in (f for f, st in zip(firsts, statuses, strict=False) if st == 503):
            head, _, error = first.partition(b"\r\n\r\n")
            assert b"retry-after: 1" in head.lower() and json.loads(error)["limit"] == "max_inflight_bytes", first
        text = httpx.get(s.url + "/metrics").text
        assert metric(text, "gpu_render_answer_bytes") == MEM_HELD * (MEM_ANSWER + 128)
        peak = 0
        for _ in range(5):  # held for MEM_SEND_S: a few looks at the server's memory meanwhile
            peak = max(peak, rss_bytes(s.process.pid))
            time.sleep(0.1)
        assert peak - baseline <= MEM_INFLIGHT + RSS_SLACK, (peak - baseline) / 2**20
        # Nobody reads: MEM_SEND_S later the server cuts them off and releases their bytes.
        deadline = time.monotonic() + MEM_SEND_S + 10
        while metric(httpx.get(s.url + "/metrics").text, "gpu_render_answer_bytes") > 0:
            assert time.monotonic() < deadline, "stalled answers were never released"
            time.sleep(0.1)
        text = httpx.get(s.url + "/metrics").text
        assert metric(text, "gpu_render_connections_closed_total", reason="send_timeout") == MEM_HELD
    finally:
        for c in socks:
            c.close()
    after = post_json(s, body)
    assert after.status_code == 200 and after.content == warm.content
    print(
        f"\n{MEM_CLIENTS} unread {MEM_ANSWER >> 20} MiB answers: {MEM_HELD} held, {MEM_CLIENTS - MEM_HELD} "
        f"refused 503; server memory {baseline / 2**20:.0f} -> {peak / 2**20:.0f} MiB (bound "
        f"+{(MEM_INFLIGHT + RSS_SLACK) / 2**20:.0f} MiB)"
    )
