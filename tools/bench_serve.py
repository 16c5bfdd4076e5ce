"""Benchmark ``python -m gpu_render.serve``: requests/s and p50/p99 latency at 1, 8 and 32
concurrent clients with 1 and 64 poses per request, batching on against batching off.

    python tools/bench_serve.py --object clpr-cube --size 64 --seconds 2 --repeat 3 --json /tmp/serve.json

Two servers run side by side on 127.0.0.1 (free ports): one with dynamic batching (default
window 2 ms), one with ``--no-batching`` (every request drawn alone). Runs are interleaved:
for each repeat, each (clients, poses) case runs against one server, then the other. A run
is bounded both in time (``--seconds``) and in count (``--max-requests``). The load comes from
this process: one kept-alive connection per client, asyncio streams speaking plain HTTP/1.1,
requests encoded once, so that the client's own CPU per request stays small (an HTTP library
cost 4.5 ms of CPU per request here, twice the server's). Each case reports the median over repeats of
requests/s, poses/s and the p50 and p99 latency, and the CPU per request of the server
process, of its render process (where /healthz names one) and of this load generator;
``ratio`` is batching-on over batching-off requests/s (medians) per case. The target:
ratio >= 5 at 32 clients, 1 pose.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gpu_render.rotations.sources import random_quaternions  # noqa: E402

TARGET_RATIO = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render_pid(url: str) -> int | None:
    """The server's render process (``render_pid`` in /healthz), None where GL runs in the server."""
    pid = httpx.get(url + "/healthz", timeout=5).json().get("render_pid")
    return int(pid) if pid is not None else None


