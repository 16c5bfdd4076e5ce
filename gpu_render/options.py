"""Build options: parsing and validation, with one-line errors for bad input."""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError
from .poses import clpr_pose_count

FORMATS = ("jpg", "png", "npy")
MIN_SIZE, MAX_SIZE = 8, 4096
DEFAULT_SIZES = (32, 64, 128, 256)
DEFAULT_BATCH = 1024
#: More poses than this would not fit in memory as labels: refuse rather than thrash.
MAX_POSES = 50_000_000


@dataclass(frozen=True)
class BuildOptions:
    """Everything one build is asked to do.

    step: grid step, radians. sizes: image sides, px, ascending. format: jpg, png or npy.
    out: output folder. limit: build only the first ``limit`` poses (None: all).
    batch: poses per chunk; a chunk is rendered, encoded and recorded as one unit.
    device: EGL device index. antialias: MSAA instead of 2018's aliased look.
    workers: encoder threads. overwrite: replace an existing dataset of other options.
    """

    step: float = 0.1
    sizes: tuple[int, ...] = DEFAULT_SIZES
    format: str = "jpg"
    out: Path = Path("clpr")
    limit: int | None = None
    batch: int = DEFAULT_BATCH
    device: int = 0
    antialias: bool = False
    workers: int = 1
    overwrite: bool = False

    @property
    def grid_poses(self) -> int:
        """Poses in the whole grid for ``step``."""
        return clpr_pose_count(self.step)

    @property
    def pose_count(self) -> int:
        """Poses this build writes: the grid, cut to ``limit``."""
        total = self.grid_poses
        return total if self.limit is None else min(self.limit, total)

    def dataset_signature(self) -> dict[str, Any]:
        """The options that decide the dataset's bytes; a resume must match them exactly."""
        return {
            "poses": "clpr",
            "step": self.step,
            "pose_count": self.pose_count,
            "sizes": list(self.sizes),
            "format": self.format,
            "antialias": self.antialias,
            "batch": self.batch,
        }

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["out"] = str(self.out)
        d["sizes"] = list(self.sizes)
        return d


class _Parser(argparse.ArgumentParser):
    """argparse, but every error is one line and raises UsageError instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _step(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    count = clpr_pose_count(value)
    if count > MAX_POSES:
        raise argparse.ArgumentTypeError(
            f"{text} gives {count} poses; at most {MAX_POSES} are supported"
        )
    return value


def _sizes(text: str) -> tuple[int, ...]:
    sizes = []
    for part in text.split(","):
        part = part.strip()
        try:
            size = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"takes integers separated by commas, got {part!r}") from None
        if not MIN_SIZE <= size <= MAX_SIZE:
            raise argparse.ArgumentTypeError(f"image size {size} is outside {MIN_SIZE}..{MAX_SIZE}")
        if size in sizes:
            raise argparse.ArgumentTypeError(f"image size {size} is given twice")
        sizes.append(size)
    return tuple(sorted(sizes))


def _at_least(low: int):
    def parse(text: str) -> int:  # argparse names the option in its message
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m gpu_render.build",
        description="Render the cLPR dataset (images + N x 8 x 6 labels) on the GPU.",
    )
    p.add_argument("--step", type=_step, default=0.1, help="grid step in radians (default 0.1: 250047 poses)")
    p.add_argument("--sizes", type=_sizes, default=DEFAULT_SIZES, help="image sizes, px (default 32,64,128,256)")
    p.add_argument("--format", choices=FORMATS, default="jpg", help="jpg (quality 100, 4:4:4), png or npy")
    p.add_argument("--out", type=Path, default=Path("clpr"), help="output folder (default ./clpr)")
    p.add_argument("--limit", type=_at_least(1), default=None, help="build only the first N poses")
    p.add_argument("--batch", type=_at_least(1), default=DEFAULT_BATCH, help="poses per chunk (default 1024)")
    p.add_argument("--device", type=_at_least(0), default=0, help="EGL device index (default 0)")
    p.add_argument("--antialias", action="store_true", help="MSAA instead of the aliased 2018 look")
    p.add_argument(
        "--workers", type=_at_least(1), default=os.cpu_count() or 1, help="encoder threads (default: cores)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace a dataset in OUT built with other options")
    return p


def parse_build_args(argv: list[str] | None = None) -> BuildOptions:
    """Parse command-line arguments; raises UsageError with a one-line message."""
    ns = build_parser().parse_args(argv)
    return BuildOptions(
        step=ns.step,
        sizes=ns.sizes,
        format=ns.format,
        out=ns.out,
        limit=ns.limit,
        batch=ns.batch,
        device=ns.device,
        antialias=ns.antialias,
        workers=ns.workers,
        overwrite=ns.overwrite,
    )
