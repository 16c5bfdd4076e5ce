"""Seeded rotations uniform over SO(3), named by streams of integers. Pure functions.

Every stream of rotations is named by integers (the build's seed, then e.g. split and shape
indices), so a subset build (``--shapes``, ``--categories``) draws exactly the rotations that
the same shape or model gets in a full build.
"""

from __future__ import annotations

import numpy as np

from gpu_render.rotations.quaternion import quaternion_to_matrix


def uniform_rotations(count: int, seed: int, *stream: int) -> np.ndarray:
    """``count`` rotations uniform over SO(3) (Haar): normalised 4-D Gaussians.

    The generator is numpy's default, seeded with ``[seed, *stream]`` (a SeedSequence), so
    each stream is independent and reproducible. Returns (count, 3, 3) float64 column-vector
    rotations R, object frame to camera frame (SCENES.md: ``x_cam = R @ x_obj + t``).
    """
    if count < 0 or seed < 0 or any(s < 0 for s in stream):
        raise ValueError("count, seed and stream must be non-negative")
    q = np.random.default_rng([seed, *stream]).standard_normal((count, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q = np.where(q[:, :1] < 0, -q, q)
    return quaternion_to_matrix(q) if count else np.zeros((0, 3, 3))
