"""What ``python -m gpu_render.preview`` steps through: a pose source's rotations, or the rows
of a cLPR labels file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpu_render.errors import UsageError
from gpu_render.rotations.euler import clpr_angles, euler_to_matrix, matrix_to_euler
from gpu_render.rotations.sources import PoseSource, read_npy, row_matrices


@dataclass(frozen=True)
class PoseList:
    """What the preview steps through.

    matrix: (N, 3, 3) float64 row-vector rotations (q = p @ M); euler: (N, 3) their cLPR
    angles, radians, for the title. axis: poses per grid axis for a cLPR grid (Up/Down step
    n, PageUp/PageDown n^2); None otherwise (Up/Down step 10, PageUp/PageDown 100).
    name: "pose" or "row".
    """

    matrix: np.ndarray
    euler: np.ndarray
    axis: int | None
    name: str

    @staticmethod
    def from_source(source: PoseSource) -> PoseList:
        matrix, euler = row_matrices(source)
        if euler is None:
            euler = matrix_to_euler(matrix)
        axis = len(clpr_angles(source.step)) if source.kind == "clpr" else None
        return PoseList(matrix, euler, axis, "pose")

    @staticmethod
    def from_labels(path: Path) -> PoseList:
        euler = labels_euler(path)
        return PoseList(euler_to_matrix(euler), euler, None, "row")


def labels_euler(path: Path) -> np.ndarray:
    """The rotations of a cLPR labels file: ``labels[:, 0, 3:6]``, (N, 3) float64 radians.

    Raises UsageError (one line) unless ``path`` is a .npy of finite floats shaped (N, 8, 6).
    """
    name = f"--labels {path}"
    try:
        labels, _ = read_npy(path, name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if labels.ndim != 3 or labels.shape[1:] != (8, 6):
        raise UsageError(f"{name} has shape {labels.shape}, expected cLPR labels (N, 8, 6)")
    if not np.issubdtype(labels.dtype, np.floating):
        raise UsageError(f"{name} holds {labels.dtype}, expected floating-point labels")
    return labels[:, 0, 3:6].astype(np.float64)
