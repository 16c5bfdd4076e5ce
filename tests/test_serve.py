"""``python -m gpu_render.serve`` in a subprocess on 127.0.0.1 and a free port, under concurrent
clients: byte-identical images, batching seen in /metrics, bad input refused while others are
served, the bearer token, and SIGTERM during load."""

from __future__ import annotations

import io
import json
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from gpu_render.client import RenderClient, RenderError
from gpu_render.rotations.sources import random_quaternions
from tests.cli import run_module
from tests.serving import Server, launch, metric, wait_ready

TOKEN = "test-token-8c1f"
SIZE = 32
POSES, SEED = 200, 5
CLIENTS, PER_CLIENT = 8, 25
#: Objects: a pose drawn in another atlas tile than the build drew it in may differ in a few
#: pixels (llvmpipe interpolates from absolute window position): at least this share of
#: pixels must be equal, and no pixel may differ by more than OBJECT_MAX_DIFF in any channel
#: (measured on llvmpipe: sphereX, shifted by 1 tile, 1 pixel of 1024 off by 1).
PIXEL_AGREEMENT = 0.995
OBJECT_MAX_DIFF = 8
#: The marked sphere: its texture-like marks are where tile position shows first.
OBJECT, OBJECT_POSES = "sphereX", 8
MAX_BODY = 65536
#: The SIGTERM test's batching window: requests wait in it until the signal ends it.
STOP_WINDOW_S = 30


@pytest.fixture(scope="module")
def quaternions() -> np.ndarray:
    """The poses of ``--poses random:200:5``: (200, 4) float64 (w, x, y, z)."""
    return random_quaternions(POSES, SEED)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """What ``gpu_render.build --format npy`` writes for the cube and the object: (N, S, S, 3) uint8."""
    root = tmp_path_factory.mktemp("serve-builds")
    builds = {
        "cube": ["--poses", f"random:{POSES}:{SEED}"],
        OBJECT: ["--object", OBJECT, "--poses", f"random:{OBJECT_POSES}:{SEED}"],
    }
    with ThreadPoolExecutor(len(builds)) as pool:  # two builds side by side
        runs = {
            name: pool.submit(
                run_module,
                "gpu_render.build",
                *args,
                "--sizes",
                str(SIZE),
                "--format",
                "npy",
                "--workers",
                "1",
                "--out",
                root / name,
            )
            for name, args in builds.items()
        }
    for _name, run in runs.items():
        assert run.result().code == 0, run.result().err
    return {name: np.load(root / name / f"images_{SIZE}.npy") for name in builds}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Server]]:
    """Two servers, started side by side: "main" (a token, small limits) for most tests, and
    "stop" for the SIGTERM test, whose batching window (STOP_WINDOW_S) keeps requests in flight."""
    started = {
        "main": launch(
            "--window-ms",
            "10",
            "--max-body-bytes",
            str(MAX_BODY),
            "--max-poses",
            "64",
            "--max-size",
            "256",
            token=TOKEN,
        ),
        "stop": launch("--window-ms", str(int(STOP_WINDOW_S * 1000))),
    }
    try:
        yield {name: wait_ready(s) for name, s in started.items()}
    finally:
        codes = {name: s.stop() for name, s in started.items()}
    assert codes["main"] == 0


@pytest.fixture(scope="module")
def server(servers: dict[str, Server]) -> Server:
    return servers["main"]


def test_concurrent_clients_get_the_builds_bytes_in_fewer_draws(
    server: Server, quaternions: np.ndarray, built: dict[str, np.ndarray]
) -> None:
    before = httpx.get(server.url + "/metrics", headers=server.headers()).text
    client = RenderClient(server.url, token=TOKEN)

    def one_client(c: int) -> list[int]:
        wrong = []
        for j in range(PER_CLIENT):
            i = c * PER_CLIENT + j
            image = client.render(quaternions[i : i + 1], size=SIZE)
            if (
                image.shape != (1, SIZE, SIZE, 3)
                or image.dtype != np.uint8
                or image[0].tobytes() != built["cube"][i].tobytes()
            ):
                wrong.append(i)
        return wrong

    with ThreadPoolExecutor(CLIENTS) as pool:
        wrong = [i for w in pool.map(one_client, range(CLIENTS)) for i in w]
    assert wrong == []
    after = httpx.get(server.url + "/metrics", headers=server.headers()).text
    requests = metric(after, "gpu_render_requests_total", endpoint="/render", status="200") - metric(
        before, "gpu_render_requests_total", endpoint="/render", status="200"
    )
    draws = metric(after, "gpu_render_draws_total") - metric(before, "gpu_render_draws_total")
    assert requests == CLIENTS * PER_CLIENT
    assert 0 < draws < requests, (draws, requests)
    assert metric(after, "gpu_render_request_seconds_count") >= requests
    assert metric(after, "gpu_render_batch_poses_count") == metric(after, "gpu_render_draws_total")


