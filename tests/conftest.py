"""Shared fixtures. GL tests share one headless context and check for GL errors after each test.

There is no skipping: on a machine without OpenGL the context fixture errors, loudly.

Tiers: ``pytest -m quick`` runs the modules of QUICK_MODULES, which test in this process (no
command started as a process, no server, window or wheel) and take under a minute together;
``pytest`` runs everything.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import moderngl
import numpy as np
import pytest

from gpu_render.render.context import Headless

REPO = Path(__file__).resolve().parent.parent
#: The 2018 sample (docs/CLPR.md, "Fixture"), kept in the repository; CLPR_FIXTURE points elsewhere.
FIXTURE = Path(os.environ.get("CLPR_FIXTURE", REPO / "tests" / "fixtures" / "clpr-original"))
ARTIFACTS = Path(os.environ.get("GPU_RENDER_TEST_ARTIFACTS", REPO / "test-artifacts"))

#: The in-process tier, marked ``quick``: test modules by name.
QUICK_MODULES = frozenset(
    {
        "test_arcball",
        "test_bop_gt",
        "test_conventions",
        "test_encode",
        "test_labels",
        "test_layering",
        "test_mesh_files",
        "test_object_labels",
        "test_preview_clock",
        "test_render_parity",
        "test_scene_objects",
        "test_scene_reference",
        "test_scene_render",
        "test_scene_spec",
        "test_serve_app",
        "test_shaders",
        "test_stream_log",
        "test_symmetry",
        "test_viewpoint",
        "test_writer",
    }
)
#: The small cube build that resume and fault tests compare their builds against.
REFERENCE_ARGS = ("--step", "0.5", "--sizes", "32,64,96", "--batch", "64")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of QUICK_MODULES ``quick``; a name there that is no test module is an error."""
    missing = sorted(name for name in QUICK_MODULES if not (REPO / "tests" / f"{name}.py").is_file())
    if missing:
        raise pytest.UsageError(f"QUICK_MODULES in tests/conftest.py names no test module: {', '.join(missing)}")
    for item in items:
        if item.path.stem in QUICK_MODULES:
            item.add_marker(pytest.mark.quick)


@pytest.fixture(scope="session")
def reference_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Uninterrupted ``--format jpg`` and ``npy`` builds of REFERENCE_ARGS with one encoder, made
    once per session: {format: OUT}. Tests read them and never write into them."""
    from tests.cli import run_module

    outs = {}
    for fmt in ("jpg", "npy"):
        out = tmp_path_factory.mktemp("reference") / fmt
        r = run_module("gpu_render.build", *REFERENCE_ARGS, "--format", fmt, "--workers", "1", "--out", out)
        assert r.code == 0, r.err
        outs[fmt] = out
    return outs


@pytest.fixture(scope="session")
def headless() -> Iterator[Headless]:
    with Headless() as h:
        yield h


@pytest.fixture
def ctx(headless: Headless) -> Iterator[moderngl.Context]:
    """The shared context; after each test, no GL error may be pending."""
    _ = headless.ctx.error  # clear anything a previous failure left
    yield headless.ctx
    assert headless.ctx.error == "GL_NO_ERROR"


@pytest.fixture(scope="session")
def fixture_dir() -> Path:
    assert FIXTURE.is_dir(), f"the 2018 fixture is missing: {FIXTURE}"
    return FIXTURE


@pytest.fixture(scope="session")
def fixture_labels(fixture_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.load(fixture_dir / "labels.npz")
    return data["pose_index"], data["labels"]
