"""The service's app in this process (FastAPI's TestClient): the OpenAPI page, the render-time
limit, png/jpg answers, /objects and /healthz. Concurrency, the token and SIGTERM are tested
against a real server in test_serve.py."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from gpu_render.client import RenderClient, RenderError
from gpu_render.dataset.encode import ENCODERS
from gpu_render.rotations.sources import random_quaternions
from gpu_render.scene.solids import BUILTIN_OBJECTS
from gpu_render.serve.app import RENDER_TIME_STATUS, create_app
from gpu_render.serve.config import ServeOptions
from gpu_render.serve.models import RenderRequest

with warnings.catch_warnings():  # starlette's notice about httpx; the test client works as documented
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SIZE = 32


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(ServeOptions())) as c:
        yield c


def test_openapi_describes_every_request_field(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schema = spec["components"]["schemas"]["RenderRequest"]
    assert set(schema["properties"]) == set(RenderRequest.model_fields)
    undocumented = [name for name, field in schema["properties"].items() if len(field.get("description", "")) < 10]
    assert undocumented == []
    paths = spec["paths"]
    assert {"/render", "/objects", "/healthz", "/metrics"} <= set(paths)
    assert "requestBody" in paths["/render"]["post"]
    # The refusals' JSON too (it was undescribed; 422 showed FastAPI's own, which the service never sends).
    error = spec["components"]["schemas"]["ErrorResponse"]["properties"]
    assert set(error) == {"error", "limit", "allowed", "got", "detail"}
    assert all(len(field.get("description", "")) >= 10 for field in error.values())
    answers = paths["/render"]["post"]["responses"]
    for status in ("400", "401", "408", "413", "415", "422", "500", "503"):
        assert answers[status]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse"), status
    # What a schema-driven client needs (it could never make a valid request): exactly one of the
    # rotations, the server's limits, the unit norm in words; /metrics is text, not JSON.
    assert schema["oneOf"] == [{"required": ["quaternions"]}, {"required": ["matrices"]}]
    fields = schema["properties"]
    assert fields["quaternions"]["maxItems"] == fields["matrices"]["maxItems"] == ServeOptions().max_poses
    assert fields["quaternions"]["minItems"] == 1 and "null" not in str(fields["quaternions"])
    assert fields["size"]["maximum"] == ServeOptions().max_size and fields["size"]["minimum"] == 8
    assert "must be 1 within" in fields["quaternions"]["description"]
    assert (
        fields["quaternions"]["items"]["items"]["maximum"] == fields["matrices"]["items"]["items"]["items"]["maximum"]
    )
    assert all(example["size"] <= ServeOptions().max_size for example in schema["examples"])
    assert list(paths["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
    assert client.get("/metrics").headers["content-type"].startswith("text/plain")


def test_png_and_jpg_are_the_npy_image_encoded_as_the_build_encodes(client: TestClient) -> None:
    q = random_quaternions(1, 3).tolist()
    for obj in ("clpr-cube", "tetX"):
        raw = client.post("/render", json={"object": obj, "quaternions": q, "size": SIZE})
        assert raw.status_code == 200 and raw.headers["content-type"] == "application/x-npy"
        images = np.load(io.BytesIO(raw.content), allow_pickle=False)
        assert raw.content == _npy(images)  # streamed as a header and the pixels: exactly np.save's bytes
        image = images[0]
        for fmt, media in (("png", "image/png"), ("jpg", "image/jpeg")):
            r = client.post("/render", json={"object": obj, "quaternions": q, "size": SIZE, "format": fmt})
            assert r.status_code == 200 and r.headers["content-type"] == media
            assert r.content == ENCODERS[fmt](image)
        assert np.array_equal(
            np.asarray(
                Image.open(
                    io.BytesIO(
                        client.post(
                            "/render", json={"object": obj, "quaternions": q, "size": SIZE, "format": "png"}
                        ).content
                    )
                )
            ),
            image,
        )


def test_objects_and_healthz(client: TestClient) -> None:
    objects = client.get("/objects").json()
    assert objects["objects"] == ["clpr-cube", *BUILTIN_OBJECTS]
    assert objects["limits"]["max_poses"] == ServeOptions().max_poses
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["renderer"]
    head = client.head("/healthz")  # as load balancers probe
    assert head.status_code == 200 and head.content == b""


def test_look_options_change_the_image_and_are_checked(client: TestClient) -> None:
    q = random_quaternions(1, 4).tolist()
    base = {"object": "cylO", "quaternions": q, "size": SIZE}
    plain = client.post("/render", json=base).content
    red = client.post("/render", json={**base, "background": [255, 0, 0]})
    assert red.status_code == 200 and red.content != plain
    corner = np.load(io.BytesIO(red.content))[0, 0, 0]
    assert corner.tolist() == [255, 0, 0]
    for bad in ({"fov": 0.5}, {"distance": 1.0}, {"light": [0, 0, 0]}, {"color": [256, 0, 0]}, {"extra": 1}):
        r = client.post("/render", json={**base, **bad})
        assert r.status_code == 422, bad
        assert r.json()["error"], bad


def test_render_time_limit_is_a_4xx_naming_it() -> None:
    options = ServeOptions(max_render_seconds=1e-4, window_s=0.05)
    with TestClient(create_app(options)) as c:
        r = c.post("/render", json={"quaternions": [[1, 0, 0, 0]], "size": SIZE})
        assert r.status_code == RENDER_TIME_STATUS
        assert r.json()["limit"] == "max_render_seconds" and "max_render_seconds" in r.json()["error"]
        assert c.get("/healthz").status_code == 200


def test_batching_off_draws_each_request_alone() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from tests.serving import metric

    with TestClient(create_app(ServeOptions(batching=False))) as c:
        q = random_quaternions(6, 9).tolist()
        with ThreadPoolExecutor(6) as pool:
            codes = list(
                pool.map(lambda i: c.post("/render", json={"quaternions": [q[i]], "size": SIZE}).status_code, range(6))
            )
        assert codes == [200] * 6
        text = c.get("/metrics").text
        assert metric(text, "gpu_render_draws_total") == 6
        assert metric(text, "gpu_render_batch_requests_sum") == 6


# -- fuzzing: no body, however odd, gets a 500 --------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

#: Numbers, those of hundreds of digits among them (a 309-digit size raised OverflowError: a 500).
NUMBERS = st.one_of(
    st.integers(-300, 300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.5, 1, 0]),
    st.integers(10**300, 10**400),
    st.integers(-(10**400), -(10**300)),
)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=12,
)
FIELDS = {
    "object": st.one_of(st.sampled_from(["clpr-cube", "cylO", "tetX", "sphereX", "mesh:x.off", "", "CYLO"]), JSON),
    "quaternions": st.one_of(
        st.lists(st.lists(NUMBERS, min_size=3, max_size=5), max_size=3),
        st.just([[1, 0, 0, 0]]),
        st.just([[0.5, 0.5, 0.5, 0.5]]),
        JSON,
    ),
    "matrices": st.one_of(
        st.just([[[1, 0, 0], [0, 1, 0], [0, 0, 1]]]),
        st.lists(st.lists(st.lists(NUMBERS, max_size=4), max_size=4), max_size=2),
        JSON,
    ),
    "size": st.one_of(st.integers(-5, 80), st.just(8), JSON),
    "format": st.one_of(st.sampled_from(["npy", "png", "jpg", "gif"]), JSON),
    "fov": st.one_of(NUMBERS, JSON),
    "distance": st.one_of(NUMBERS, JSON),
    "light": st.one_of(st.lists(NUMBERS, min_size=3, max_size=3), JSON),
    "color": st.one_of(st.lists(st.integers(-2, 260), min_size=3, max_size=3), JSON),
    "background": st.one_of(st.lists(st.integers(-2, 260), min_size=3, max_size=3), JSON),
    "antialias": st.one_of(st.booleans(), JSON),
    "grayscale": st.one_of(st.booleans(), JSON),
    "bogus": JSON,
}
BODIES = st.one_of(
    st.fixed_dictionaries({}, optional=FIELDS).map(lambda d: json_bytes(d)),
    JSON.map(lambda d: json_bytes(d)),
    st.binary(max_size=40),
)


def json_bytes(value: object) -> bytes:
    import json

    return json.dumps(value).encode()  # NaN and Infinity are written as such, as some clients do


@pytest.fixture(scope="module")
def small_client() -> Iterator[TestClient]:
    """A service whose limits keep every valid render tiny (48 px, 4 poses)."""
    with TestClient(create_app(ServeOptions(max_size=48, max_poses=4, max_body_bytes=4096))) as c:
        yield c


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES)
def test_no_body_gets_a_500(small_client: TestClient, body: bytes) -> None:
    r = small_client.post("/render", content=body, headers={"content-type": "application/json"})
    if r.status_code == 200:
        images = np.load(io.BytesIO(r.content)) if r.headers["content-type"] == "application/x-npy" else None
        assert images is None or (images.dtype == np.uint8 and images.ndim == 4 and images.shape[-1] == 3)
    else:
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
        assert isinstance(r.json()["error"], str) and r.json()["error"]


def test_a_light_the_renderer_cannot_normalise_is_a_422_not_a_500(small_client: TestClient) -> None:
    """[1e-200, 0, 0] passes "not zero" but its squared length underflows to 0 in float64 (the
    render process failed: 500); [1e200] * 3 overflows to inf (silently unlit)."""
    base = {"object": "cylO", "quaternions": [[1, 0, 0, 0]], "size": 8}
    for light in ([0, 0, 1e-200], [-1e-300, 1e-300, 0], [1e200, 1e200, 1e200], [0, 0, 0]):
        r = small_client.post("/render", json={**base, "light": light})
        assert r.status_code == 422, (light, r.status_code, r.text)
        assert "light" in r.json()["error"], light
    assert small_client.post("/render", json={**base, "light": [1e-100, 0, 0]}).status_code == 200


def test_scalars_are_not_coerced_from_strings_or_booleans(small_client: TestClient) -> None:
    """true is not the number 1, "16" is not the integer 16, and "yes" is not true."""
    q = [[1, 0, 0, 0]]
    for body in (
        {"quaternions": [[True, False, False, False]]},
        {"quaternions": [["1", 0, 0, 0]]},
        {"quaternions": q, "size": "16"},
        {"quaternions": q, "size": True},
        {"quaternions": q, "antialias": "yes"},
        {"quaternions": q, "antialias": 1},
        {"object": "cylO", "quaternions": q, "color": [True, 0, 0]},
        {"object": "cylO", "quaternions": q, "fov": "40"},
        {"matrices": [[[True, 0, 0], [0, 1, 0], [0, 0, 1]]]},
    ):
        r = small_client.post("/render", json={"size": 8, **body})
        assert r.status_code == 422, (body, r.status_code)
        assert r.json()["error"], body
    ok = small_client.post(
        "/render",
        json={
            "object": "cylO",
            "quaternions": [[1.0, 0, 0, 0]],
            "size": 8,
            "fov": 40,
            "light": [1, 2.5, 3],
            "antialias": False,
        },
    )
    assert ok.status_code == 200, ok.text


def test_bodies_that_are_not_json_get_messages_naming_the_problem(small_client: TestClient) -> None:
    """Valid JSON sent as text/plain (or as curl -d sends it, form-encoded) was refused with
    "Input should be a valid dictionary"; an empty body with "Field required"."""
    body = b'{"quaternions": [[1, 0, 0, 0]], "size": 8}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        r = small_client.post("/render", content=body, headers={"content-type": content_type})
        assert r.status_code == 415 and "Content-Type: application/json" in r.json()["error"], r.text
    r = small_client.post("/render", content=b"", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "empty" in r.json()["error"], r.text
    for junk in (b'{"object": "\xff\xfe"}', b'{"quaternions": ' + b"[" * 2000 + b"]" * 2000 + b"}"):
        r = small_client.post("/render", content=junk, headers={"content-type": "application/json"})
        assert r.status_code == 400 and "not valid JSON" in r.json()["error"], r.text
    ok = small_client.post("/render", content=body, headers={"content-type": "application/json; charset=utf-8"})
    assert ok.status_code == 200


def test_the_bearer_scheme_is_case_insensitive_and_the_token_is_not() -> None:
    """RFC 7235: "bearer T" is "Bearer T" (was a 401); the token itself must match exactly."""
    from gpu_render.serve.guard import Guard, Receive, Scope, Send
    from gpu_render.serve.metrics import Metrics

    async def ok(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    c = TestClient(Guard(ok, "s3cret", 1024, Metrics()))
    for header in ("Bearer s3cret", "bearer s3cret", "BEARER s3cret", "Bearer  s3cret"):
        assert c.get("/healthz", headers={"Authorization": header}).status_code == 200, header
    for header in ("Bearer S3CRET", "Bearer s3cre", "Basic s3cret", "s3cret", "Bearers3cret", "Bearer", ""):
        r = c.get("/healthz", headers={"Authorization": header})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", header


@pytest.mark.parametrize(
    "args, message",
    [
        (["--token", "two words"], "argument --token: must be printable ASCII"),
        (["--token", " padded "], "argument --token: must be printable ASCII"),
        (["--token", "caf\u00e9"], "argument --token: must be printable ASCII"),
        (["--token", "a\nb"], "argument --token: must be printable ASCII"),
        (["--max-size", "5000"], "argument --max-size: must be at most 4096"),
        (["--max-inflight-bytes", "1000000"], "argument --max-inflight-bytes: must be at least 67108992"),
        (["--header-timeout", "0"], "argument --header-timeout: must be a positive number"),
        (["--backgrounds", "/nonexistent-photographs"], "--backgrounds /nonexistent-photographs: no such folder"),
    ],
)
def test_options_the_service_could_not_honour_end_in_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A token no HTTP client can send (it started, and refused every request); a max size past
    the build's 4096 (it started, and drew what the GL allowed; past GL_MAX_TEXTURE_SIZE, a 500)."""
    from gpu_render.serve.__main__ import main

    assert main(["--port", "0", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gpu_render.serve: error: ") and message in err, err


def _client_answered(answer: httpx.Response) -> RenderClient:
    client = RenderClient("http://service")
    client._http = httpx.Client(base_url="http://service", transport=httpx.MockTransport(lambda request: answer))
    return client


def test_client_raises_render_error_with_the_servers_message_for_any_bad_answer() -> None:
    """A JSON error that is not an object raised AttributeError; a 200 that is not .npy (a
    proxy's page, a JSON answer, nothing) raised numpy's ValueError or EOFError."""

    cases = {
        "limit": (httpx.Response(413, json={"error": "too many", "limit": "max_poses"}), 413, "too many"),
        "dead": (httpx.Response(503, json={"error": "the render process has died"}), 503, "render process"),
        "list": (httpx.Response(400, json=["no"]), 400, "no"),
        "proxy": (httpx.Response(502, text="<html> Bad gateway </html>"), 502, "Bad gateway"),
        "html 200": (httpx.Response(200, text="<html>captive portal</html>"), 200, "not .npy"),
        "json 200": (httpx.Response(200, json={"images": []}), 200, "not .npy"),
        "empty 200": (httpx.Response(200, content=b""), 200, "not .npy"),
        "floats 200": (httpx.Response(200, content=_npy(np.zeros((1, 8, 8, 3)))), 200, "uint8"),
    }
    for name, (answer, status, message) in cases.items():
        with pytest.raises(RenderError) as raised:
            _client_answered(answer).render([[1, 0, 0, 0]], size=8)
        assert raised.value.status == status and message in str(raised.value), (name, str(raised.value))
        assert raised.value.limit == ("max_poses" if name == "limit" else None), name


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def test_client_sends_numpy_values_and_refuses_what_it_cannot_send(small_client: TestClient) -> None:
    """np.int64 sizes and numpy look options raised json's TypeError; format="png" was sent and
    the PNG parsed as .npy; a non-ASCII token raised UnicodeEncodeError at the first request."""

    client = RenderClient("http://testserver")
    client._http = small_client
    images = client.render(
        np.array([[1.0, 0, 0, 0]]),
        size=np.int64(8),
        object="cylO",
        color=np.array([255, 0, 0]),
        fov=np.float32(40),
        antialias=np.bool_(False),
    )
    assert images.shape == (1, 8, 8, 3) and images.dtype == np.uint8
    with pytest.raises(TypeError, match="format"):
        client.render([[1, 0, 0, 0]], size=8, format="png")
    with pytest.raises(ValueError, match="token"):
        RenderClient("http://testserver", token="caf\u00e9")


def test_client_retries_a_503_after_the_seconds_it_says() -> None:
    """503 with Retry-After (the server's answer bytes are spent, or its render process restarts):
    sent again up to ``retries`` times; without Retry-After, or past them, RenderError."""
    answers = [
        httpx.Response(503, json={"error": "busy", "limit": "max_inflight_bytes"}, headers={"retry-after": "0"}),
        httpx.Response(503, json={"error": "busy"}, headers={"retry-after": "0.01"}),
        httpx.Response(200, content=_npy(np.zeros((1, 8, 8, 3), np.uint8))),
    ]
    sent: list[int] = []

    def serve(request: httpx.Request) -> httpx.Response:
        sent.append(1)
        return answers[len(sent) - 1]

    client = RenderClient("http://service", retries=2)
    client._http = httpx.Client(base_url="http://service", transport=httpx.MockTransport(serve))
    assert client.render([[1, 0, 0, 0]], size=8).shape == (1, 8, 8, 3) and len(sent) == 3
    sent.clear()
    client.retries = 1
    with pytest.raises(RenderError) as refused:
        client.render([[1, 0, 0, 0]], size=8)
    assert refused.value.status == 503 and len(sent) == 2
    sent.clear()
    answers[0] = httpx.Response(503, json={"error": "the render process has died"})  # no Retry-After: final
    client.retries = 3
    with pytest.raises(RenderError):
        client.render([[1, 0, 0, 0]], size=8)
    assert len(sent) == 1


def test_null_rotations_are_refused_as_the_schema_says(small_client: TestClient) -> None:
    """The document says exactly one of quaternions and matrices, with no null: a null beside
    the other was accepted, so a schema-valid reading and the server disagreed."""
    identity = [[[1, 0, 0], [0, 1, 0], [0, 0, 1]]]
    r = small_client.post("/render", json={"quaternions": None, "matrices": identity, "size": 8})
    assert r.status_code == 422 and r.json()["error"].startswith("quaternions: must be a list"), r.text
    assert small_client.post("/render", json={"matrices": identity, "size": 8}).status_code == 200
    r = small_client.post("/render", json={"quaternions": [[1, 0, 0, 0]], "matrices": identity, "size": 8})
    assert r.status_code == 422 and "exactly one" in r.json()["error"]


def test_a_fault_in_a_handler_is_a_json_500(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception (a bug, not bad input) was uvicorn's text "Internal Server Error"."""
    from gpu_render.serve.scenes import SceneCache

    def broken(self: SceneCache, req: RenderRequest) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(SceneCache, "scene", broken)
    with TestClient(create_app(ServeOptions()), raise_server_exceptions=False) as c:
        r = c.post("/render", json={"quaternions": [[1, 0, 0, 0]], "size": 8})
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert r.json() == {"error": "internal error: KeyError"}


def test_a_draw_the_memory_cannot_hold_is_503_with_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """The render process's buffer is checked against the memory the machine has (here capped by
    GPU_RENDER_MEMORY_LIMIT): a draw past it is refused with 503 JSON and Retry-After, not a 500,
    and a smaller draw is served afterwards."""
    from gpu_render import memory

    monkeypatch.setenv(memory.LIMIT_ENV, "40M")  # 32 MiB usable: 3 poses at 2048 px (36 MiB) do not fit
    with TestClient(create_app(ServeOptions(max_size=2048))) as c:
        body = {"quaternions": [[1.0, 0.0, 0.0, 0.0]] * 3, "size": 2048}
        r = c.post("/render", json=body)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "1"
        assert r.json()["error"].startswith("not enough memory for this render now")
        small = c.post("/render", json={"quaternions": [[1.0, 0.0, 0.0, 0.0]], "size": 64})
        assert small.status_code == 200 and len(small.content) > 64 * 64 * 3
