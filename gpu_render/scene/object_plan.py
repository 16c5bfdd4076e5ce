"""Every pose of a scene-object build, in the representations the dataset stores. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpu_render.rotations.sources import PoseSource, row_matrices
from gpu_render.scene.camera import Pinhole
from gpu_render.scene.look import Look
from gpu_render.scene.look_labels import look_labels
from gpu_render.scene.object_labels import scene_labels
from gpu_render.scene.objects import SceneObject


@dataclass(frozen=True, eq=False)
class ObjectPlan:
    """The poses of one build of a scene object.

    rotation: (N, 3, 3) float64 R, column vectors, object frame to camera frame.
    translation: (N, 3) float64 t = (0, 0, d), camera frame, object units.
    labels: always None (labels.npy is the cLPR cube's array; poses.npz holds the rest).
    look: the look, when it draws choices per image (lights, backgrounds) that poses.npz records.
    first: the index in the whole dataset of this plan's pose 0 (a plan of one model of many):
        per-image choices are drawn from ``first + i`` for pose i.
    """

    rotation: np.ndarray
    translation: np.ndarray
    object: SceneObject
    camera: Pinhole
    labels: None = None
    look: Look | None = None
    first: int = 0

    def __len__(self) -> int:
        return len(self.rotation)

    @staticmethod
    def from_source(
        source: PoseSource, count: int | None, obj: SceneObject, camera: Pinhole, look: Look | None = None
    ) -> ObjectPlan:
        """The first ``count`` poses of ``source`` (all when None)."""
        matrix, _ = row_matrices(source, count)
        return ObjectPlan.from_rows(matrix, obj, camera, look)

    @staticmethod
    def from_rows(matrix: np.ndarray, obj: SceneObject, camera: Pinhole, look: Look | None = None) -> ObjectPlan:
        """The poses of row-vector matrices M (N, 3, 3) float64 (M = R.T), pose by pose."""
        rotation = np.ascontiguousarray(matrix.transpose(0, 2, 1))  # the row-vector M is R.T
        translation = np.broadcast_to(camera.translation, (len(rotation), 3)).copy()
        return ObjectPlan(
            rotation, translation, obj, camera, look=look if look is not None and look.per_image else None
        )

    def rich_labels(self, sizes: tuple[int, ...]) -> dict[str, np.ndarray]:
        """The arrays of poses.npz (SCENES.md, Labels every scene build writes), with the
        per-image lights and backgrounds when the look draws them (:func:`look_labels`)."""
        labels = scene_labels(self.object, self.camera, self.rotation, sizes)
        if self.look is not None:
            labels.update(look_labels(self.look, self.translation, sizes, self.first))
        return labels
