"""What the benchmark tools share: the Pillow floor, a timer, and what a report records of the
machine and the code measured."""

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
from PIL import Image

from gpu_render.dataset.atomic import atomic_write_bytes


def pillow_floor(image: np.ndarray) -> bytes:
    """The floor every JPEG target is measured against: single-thread Pillow, quality 100, 4:4:4."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=100, subsampling=0)
    return buf.getvalue()


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def cpu_model() -> str:
    """lscpu's model name, and the core count."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or platform.machine()
    return f"{model}, {os.cpu_count()} cores"


def code_version() -> str:
    """The commit measured, with ``+changes`` when the package or the shaders differ from it."""
    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "gpu_render", "shaders"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def report_head(renderer: str, command: str) -> dict[str, str]:
    """What every benchmark report opens with: the date, this machine, the GL renderer and the
    command that made it."""
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores",
        "renderer": renderer,
        "command": command,
    }


def write_report(path: Path | None, report: dict) -> None:
    """Write ``report`` as indented JSON to ``path`` (temporary name, then rename); None: nowhere."""
    if path is None:
        return
    atomic_write_bytes(path, (json.dumps(report, indent=2) + "\n").encode())
    print(f"wrote {path}")
