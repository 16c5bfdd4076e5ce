"""Pixel comparison helpers for parity tests: named tolerances and diff images on failure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

#: A pixel agrees when no channel differs by more than this (spec: "How close").
CHANNEL_TOLERANCE = 8


def agreement(a: np.ndarray, b: np.ndarray, tolerance: int = CHANNEL_TOLERANCE) -> np.ndarray:
    """Fraction of agreeing pixels per image. a, b: (..., S, S, 3) uint8. Returns (...) float64."""
    assert a.shape == b.shape, (a.shape, b.shape)
    close = (np.abs(a.astype(np.int16) - b.astype(np.int16)) <= tolerance).all(axis=-1)
    return close.mean(axis=(-2, -1))


def save_diff(name: str, a: np.ndarray, b: np.ndarray, tolerance: int = CHANNEL_TOLERANCE) -> Path:
    """Write a, b and a red mask of disagreeing pixels side by side; return the PNG's path."""
    from tests.conftest import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    bad = (np.abs(a.astype(np.int16) - b.astype(np.int16)) > tolerance).any(axis=-1)
    mask = np.zeros_like(a)
    mask[bad] = (255, 0, 0)
    path = ARTIFACTS / f"{name}.png"
    Image.fromarray(np.concatenate([a, b, mask], axis=1)).save(path)
    return path


def assert_agree(name: str, got: np.ndarray, want: np.ndarray, each: float, median: float | None = None) -> None:
    """Every image agrees on >= ``each`` of its pixels (and the median on >= ``median``).

    got, want: (N, S, S, 3) uint8. On failure, saves a diff image of the worst pose.
    """
    scores = agreement(got, want)
    worst = int(np.argmin(scores))
    ok = scores.min() >= each and (median is None or np.median(scores) >= median)
    if not ok:
        path = save_diff(f"{name}-worst-{worst}", got[worst], want[worst])
        raise AssertionError(
            f"{name}: pixel agreement min {scores.min():.5f} (pose {worst}), median {np.median(scores):.5f}; "
            f"wanted each >= {each}" + (f", median >= {median}" if median is not None else "") + f"; diff: {path}"
        )
