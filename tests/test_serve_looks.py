"""The richer looks over HTTP (docs/SERVE.md, docs/LOOKS.md): random point lights, the specular
term and the server's own photographs, drawn per image from (look_seed, index), so an answer is
byte for byte what :class:`gpu_render.Renderer` draws for the same options; the choices come back
in an npz answer's labels; bad values are 4xx JSON."""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gpu_render.client import RenderClient
from gpu_render.renderer import Renderer
from gpu_render.rotations.sources import random_quaternions
from gpu_render.serve.app import create_app
from gpu_render.serve.config import ServeOptions
from tests.pixels import save_diff
from tests.textured_meshes import write_photos

with warnings.catch_warnings():  # starlette's notice about httpx; the test client works as documented
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SIZE, POSES, OBJECT = 32, 4, "cylO"
#: Every choice drawn per image: several lights, a specular term, photographs for most images.
LOOK = {
    "lights": "render4cnn",
    "light_count": [1, 4],
    "specular": 0.3,
    "background_ratio": 0.75,
    "look_seed": 7,
}
#: A request drawn in other atlas tiles than the Renderer's may differ in a few pixels (llvmpipe
#: interpolates from absolute window position): at least this share must be equal, none off by more.
PIXEL_AGREEMENT, MAX_DIFF = 0.99, 8


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("serve-photos")
    write_photos(folder, [(48, 40), (20, 24), (64, 64)])
    return folder


@pytest.fixture(scope="module")
def client(photos: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ServeOptions(backgrounds=str(photos), window_s=0.0))) as c:
        yield c


@pytest.fixture(scope="module")
def rendered(photos: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """What Renderer draws for the same poses and options (images 0..N-1)."""
    with Renderer(
        OBJECT,
        SIZE,
        lights={"count": (1, 4)},
        specular=0.3,
        backgrounds=str(photos),
        background_ratio=0.75,
        look_seed=7,
    ) as r:
        return r.render(random_quaternions(POSES, 3))


def post(client: TestClient, **fields: object) -> tuple[int, bytes, dict[str, object]]:
    body = {"object": OBJECT, "size": SIZE, "quaternions": random_quaternions(POSES, 3).tolist(), **LOOK, **fields}
    r = client.post("/render", content=json.dumps(body), headers={"Content-Type": "application/json"})
    return r.status_code, r.content, r.json() if r.headers["content-type"] == "application/json" else {}


def test_an_answer_is_the_renderers_bytes_and_labels(
    client: TestClient, rendered: tuple[np.ndarray, dict[str, np.ndarray]]
) -> None:
    want, labels = rendered
    assert len(set(labels["background_file"])) > 1 and labels["light_count"].max() > 1  # the choices vary
    status, content, _ = post(client, format="npz", backgrounds=True)
    assert status == 200
    got = np.load(io.BytesIO(content), allow_pickle=False)
    if got["images"].tobytes() != want.tobytes():
        save_diff("serve-looks", got["images"][0], want[0], 0)
    assert got["images"].tobytes() == want.tobytes()
    assert got["index"].tolist() == list(range(POSES))
    for key in (
        "light_positions",
        "light_energies",
        "light_count",
        "ambient",
        "background_file",
        "background_grey",
        f"background_crop_{SIZE}",
    ):
        np.testing.assert_array_equal(got[key], labels[key], err_msg=key)
    status, content, _ = post(client, backgrounds=True)  # npy: the same images
    assert status == 200 and np.load(io.BytesIO(content)).tobytes() == want.tobytes()


def test_first_index_draws_the_builds_later_images(
    client: TestClient, rendered: tuple[np.ndarray, dict[str, np.ndarray]]
) -> None:
    want, labels = rendered
    q = random_quaternions(POSES, 3)[2:]
    status, content, _ = post(client, format="npz", backgrounds=True, quaternions=q.tolist(), first_index=2)
    assert status == 200
    got = np.load(io.BytesIO(content), allow_pickle=False)
    assert got["index"].tolist() == [2, 3]
    np.testing.assert_array_equal(got["light_positions"], labels["light_positions"][2:])
    np.testing.assert_array_equal(got["background_file"], labels["background_file"][2:])
    images = got["images"]
    same = np.mean(np.all(images == want[2:], axis=-1), axis=(1, 2))
    assert same.min() >= PIXEL_AGREEMENT, same
    assert np.abs(images.astype(int) - want[2:]).max() <= MAX_DIFF
    other = post(client, format="npy", backgrounds=True, look_seed=8)
    assert other[0] == 200 and np.load(io.BytesIO(other[1])).tobytes() != want.tobytes()  # the seed matters


def test_the_client_returns_the_images_and_their_labels(
    client: TestClient, rendered: tuple[np.ndarray, dict[str, np.ndarray]]
) -> None:
    want, labels = rendered
    remote = RenderClient("http://testserver")
    remote._http = client  # the app in this process (TestClient is an httpx.Client)
    look = {**LOOK, "light_count": np.array([1, 4])}  # numpy values are sent as JSON
    images, got = remote.render_labeled(
        random_quaternions(POSES, 3), size=SIZE, object=OBJECT, backgrounds=True, **look
    )
    assert images.tobytes() == want.tobytes()
    np.testing.assert_array_equal(got["light_energies"], labels["light_energies"])
    np.testing.assert_array_equal(got[f"background_crop_{SIZE}"], labels[f"background_crop_{SIZE}"])
    plain = remote.render(random_quaternions(POSES, 3), size=SIZE, object=OBJECT, backgrounds=True, **look)
    assert plain.tobytes() == want.tobytes()


BAD = {
    "empty range": ({"light_count": [5, 2]}, "light_count"),
    "too many lights": ({"light_count": [0, 17]}, "light_count"),
    "distance 0": ({"light_distance": [0, 5]}, "light_distance"),
    "ratio above 1": ({"background_ratio": 1.5}, "background_ratio"),
    "negative specular": ({"specular": -1}, "specular"),
    "negative std": ({"light_energy_normal": [2, -1]}, "light_energy_normal"),
    "both energies": ({"light_energy": [1, 2], "light_energy_normal": [2, 1]}, "light_energy"),
    "ratio without photographs": ({"backgrounds": None}, "background_ratio"),
    "directional with a count": ({"lights": "directional"}, "light_count"),
    "a path": ({"backgrounds": "/etc"}, "backgrounds"),
    "lights on the cube": ({"object": "clpr-cube"}, "lights"),
    "seed below 0": ({"look_seed": -1}, "look_seed"),
    "string seed": ({"look_seed": "7"}, "look_seed"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_look_values_are_4xx_json_naming_the_field(client: TestClient, name: str) -> None:
    fields, named = BAD[name]
    status, _, answer = post(client, **{"backgrounds": True, **fields})
    assert 400 <= status < 500, (status, answer)
    assert named in str(answer["error"]), answer


def test_a_server_without_photographs_refuses_backgrounds() -> None:
    with TestClient(create_app(ServeOptions())) as c:
        status, _, answer = post(c, backgrounds=True)
        assert status == 422 and "--backgrounds" in str(answer["error"]), answer
        request = c.get("/openapi.json").json()["components"]["schemas"]["RenderRequest"]
        assert request["properties"]["backgrounds"]["enum"] == [False, None]
        assert c.get("/objects").json()["backgrounds"] is False