def test_object_exact_in_the_builds_tiles_and_close_in_others(server: Server, built: dict[str, np.ndarray]) -> None:
    q = random_quaternions(OBJECT_POSES, SEED)
    client = RenderClient(server.url, token=TOKEN)
    # One request of all poses: pose i lands in tile i, as in the build (batch 512 >= 8).
    whole = client.render(q, size=SIZE, object=OBJECT)
    assert whole.tobytes() == built[OBJECT].tobytes()
    # Shifted by other poses ahead of them, every pose lands one tile past the build's.
    shifted = client.render(np.concatenate([random_quaternions(1, 99), q]), size=SIZE, object=OBJECT)[1:]
    # One pose per request, concurrently: merged into draws where a pose may land in another tile.
    with ThreadPoolExecutor(OBJECT_POSES) as pool:
        singles = np.stack(
            list(pool.map(lambda i: client.render(q[i : i + 1], size=SIZE, object=OBJECT)[0], range(OBJECT_POSES)))
        )
    for images in (shifted, singles):
        for i, image in enumerate(images):
            want = built[OBJECT][i]
            assert np.mean(np.all(image == want, axis=-1)) >= PIXEL_AGREEMENT, i
            assert np.abs(image.astype(int) - want).max() <= OBJECT_MAX_DIFF, i


BAD = {
    "malformed JSON": (b'{"quaternions": [[1, 0, 0, 0]', 400, None),
    "NaN quaternion": (b'{"quaternions": [[NaN, 0, 0, 1]]}', 422, None),
    "non-unit quaternion": (json.dumps({"quaternions": [[1, 0, 0, 0.1]]}).encode(), 422, None),
    "non-orthonormal matrix": (json.dumps({"matrices": [[[1, 0, 0], [0, 1, 0], [0, 0, 2]]]}).encode(), 422, None),
    "reflection matrix": (json.dumps({"matrices": [[[1, 0, 0], [0, 1, 0], [0, 0, -1]]]}).encode(), 422, None),
    "unknown object": (json.dumps({"object": "teapot", "quaternions": [[1, 0, 0, 0]]}).encode(), 422, None),
    "mesh file": (json.dumps({"object": "mesh:/etc/passwd", "quaternions": [[1, 0, 0, 0]]}).encode(), 422, "mesh"),
    "too many poses": (json.dumps({"quaternions": [[1, 0, 0, 0]] * 65}).encode(), 413, "max_poses"),
    "too large": (json.dumps({"quaternions": [[1, 0, 0, 0]], "size": 257}).encode(), 422, "max_size"),
    "body too large": (json.dumps({"quaternions": [[1, 0, 0, 0]] * 6000}).encode(), 413, "max_body_bytes"),
    "png of two poses": (json.dumps({"quaternions": [[1, 0, 0, 0]] * 2, "format": "png"}).encode(), 422, None),
}


