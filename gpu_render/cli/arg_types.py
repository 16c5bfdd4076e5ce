"""argparse types shared by the commands: each turns one option's text into a value, or
raises with a one-line message that argparse prefixes with the option's name."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any, NoReturn

from gpu_render.cli.commands import prog_name, version_line
from gpu_render.errors import UsageError
from gpu_render.rotations.euler import ANGLE_STOP
from gpu_render.rotations.sources import MAX_POSES, PoseSource, parse_source

MIN_SIZE, MAX_SIZE = 8, 4096


class Parser(argparse.ArgumentParser):
    """argparse, but every error is one line and raises UsageError instead of exiting.

    module: a command's module (``gpu_render.build``): its usage line then names the command as
    it was started (:func:`~gpu_render.cli.commands.prog_name`), and ``--version`` prints
    ``gpu_render X.Y.Z``.
    """

    def __init__(self, *args: Any, module: str | None = None, **kwargs: Any) -> None:
        if module is not None:
            kwargs.setdefault("prog", prog_name(module))
        super().__init__(*args, **kwargs)
        if module is not None:
            self.add_argument(
                "--version", action="version", version=version_line(), help="print gpu_render's version and exit"
            )

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def grid_pose_count(step: float) -> int:
    """Poses of the cLPR grid for ``step`` > 0, counted without allocating anything.

    Equals ``len(numpy.arange(0, ANGLE_STOP, step)) ** 3``: numpy's length is
    ``ceil((stop - start) / step)``, computed in float64, and at least 1 here. A quotient
    too large for a float64 gives a count no int64 holds, returned as 2**192.
    """
    per_axis = ANGLE_STOP / step
    if not math.isfinite(per_axis):
        return 2**192
    return max(1, math.ceil(per_axis)) ** 3


def step_type(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    count = grid_pose_count(value)  # arithmetic: a tiny step must not allocate its grid to be refused
    if count > MAX_POSES:
        if count >= 2**63:
            per_axis = ANGLE_STOP / value
            axis = f"{per_axis:.3g}" if math.isfinite(per_axis) else "over 1.8e+308"
            shown = f"{axis} angles per axis: more poses than an int64 holds"
        else:
            shown = f"{count} poses"
        raise argparse.ArgumentTypeError(f"{text} gives {shown}; at most {MAX_POSES} poses are supported")
    return value


def sizes_type(text: str) -> tuple[int, ...]:
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


def at_least(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low`` (and <= ``high`` when given)."""

    def parse(text: str) -> int:  # argparse names the option in its message
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {value}")
        return value

    return parse


def shard_type(text: str) -> tuple[int, int]:
    k, sep, n = text.partition("/")
    try:
        shard, count = int(k), int(n)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes K/N, e.g. 0/4, got {text!r}") from None
    if not sep or count < 1 or not 0 <= shard < count:
        raise argparse.ArgumentTypeError(f"takes K/N with 0 <= K < N, got {text!r}")
    return shard, count


def fraction_type(text: str) -> float:
    """A number in [0, 1), e.g. ``--val-fraction``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text!r}") from None
    if not (math.isfinite(value) and 0 <= value < 1):
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return value + 0.0  # -0.0 is 0


def source_arg(text: str, step: float | None, infinite: bool = False) -> PoseSource:
    """``--poses`` and ``--step`` as a PoseSource; raises UsageError.

    infinite: accept ``random:inf[:SEED]`` (the streaming dataset; never a build).
    """
    try:
        source = parse_source(text, step, infinite)
    except ValueError as exc:
        raise UsageError(f"argument --poses: {exc}") from None
    if not source.infinite and source.size() > MAX_POSES:
        raise UsageError(f"argument --poses: {text} gives {source.size()} poses; at most {MAX_POSES} are supported")
    return source
