"""The tools in tools/ run and produce what they claim."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from gpu_render.dataset.layouts.modelnet import MODELNET10_CATEGORIES
from tests.conftest import REPO


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

    out, scratch = tmp_path / "bench.json", tmp_path / "scratch"
    scratch.mkdir()
    p = _tool(
        "bench.py",
        "--step",
        "1.5",
        "--sizes",
        "16,32",
        "--repeat",
        "2",
        "--batch",
        "40",
        "--json",
        out,
        "--tmp",
        scratch,
    )
    assert p.returncode == 0, p.stderr
    assert list(scratch.iterdir()) == []  # every run's output is gone once the bench ends
    report = json.loads(out.read_text())
    stages = set(report["results"])
    assert {
        "labels",
        "render 16",
        "render 32",
        "encode jpg",
        "encode png",
        "floor (Pillow)",
        "write jpg",
        "build jpg",
        "ratio build/floor",
    } <= stages
    assert report["poses"] == 125 and report["sizes"] == [16, 32]
    build = report["results"]["build jpg"]
    assert build["peak_rss_mib"] > 0 and len(build["runs"]) == len(build["cpu_runs"]) == 2
    assert build["cpu_seconds"] > 0
    assert all(r["seconds"] > 0 for name, r in report["results"].items() if name != "ratio build/floor")
    assert report["renderer"] and report["date"] and report["command"].startswith("bench.py")


def test_so3_coverage_ranks_the_sources(tmp_path: Path) -> None:
    import json

    out, table = tmp_path / "cov.png", tmp_path / "cov.json"
    p = _tool(
        "so3_coverage.py", "--sources", "clpr,so3-grid:1,random:2000:1", "--step", "0.5", "--out", out, "--json", table
    )
    assert p.returncode == 0, p.stderr
    rows = {r["source"]: r for r in json.loads(table.read_text())}
    grid, rand, euler = rows["so3-grid:1"], rows["random:2000:1"], rows["clpr --step 0.5"]
    assert grid["count"] == 576 and rand["count"] == 2000 and euler["count"] == 2197
    assert grid["near_duplicates"] == 0
    assert grid["nn_max_deg"] / grid["nn_min_deg"] < 1.5 < euler["nn_max_deg"] / euler["nn_min_deg"]
    assert euler["density_p99"] > 2 * grid["density_p99"]  # the Euler grid crowds near gimbal lock
    assert rand["haar_ks"] < euler["haar_ks"]
    assert "| `so3-grid:1` | 576 |" in p.stdout
    img = Image.open(out)
    assert img.size[0] > 500 and img.size[1] > 3 * 180


def test_so3_coverage_bad_source(tmp_path: Path) -> None:
    p = _tool("so3_coverage.py", "--sources", "nonsense", "--out", tmp_path / "x.png")
    assert p.returncode == 2 and "unknown pose source" in p.stderr


def test_bench_readback_paths_agree_and_report(tmp_path: Path) -> None:
    """The readback bench reads the same pixels every way (it exits 1 otherwise) and reports each
    path against rgb (a smoke test: it asserts what ran, never how fast)."""
    import json

    out = tmp_path / "readback.json"
    p = _tool("bench_readback.py", "--sizes", "16,32", "--poses", "150", "--ring", "2", "--repeat", "2", "--json", out)
    assert p.returncode == 0, p.stderr
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"16", "32"} and report["poses"] == 150 and report["ring"] == 2
    for paths in report["results"].values():
        assert set(paths) == {"rgb", "rgba", "pbo"}
        assert paths["rgb"]["ratio_to_rgb"] == 1.0
        assert all(r["poses_per_s"] > 0 and len(r["runs_s"]) == 2 for r in paths.values())


def test_bench_readback_bad_input() -> None:
    p = _tool("bench_readback.py", "--ring", "0")
    assert p.returncode == 2 and "must be positive" in p.stderr


def _gpu_check(results: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """tools/gpu_check.sh on this interpreter as it is (no venv, no install), in QUICK mode."""
    import os

    full_env = {k: v for k, v in os.environ.items() if k not in ("ALLOW_ANY_RENDERER", "STEPS", "WORKERS")}
    full_env.update(GPU_CHECK_PYTHON=sys.executable, QUICK="1", **env)
    return subprocess.run(
        ["bash", str(REPO / "tools" / "gpu_check.sh"), str(results)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_gpu_check_probe_stops_unless_the_renderer_is_nvidia(tmp_path: Path) -> None:
    """tools/gpu_check.sh measures GPU figures only: on any renderer but NVIDIA's (llvmpipe on a
    CPU-only machine) the probe stops it with a message naming the renderer, before any step
    runs; on an NVIDIA GPU it goes on to the steps."""
    p = _gpu_check(tmp_path / "res", STEPS="readback")
    renderer = (tmp_path / "res" / "renderer.txt").read_text().strip()
    log = (tmp_path / "res" / "gpu-check.log").read_text()
    assert renderer and f"GL_RENDERER: {renderer}" in log
    assert "commit: " in (tmp_path / "res" / "machine.txt").read_text()
    if "NVIDIA" in renderer:
        assert p.returncode == 0 and "== readback: exit 0" in log, p.stdout + p.stderr
        return
    assert p.returncode == 1, p.stdout + p.stderr
    assert f"stopping: GL_RENDERER '{renderer}' is not an NVIDIA GPU" in p.stdout
    assert "ALLOW_ANY_RENDERER=1" in p.stdout
    assert "== readback" not in log and not (tmp_path / "res" / "readback.json").exists()


def test_gpu_check_runs_its_steps_into_the_results_folder(tmp_path: Path) -> None:
    """With ALLOW_ANY_RENDERER=1 the script goes on past the probe on llvmpipe: the readback step
    runs under its timeout and its JSON, the log and the step table land in the results folder."""
    import json

    res = tmp_path / "res"
    p = _gpu_check(res, STEPS="readback", ALLOW_ANY_RENDERER="1")
    assert p.returncode == 0, p.stdout + p.stderr
    log = (res / "gpu-check.log").read_text()
    assert "== readback: exit 0" in log
    assert "done: every step passed" in p.stdout
    assert (res / "steps.tsv").read_text().split("\t")[:2] == ["readback", "0"]
    report = json.loads((res / "readback.json").read_text())
    assert set(report["results"]) == {"64", "256"} and report["poses"] == 256
    assert {f.name for f in res.iterdir()} == {
        "gpu-check.log",
        "machine.txt",
        "renderer.txt",
        "steps.tsv",
        "readback.json",
    }


def test_gpu_check_bad_input_is_one_line_and_keeps_results(tmp_path: Path) -> None:
    """An unknown step, or a results folder that already holds files, is refused with one line and
    exit 2, and nothing already there is touched."""
    p = _gpu_check(tmp_path / "a", STEPS="readback nonsense")
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [
        "gpu_check.sh: unknown step 'nonsense' in STEPS (steps: readback tests builds wds symsol stream serve scene)"
    ]
    assert not (tmp_path / "a").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "readback.json").write_text("earlier results")
    p = _gpu_check(kept, STEPS="readback", ALLOW_ANY_RENDERER="1")
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "already holds files" in p.stderr
    assert [f.name for f in kept.iterdir()] == ["readback.json"]
    assert (kept / "readback.json").read_text() == "earlier results"


def test_demo_modelnet_tree_writes_the_tree_and_help_writes_nothing(tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, str(REPO / "tools" / "demo_modelnet_tree.py"), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0 and "usage:" in p.stdout and list(tmp_path.iterdir()) == []
    p = _tool("demo_modelnet_tree.py", tmp_path / "tree")
    assert p.returncode == 0, p.stderr
    offs = sorted(f.relative_to(tmp_path / "tree").as_posix() for f in (tmp_path / "tree").rglob("*.off"))
    assert len(offs) == 30 and "chair/test/chair_0003.off" in offs and "bed/train/bed_0001.off" in offs
    assert {o.split("/")[0] for o in offs} == set(MODELNET10_CATEGORIES)  # the build's default runs on it
    (tmp_path / "file").write_text("x")
    p = _tool("demo_modelnet_tree.py", tmp_path / "file")
    assert p.returncode == 2 and "is not a folder" in p.stderr and "Traceback" not in p.stderr


def test_bench_ab_alternates_sides_and_reports_medians(tmp_path: Path) -> None:
    """The A/B bench builds with each checkout in turn and reports both sides' medians (a smoke
    test: it asserts what ran, never how fast)."""
    import json

    out, scratch = tmp_path / "ab.json", tmp_path / "scratch"
    scratch.mkdir()
    build = ["--object", "cube", "--poses", "random:6", "--sizes", "16", "--format", "npy", "--workers", "1"]
    p = _tool("bench_ab.py", "--a", REPO, "--b", REPO, "--runs", "2", "--tmp", scratch, "--json", out, "--", *build)
    assert p.returncode == 0, p.stderr
    assert [line.split(":")[0] for line in p.stdout.splitlines() if line.startswith("run ")] == [
        "run 1 a",
        "run 1 b",
        "run 2 b",
        "run 2 a",
    ]
    assert list(scratch.iterdir()) == []  # every build's OUT is gone once the bench ends
    report = json.loads(out.read_text())
    assert report["build_args"] == build
    for name in ("a", "b"):
        assert len(report[name]["walls_s"]) == len(report[name]["cpus_s"]) == 2
        assert report[name]["wall_median_s"] > 0 and report[name]["cpu_median_s"] > 0
    assert report["ratio_wall"] > 0 and report["ratio_cpu"] > 0


def test_bench_ab_names_a_failed_build(tmp_path: Path) -> None:
    p = _tool("bench_ab.py", "--a", REPO, "--b", REPO, "--runs", "1", "--", "--sizes", "7")
    assert p.returncode == 1 and "the build with" in p.stderr and "failed (2)" in p.stderr
