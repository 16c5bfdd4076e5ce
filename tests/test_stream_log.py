"""The stream's first batch says how far it got: logger ``gpu_render.stream``, INFO, with timings."""

from __future__ import annotations

import logging
import os
import re

import pytest

from gpu_render.stream import RenderStream

SECONDS = r"(\d+\.\d\d) s"


def stream_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "gpu_render.stream" and r.levelno == logging.INFO]


def test_first_batch_logs_its_progress_with_timings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gpu_render.stream")
    pid = os.getpid()
    with RenderStream("cylO", "random:12:5", 16, batch=8) as stream:
        images, _ = stream.render_chunk(0)
        lines = stream_lines(caplog)
        patterns = [
            rf"pid {pid}: first batch \(chunk 0 of random:12:5\): starting",
            rf"pid {pid}: 12 rotations of random:12:5 ready in {SECONDS}",
            rf"pid {pid}: scene built: 8 poses planned and labelled \({SECONDS} so far\)",
            rf"pid {pid}: OpenGL context made on device 0 \(.+\) in {SECONDS}",
            rf"pid {pid}: renderer built for cylO at 16 px, 8 poses a draw, in {SECONDS}",
            rf"pid {pid}: first batch rendered: 8 images of 16 px in {SECONDS} \({SECONDS} in all\)",
        ]
        assert len(lines) == len(patterns), lines
        for line, pattern in zip(lines, patterns, strict=False):
            assert re.fullmatch(pattern, line), (line, pattern)
        total = float(re.search(r"\((\d+\.\d\d) s in all\)", lines[-1]).group(1))
        steps = [float(m.group(1)) for line in lines[1:5] for m in [re.search(SECONDS, line)]]
        assert all(0 <= s <= total + 0.01 for s in steps)
        assert images.shape == (8, 16, 16, 3)

        caplog.clear()
        stream.render_chunk(1)  # later batches are quiet
        assert stream_lines(caplog) == []


def test_infinite_source_logs_without_a_rotation_list(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gpu_render.stream")
    with RenderStream("clpr-cube", "random:inf:3", 16, batch=4) as stream:
        next(stream)
    lines = stream_lines(caplog)
    assert len(lines) == 5, lines
    assert "first batch (chunk 0 of random:inf:3): starting" in lines[0]
    assert "scene built: 4 poses" in lines[1] and "OpenGL context made" in lines[2]
    assert "renderer built for clpr-cube at 16 px, 4 poses a draw" in lines[3]
    assert "first batch rendered: 4 images of 16 px" in lines[-1]
    assert not any("rotations of" in line for line in lines)


def test_nothing_logged_below_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gpu_render.stream")
    with RenderStream("clpr-cube", "random:inf:3", 16, batch=4) as stream:
        next(stream)
    assert [r for r in caplog.records if r.name == "gpu_render.stream"] == []
