"""Shared fixtures. GL tests share one headless context and check for GL errors after each test.

There is no skipping: on a machine without OpenGL the context fixture errors, loudly.
"""

from __future__ import annotations

import os
import sys
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

sys.path.insert(0, str(Path(__file__).resolve().parent))


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
