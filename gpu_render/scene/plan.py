"""Every pose of a build, in every representation the dataset stores. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpu_render.rotations.euler import matrix_to_euler
from gpu_render.rotations.quaternion import matrix_to_quaternion
from gpu_render.rotations.sources import PoseSource, row_matrices
from gpu_render.scene.clpr_labels import clpr_labels, face_visible, node_visible, posed_corners, translation


@dataclass(frozen=True)
class PosePlan:
    """The poses of one build.

    euler: (N, 3) float64 radians, cLPR (rx, ry, rz): the grid's own values for ``clpr``,
        the equivalent angles (:func:`matrix_to_euler`) for other sources.
    matrix: (N, 3, 3) float64, row-vector M (``q = p @ M``), what the renderers consume.
    translation: (N, 3) float64, canvas px, so that ``corners = NODES @ M + t``.
    corners: (N, 8, 3) float64, canvas px of the 256 canvas, y down (the label xyz).
    labels: (N, 8, 6) float64, the cLPR label array.
    """

    euler: np.ndarray
    matrix: np.ndarray
    translation: np.ndarray
    corners: np.ndarray
    labels: np.ndarray

    @staticmethod
    def from_source(source: PoseSource, count: int | None = None) -> PosePlan:
        """The first ``count`` poses of ``source`` (all when None)."""
        matrix, euler = row_matrices(source, count)
        return PosePlan.from_rows(matrix, euler)

    @staticmethod
    def from_rows(matrix: np.ndarray, euler: np.ndarray | None = None) -> PosePlan:
        """The poses of row-vector matrices M (N, 3, 3) float64, with their cLPR angles (N, 3)
        when known exactly (the grid's), else computed. Each pose's arrays depend on its own
        row alone, so a slice of a source gives the slice of its plan."""
        if euler is None:
            euler = matrix_to_euler(matrix)
        corners = posed_corners(matrix)
        return PosePlan(euler, matrix, translation(matrix), corners, clpr_labels(euler, corners))

    def __len__(self) -> int:
        return len(self.matrix)

    def rich_labels(self, sizes: tuple[int, ...]) -> dict[str, np.ndarray]:
        """The arrays of ``poses.npz``.

        quaternion (N, 4) w-first, w >= 0; matrix (N, 3, 3) column-vector R = M.T, cube frame to
        camera frame; euler_clpr (N, 3); keypoints_{size} (N, 8, 2) pixel x, y (y down);
        node_visible (N, 8) and face_visible (N, 6) bool, by the spec's -n.z > 10 rule.
        """
        r = np.ascontiguousarray(self.matrix.transpose(0, 2, 1))
        faces = face_visible(self.corners)
        out = {
            "quaternion": matrix_to_quaternion(r),
            "matrix": r,
            "euler_clpr": self.euler,
            "node_visible": node_visible(faces),
            "face_visible": faces,
        }
        for size in sizes:
            out[f"keypoints_{size}"] = keypoints(self.corners, size)
        return out


def keypoints(corners: np.ndarray, size: int) -> np.ndarray:
    """Corner pixel coordinates at image size ``size``: (N, 8, 2) float64, x right, y down.

    A corner at keypoint (x, y) sits at that point of the image plane; pixel (col, row)
    covers [col, col+1) x [row, row+1).
    """
    return np.asarray(corners)[..., :2] * (size / 256.0)