def start(extra: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.Popen(
        [sys.executable, "-m", "gpu_render.serve", "--port", str(port), "--max-poses", "64", *extra], env=env
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return p, url
        except httpx.TransportError:
            time.sleep(0.05)
    p.terminate()
    raise SystemExit(f"bench_serve: the server at {url} did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far, all threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """Send one pre-encoded HTTP/1.1 request on a kept-alive connection; read the whole answer.
    Returns the status. (Plain asyncio streams: a fraction of an HTTP library's CPU per request.)"""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def load(url: str, bodies: list[bytes], clients: int, seconds: float, max_requests: int) -> dict[str, float]:
    """``clients`` connections post bodies back to back until ``seconds`` pass or ``max_requests`` are sent."""
    host, port = url.rsplit("/", 1)[1].split(":")
    requests = [
        b"POST /render HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (host.encode(), len(b), b)
        for b in bodies
    ]
    latencies: list[float] = []
    sent = 0
    connections = [await asyncio.open_connection(host, int(port), limit=1 << 26) for _ in range(clients)]
    t0 = time.perf_counter()
    stop_at = t0 + seconds

    async def one(k: int) -> None:
        nonlocal sent
        reader, writer = connections[k]
        i = k
        while time.perf_counter() < stop_at and sent < max_requests:
            sent += 1
            t = time.perf_counter()
            status = await post(reader, writer, requests[i % len(requests)])
            if status != 200:
                raise SystemExit(f"bench_serve: HTTP {status}")
            latencies.append(time.perf_counter() - t)
            i += clients

    await asyncio.gather(*(one(k) for k in range(clients)))
    wall = time.perf_counter() - t0
    for _, writer in connections:
        writer.close()
    lat = np.asarray(latencies)
    return {
        "requests": len(lat),
        "seconds": wall,
        "rps": len(lat) / wall,
        "p50_ms": float(np.percentile(lat, 50) * 1000),
        "p99_ms": float(np.percentile(lat, 99) * 1000),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--object", default="clpr-cube")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--clients", default="1,8,32")
    p.add_argument("--poses", default="1,64")
    p.add_argument("--seconds", type=float, default=2.0, help="time bound of one run")
    p.add_argument("--max-requests", type=int, default=2000, help="count bound of one run")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--window-ms", type=float, default=2.0)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    clients = [int(c) for c in a.clients.split(",")]
    poses = [int(n) for n in a.poses.split(",")]
    q = random_quaternions(4096, 11)
    bodies = {
        n: [
            json.dumps({"object": a.object, "size": a.size, "quaternions": q[i : i + n].tolist()}).encode()
            for i in range(0, 4096 - n + 1, n)
        ][:256]
        for n in poses
    }
    servers = {"batching": start(["--window-ms", str(a.window_ms)]), "no_batching": start(["--no-batching"])}
    runs: dict[str, list[dict[str, float]]] = {}
    render_pids = {mode: render_pid(url) for mode, (_, url) in servers.items()}
    try:
        for _, url in servers.values():  # warm up: renderers made, first draws done
            asyncio.run(load(url, bodies[max(poses)], 2, 1.0, 8))
        for r in range(a.repeat):
            for c in clients:
                for n in poses:
                    for mode, (proc, url) in servers.items():
                        child = render_pids[mode]
                        cpu0, own0 = cpu_seconds(proc.pid), time.process_time()
                        child0 = cpu_seconds(child) if child else 0.0
                        result = asyncio.run(load(url, bodies[n], c, a.seconds, a.max_requests))
                        result["server_cpu_ms"] = (cpu_seconds(proc.pid) - cpu0) * 1000 / result["requests"]
                        result["render_cpu_ms"] = (
                            (cpu_seconds(child) - child0) * 1000 / result["requests"] if child else 0.0
                        )
                        result["client_cpu_ms"] = (time.process_time() - own0) * 1000 / result["requests"]
                        runs.setdefault(f"{mode} c={c} n={n}", []).append(result)
                        print(
                            f"repeat {r} {mode:11s} clients {c:2d} poses {n:2d}: {result['rps']:8.1f} req/s "
                            f"p50 {result['p50_ms']:7.1f} ms p99 {result['p99_ms']:7.1f} ms; CPU per request: server "
                            f"{result['server_cpu_ms']:.2f} ms, render process {result['render_cpu_ms']:.2f} ms, "
                            f"client {result['client_cpu_ms']:.2f} ms",
                            flush=True,
                        )
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(60)
    table = []
    for c in clients:
        for n in poses:
            row: dict[str, object] = {"clients": c, "poses": n}
            for mode in servers:
                rs = runs[f"{mode} c={c} n={n}"]
                row[mode] = {
                    k: statistics.median(x[k] for x in rs)
                    for k in ("rps", "p50_ms", "p99_ms", "server_cpu_ms", "render_cpu_ms", "client_cpu_ms")
                }
                row[mode]["poses_per_s"] = row[mode]["rps"] * n  # type: ignore[index]
            row["ratio"] = row["batching"]["rps"] / row["no_batching"]["rps"]  # type: ignore[index]
            table.append(row)
    print(
        f"\n{a.object} {a.size} px, medians of {a.repeat} runs (each <= {a.seconds:g} s, <= {a.max_requests} requests)"
    )
    print("clients poses | batching: req/s  p50 ms  p99 ms | off: req/s  p50 ms  p99 ms | ratio")
    for row in table:
        b, o = row["batching"], row["no_batching"]
        print(
            f"{row['clients']:7d} {row['poses']:5d} | {b['rps']:14.1f} {b['p50_ms']:7.1f} {b['p99_ms']:7.1f} | "  # type: ignore[index]
            f"{o['rps']:10.1f} {o['p50_ms']:7.1f} {o['p99_ms']:7.1f} | {row['ratio']:5.2f}"
        )  # type: ignore[index]
    head = next(r for r in table if r["clients"] == max(clients) and r["poses"] == 1) if 1 in poses else None
    if head is not None:
        verdict = "met" if head["ratio"] >= TARGET_RATIO else "NOT met"  # type: ignore[operator]
        print(
            f"target: batching >= {TARGET_RATIO:g}x at {max(clients)} clients, 1 pose: {head['ratio']:.2f}x, {verdict}"
        )
    if a.json:
        a.json.write_text(
            json.dumps(
                {
                    "machine": platform.platform(),
                    "cpus": os.cpu_count(),
                    "object": a.object,
                    "size": a.size,
                    "repeat": a.repeat,
                    "seconds": a.seconds,
                    "window_ms": a.window_ms,
                    "table": table,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