def test_bad_input_is_refused_while_others_are_served(
    server: Server, quaternions: np.ndarray, built: dict[str, np.ndarray]
) -> None:
    client = RenderClient(server.url, token=TOKEN)
    stop = threading.Event()
    served: list[bool] = []

    def keep_rendering() -> None:
        i = 0
        while not stop.is_set() or i < 5:
            served.append(client.render(quaternions[i : i + 1], size=SIZE)[0].tobytes() == built["cube"][i].tobytes())
            i = (i + 1) % POSES

    good = threading.Thread(target=keep_rendering)
    good.start()
    try:
        for what, (body, status, limit) in BAD.items():
            r = httpx.post(
                server.url + "/render", content=body, headers={**server.headers(), "content-type": "application/json"}
            )
            assert r.status_code == status, (what, r.status_code, r.text)
            error = r.json()
            assert isinstance(error["error"], str) and error["error"], what
            if limit == "mesh":
                assert "mesh files are not served" in error["error"], error
            elif limit:
                assert error["limit"] == limit and limit in error["error"], (what, error)
        with pytest.raises(RenderError) as refused:
            client.render([[1, 0, 0, 0]] * 65, size=SIZE)
        assert refused.value.status == 413 and refused.value.limit == "max_poses"
    finally:
        stop.set()
        good.join(60)
    assert len(served) >= 5 and all(served)
    assert server.process.poll() is None
    text = httpx.get(server.url + "/metrics", headers=server.headers()).text
    assert metric(text, "gpu_render_requests_total", endpoint="/render", status="500") == 0


def test_token_is_required(server: Server) -> None:
    body = {"quaternions": [[1, 0, 0, 0]], "size": SIZE}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        for method, path in (("POST", "/render"), ("GET", "/metrics"), ("GET", "/objects")):
            r = httpx.request(method, server.url + path, json=body if method == "POST" else None, headers=headers)
            assert r.status_code == 401, (headers, path)
            assert "token" in r.json()["error"]
    ok = httpx.post(server.url + "/render", json=body, headers=server.headers())
    assert ok.status_code == 200 and np.load(io.BytesIO(ok.content)).shape == (1, SIZE, SIZE, 3)


def test_start_up_says_where_it_serves(server: Server) -> None:
    lines = [line for line in server.log_text().splitlines() if "serving on" in line]
    assert len(lines) == 1 and f"serving on {server.url} (" in lines[0] and f"{server.url}/docs" in lines[0]


def test_bad_options_end_in_one_line(server: Server) -> None:
    """Another address without a token, and a port in use: exit 2, one line, nothing served."""
    r = run_module("gpu_render.serve", "--host", "0.0.0.0", "--port", "1")
    assert r.code == 2
    assert "--token" in r.one_line_error()
    port = server.url.rsplit(":", 1)[1]
    r = run_module("gpu_render.serve", "--port", port)
    assert r.code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in r.one_line_error()


def test_sigterm_answers_requests_in_flight_then_exits_0(
    servers: dict[str, Server], quaternions: np.ndarray, built: dict[str, np.ndarray]
) -> None:
    # A 30 s batching window keeps the requests in flight, however slowly they arrive, until the
    # signal comes: the shutdown ends the window, draws them and answers them.
    s = servers["stop"]
    render_pid = httpx.get(s.url + "/healthz").json()["render_pid"]
    client = RenderClient(s.url)
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            futures = [pool.submit(client.render, quaternions[i : i + 1], size=SIZE) for i in range(CLIENTS)]
            deadline = time.monotonic() + 20
            while metric(httpx.get(s.url + "/metrics").text, "gpu_render_requests_in_flight") < CLIENTS:
                assert time.monotonic() < deadline, "the requests never arrived"
                time.sleep(0.01)
            s.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            images = [f.result(timeout=2 * STOP_WINDOW_S) for f in futures]
            assert time.monotonic() - signalled < STOP_WINDOW_S / 3, "the shutdown did not end the batching window"
        assert s.process.wait(30) == 0, s.log_text()
    finally:
        s.stop()
    assert not Path(f"/proc/{render_pid}").exists(), "the render process outlived the server"
    assert [im[0].tobytes() for im in images] == [built["cube"][i].tobytes() for i in range(CLIENTS)]
    with pytest.raises(httpx.TransportError):
        httpx.get(s.url + "/healthz", timeout=2)


def test_quaternions_and_matrices_draw_the_same(
    server: Server, quaternions: np.ndarray, built: dict[str, np.ndarray]
) -> None:
    from gpu_render.rotations.quaternion import quaternion_to_matrix

    client = RenderClient(server.url, token=TOKEN)
    by_matrix = client.render(matrices=quaternion_to_matrix(quaternions[:4]), size=SIZE)
    assert by_matrix.tobytes() == built["cube"][:4].tobytes()
