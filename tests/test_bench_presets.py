"""tools/bench_presets.py runs end to end (a smoke test: it asserts what ran, never how fast)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_bench_presets_measures_build_and_floor(tmp_path: Path) -> None:
    out, scratch = tmp_path / "bench.json", tmp_path / "scratch"
    scratch.mkdir()
    p = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "bench_presets.py"),
            "--views",
            "3,1",
            "--shapes",
            "cube,cylO",
            "--size",
            "32",
            "--repeat",
            "1",
            "--workers",
            "1",
            "--tmp",
            str(scratch),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    assert list(scratch.iterdir()) == []
    report = json.loads(out.read_text())
    assert report["images"] == 8 and report["size"] == 32
    results = report["results"]
    assert {"render", "encode png", "floor", "build", "ratio build/floor"} <= set(results)
    assert all(
        results[k]["seconds"] > 0 and len(results[k]["runs"]) == 1 for k in ("render", "encode png", "floor", "build")
    )
    ratio = results["ratio build/floor"]
    assert abs(ratio["value"] - results["build"]["seconds"] / results["floor"]["seconds"]) < 1e-9
    assert ratio["target"] == 0.6 and ratio["met"] == (ratio["value"] <= 0.6)
    assert results["build"]["cpu_seconds"] > 0 and report["command"].startswith("tools/bench_presets.py")
