"""The service against its own OpenAPI document, with schemathesis (property-based, bounded in
examples): requests made from the document alone render real images, every answer matches what
the document says (status, media type, JSON schema), and none is a 5xx. Also: the /docs page,
rendered by headless Chromium with no network, lists the operations (its Swagger UI comes
from the package, not from a CDN)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis.generation.modes import GenerationMode

from tests.serving import Server, launch, metric, wait_ready
from tests.textured_meshes import write_photos

#: The server's limits, small so that every valid request renders in milliseconds.
MAX_SIZE, MAX_POSES = 32, 4
#: Generated requests per run (schema-valid, then schema-violating, then per other operation): bounded, for CI.
RENDER_EXAMPLES = 100
NEGATIVE_EXAMPLES = 50
OTHER_EXAMPLES = 5
#: What a schema-valid request may still be refused for: the rules JSON Schema cannot state,
#: which the document gives in words (unit norm, rotation matrices, a light of length 0 in float64).
#: The looks' ranges: [LO, HI] with LO <= HI, a standard deviation >= 0 (each field's description says so).
WORDS_ONLY = re.compile(
    r"has norm .*, not 1|is not a rotation|^light |is empty: LO must not exceed HI|standard deviation"
)
#: At least this many of the generated requests must be drawn (the examples alone give 3).
MIN_IMAGES = 10
#: The operations the /docs page must list once Swagger UI has run.
OPERATIONS = ("/render", "/objects", "/healthz", "/metrics")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    photos = tmp_path_factory.mktemp("schema-photos")  # requests may ask for backgrounds: true
    write_photos(photos, [(40, 30), (16, 20)])
    args = ["--max-size", str(MAX_SIZE), "--max-poses", str(MAX_POSES), "--window-ms", "0", "--backgrounds", photos]
    s = wait_ready(launch(*map(str, args)))
    try:
        yield s
    finally:
        assert s.stop() == 0


def image_count(content_type: str, content: bytes, size: int) -> int:
    """How many (size x size) RGB images a 200 answer holds; fails on anything else."""
    if content_type == "application/x-npy":
        images = np.load(io.BytesIO(content), allow_pickle=False)
        assert images.dtype == np.uint8 and images.shape[1:] == (size, size, 3), images.shape
        return len(images)
    if content_type == "application/x-npz":
        with np.load(io.BytesIO(content), allow_pickle=False) as npz:
            images = npz["images"]
            assert len(npz["index"]) == len(images), npz.files
        assert images.dtype == np.uint8 and images.shape[1:] == (size, size, 3), images.shape
        return len(images)
    image = Image.open(io.BytesIO(content))
    assert image.format in ("PNG", "JPEG") and image.size == (size, size), (image.format, image.size)
    return 1


def test_schema_driven_requests_render_images_and_never_fail(server: Server) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    render = schema["/render"]["POST"]
    statuses: Counter[int] = Counter()
    drawn: list[int] = []
    refused: list[str] = []
    positive = st.one_of(*render.get_strategies_from_examples(), render.as_strategy())

    # The unit norm cannot be said in JSON Schema: a schema-valid quaternion of another norm is
    # refused (422), as its description says, so schemathesis' "valid data is accepted" check is
    # replaced by the WORDS_ONLY assertion below. Every other check runs.
    @settings(
        max_examples=RENDER_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=positive)
    def valid(case: schemathesis.Case) -> None:
        response = case.call(timeout=30)
        statuses[response.status_code] += 1
        case.validate_response(response, excluded_checks=[schemathesis.checks.positive_data_acceptance])
        if response.status_code == 200:
            body = case.body
            drawn.append(image_count(response.headers["content-type"][0], response.content, body.get("size", 64)))
            assert drawn[-1] == len(body.get("quaternions") or body.get("matrices"))
        else:
            assert response.status_code == 422, (case.body, response.status_code, response.text)
            refused.append(response.json()["error"])

    valid()
    assert sum(statuses.values()) >= RENDER_EXAMPLES // 2, statuses
    assert len(drawn) == statuses[200] >= MIN_IMAGES, statuses
    unstated = [e for e in refused if not WORDS_ONLY.search(e)]
    assert unstated == [], unstated  # a refusal for a rule the schema does not state

    @settings(
        max_examples=NEGATIVE_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=render.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    def invalid(case: schemathesis.Case) -> None:
        response = case.call(timeout=30)
        statuses[response.status_code] += 1
        case.validate_response(response)  # schema-violating requests are refused, as documented, with JSON
        assert 400 <= response.status_code < 500 and response.json()["error"], (case.body, response.text)

    invalid()
    renders = dict(statuses)
    for path, method in (("/objects", "GET"), ("/healthz", "GET"), ("/metrics", "GET")):
        operation = schema[path][method]

        @settings(
            max_examples=OTHER_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def other(case: schemathesis.Case) -> None:
            response = case.call(timeout=30)
            statuses[response.status_code] += 1
            case.validate_response(response)
            assert response.status_code == 200, response.text

        other()
    fives = sum(n for status, n in statuses.items() if status >= 500)
    assert fives == 0, statuses
    text = httpx.get(server.url + "/metrics").text  # the server's own count agrees: no 500 at all
    assert metric(text, "gpu_render_requests_total", endpoint="/render", status="500") == 0
    print(
        f"\nschemathesis: {sum(statuses.values())} requests, 5xx: {fives}; POST /render: {len(drawn)} answered 200 "
        f"({sum(drawn)} images), statuses {dict(sorted(renders.items()))}"
    )


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    assert found, "headless Chromium is needed for this test: apt-get install chromium (tools/install_system_deps.sh)"
    return found


def test_docs_page_lists_the_operations_with_no_network(server: Server) -> None:
    """The /docs page was blank offline (Swagger UI came from a CDN). Chromium renders it with
    every host but 127.0.0.1 unresolvable: the operations appear, so nothing else was needed."""
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--virtual-time-budget=15000",
                "--dump-dom",
                server.url + "/docs",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,  # its exit status says nothing of the page
        ).stdout
    assert "swagger-ui" in dom, dom[:500]
    for path in OPERATIONS:
        assert f'data-path="{path}"' in dom, (path, dom[:2000])
    assert "render_render_post" in dom  # an operation's id, as Swagger UI writes it
