"""tools/bench.py --mode scene runs and writes what it claims (smoke tests: never how fast)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import REPO


def _bench(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "tools" / "bench.py"), "--mode", "scene", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_scene_mode_our_side_writes_the_json(tmp_path: Path) -> None:
    out, images, scratch = tmp_path / "scene.json", tmp_path / "images", tmp_path / "scratch"
    scratch.mkdir()
    p = _bench(
        "--no-pyrender",
        "--objects",
        "icosa,mesh20k",
        "--scene-size",
        "32",
        "--poses",
        "5",
        "--scene-batch",
        "3",
        "--repeat",
        "2",
        "--images",
        images,
        "--tmp",
        scratch,
        "--json",
        out,
    )
    assert p.returncode == 0, p.stderr
    assert list(scratch.iterdir()) == []  # the generated mesh and the poses are gone
    report = json.loads(out.read_text())
    assert {
        "date",
        "machine",
        "renderer",
        "command",
        "size",
        "poses",
        "batch",
        "repeat",
        "target_ratio",
        "pyrender",
        "results",
    } <= set(report)
    assert report["size"] == 32 and report["poses"] == 5 and report["batch"] == 3 and report["pyrender"] is None
    assert report["command"].startswith("bench.py --mode scene")
    assert set(report["results"]) == {"icosa", "mesh20k"}
    assert report["results"]["icosa"]["triangles"] == 20
    assert report["results"]["mesh20k"]["triangles"] == 20480
    for entry in report["results"].values():
        assert entry["msaa_samples"] > 0  # the default look is antialiased
        assert len(entry["ours"]["runs"]) == 2 and entry["ours"]["poses_per_s"] > 0
        assert set(entry["ours_breakdown_seconds"]) == {"clear", "draw", "resolve", "readback"}
        assert "pyrender" not in entry and "ratio" not in entry
    for name in ("icosa", "mesh20k"):
        img = np.asarray(Image.open(images / f"{name}-ours.png"))
        assert img.shape == (32, 32, 3) and img.max() > 0 and img[0, 0].max() == 0  # an object, on black


def test_scene_mode_without_pyrender_says_so_and_exits_2(tmp_path: Path) -> None:
    """A pyrender that is not installed (shadowed here by a module that raises as a missing one does)."""
    missing = "raise ModuleNotFoundError(\"No module named 'pyrender'\", name='pyrender')\n"
    (tmp_path / "pyrender.py").write_text(missing)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    p = _bench(
        "--objects",
        "icosa",
        "--scene-size",
        "16",
        "--poses",
        "2",
        "--repeat",
        "1",
        "--json",
        tmp_path / "x.json",
        env=env,
    )
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert lines == [
        "bench: this needs pyrender: pip install 'gpu_render[bench]'; run with --no-pyrender to time our side alone"
    ]
    assert not (tmp_path / "x.json").exists()
