"""The helper tools in tools/ run and produce what they claim."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import REPO


def _tool(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "tools" / name), *map(str, args)], capture_output=True, text=True)


def test_contact_sheet(tmp_path: Path) -> None:
    out = tmp_path / "sheet.png"
    p = _tool("contact_sheet.py", "--out", out, "--count", "10", "--columns", "4", "--size", "32", "--step", "0.5")
    assert p.returncode == 0, p.stderr
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (3 * 34 + 2, 4 * 34 + 2, 3)
    first = img[2:34, 2:34]
    assert tuple(first[16, 16]) == (255, 0, 255)  # pose 0: face 4 seen head-on
    assert (img[0] == 255).all()  # the gap
    empty = img[2 + 2 * 34 : 2 + 2 * 34 + 32, 2 + 2 * 34 : 2 + 2 * 34 + 32]  # slot 11 of 10: unused
    assert (empty == 255).all()


def test_contact_sheet_bad_input(tmp_path: Path) -> None:
    p = _tool("contact_sheet.py", "--out", tmp_path / "x.png", "--size", "2")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_bench_runs_every_stage_and_writes_json(tmp_path: Path) -> None:
    """The benchmark tool works end to end (a smoke test: it asserts what ran, never how fast)."""
    import json

    out = tmp_path / "bench.json"
    p = _tool("bench.py", "--step", "1.5", "--sizes", "16,32", "--repeat", "1", "--batch", "40", "--json", out)
    assert p.returncode == 0, p.stderr
    report = json.loads(out.read_text())
    stages = set(report["results"])
    assert {"labels", "render 16", "render 32", "encode jpg", "encode png", "floor (Pillow)", "write jpg",
            "build jpg", "ratio build/floor"} <= stages
    assert report["poses"] == 125 and report["sizes"] == [16, 32]
    assert report["results"]["build jpg"]["peak_rss_mib"] > 0
    assert all(r["seconds"] > 0 for name, r in report["results"].items() if name != "ratio build/floor")
    assert report["renderer"] and report["date"] and report["command"].startswith("bench.py")
