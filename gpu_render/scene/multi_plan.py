"""Scenes of several objects per image: which objects, their rotations and positions. Pure functions.

Frames as in SCENES.md: camera frame x right, y down, z forward; each instance's pose is
``x_cam = R @ x_obj + t`` in object units (every object lies within the unit ball of its frame).

Image i of a build is planned from ``(seed, i)`` alone (``np.random.default_rng([seed, i])``), so
an image never depends on the batch, shard or engine that draws it:

- the instance count: uniform in ``[count_min, count_max]``;
- each instance's object: uniform over the objects given (with repetition);
- instance 0's rotation is the pose source's rotation i; the others' rotations are uniform over
  SO(3) (normalised 4-D Gaussians from the same generator);
- each instance's position: camera z uniform in ``depth_range``, and the projection of its
  origin uniform over the image, so instances may leave the image in part and overlap.

:func:`rect_intrinsics` gives K for a W x H image; an S x S image's K is the square camera's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gpu_render.rotations.quaternion import quaternion_to_matrix
from gpu_render.scene.camera import Pinhole


@dataclass(frozen=True)
class MultiSpec:
    """How images of several objects are drawn.

    objects: how many distinct objects the build has (instances pick indices 0..objects-1).
    count_min, count_max: instances per image, inclusive bounds, 1 <= count_min <= count_max.
    depth_range: (near, far) camera z of the instances' origins, object units, near > 1 (the
    camera stays outside every object's unit ball). seed: the build's seed.
    """

    objects: int
    count_min: int
    count_max: int
    depth_range: tuple[float, float]
    seed: int = 0

    def __post_init__(self) -> None:
        if self.objects < 1:
            raise ValueError(f"at least one object is needed, got {self.objects}")
        if not 1 <= self.count_min <= self.count_max:
            raise ValueError(
                f"instances per image must satisfy 1 <= min <= max, got {self.count_min}..{self.count_max}"
            )
        near, far = self.depth_range
        if not (1.0 < near <= far and math.isfinite(far)):
            raise ValueError(f"depth range must satisfy 1 < near <= far, got {self.depth_range}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")


@dataclass(frozen=True, eq=False)
class ImagePlan:
    """One image's instances, gt_id order.

    objects: (K,) int64 index of each instance's object. rotation: (K, 3, 3) float64 R, object to
    camera. translation: (K, 3) float64 t, camera frame, object units.
    """

    objects: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray

    def __len__(self) -> int:
        return len(self.objects)


def rect_intrinsics(camera: Pinhole, width: int, height: int) -> np.ndarray:
    """K for a W x H image: (3, 3) float64, pixels. The field of view spans the width:
    fx = fy = (W/2) / tan(fov/2), principal point (W/2, H/2). For W = H it is
    ``camera.intrinsics(W)``."""
    if width < 1 or height < 1:
        raise ValueError(f"image sides must be positive, got {width}x{height}")
    f = camera.focal(width)
    return np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


def default_depth_range(camera: Pinhole) -> tuple[float, float]:
    """(1.5 d, 3 d) for the camera's distance d: objects a little smaller than a single-object
    image's, so a few fit one image."""
    return 1.5 * camera.d, 3.0 * camera.d


def plan_image(spec: MultiSpec, index: int, rotation0: np.ndarray, k: np.ndarray, width: int, height: int) -> ImagePlan:
    """Image ``index``'s instances (module docstring).

    rotation0: (3, 3) float64, the pose source's rotation ``index`` (instance 0's R). k: (3, 3)
    float64 intrinsics of the W x H image, pixels.
    """
    if index < 0:
        raise ValueError(f"image index must be non-negative, got {index}")
    rng = np.random.default_rng([spec.seed, index])
    count = int(rng.integers(spec.count_min, spec.count_max + 1))
    objects = rng.integers(0, spec.objects, size=count).astype(np.int64)
    q = rng.standard_normal((count - 1, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    rotation = np.empty((count, 3, 3))
    rotation[0] = np.asarray(rotation0, dtype=np.float64)
    if count > 1:
        rotation[1:] = quaternion_to_matrix(q)
    z = rng.uniform(spec.depth_range[0], spec.depth_range[1], size=count)
    uv = rng.uniform((0.0, 0.0), (float(width), float(height)), size=(count, 2))
    x = (uv[:, 0] - k[0, 2]) / k[0, 0] * z
    y = (uv[:, 1] - k[1, 2]) / k[1, 1] * z
    return ImagePlan(objects, rotation, np.stack([x, y, z], axis=1))


def ball_extent(k: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Pixel bounds of the unit balls about ``translation`` (N, 3) float64 (camera frame, object
    units, every |t| > 1 along each of the xz- and yz-planes and in front of the camera): (N, 4)
    float64 (u_min, v_min, u_max, v_max). Every object's silhouette lies inside its ball's."""
    t = np.asarray(translation, dtype=np.float64).reshape(-1, 3)
    out = np.empty((len(t), 4))
    for axis, (focal, centre) in enumerate(((k[0, 0], k[0, 2]), (k[1, 1], k[1, 2]))):
        r = np.hypot(t[:, axis], t[:, 2])
        if np.any(r <= 1.0) or np.any(t[:, 2] <= 0):
            raise ValueError("the camera lies inside an instance's bounding ball")
        mid, half = np.arctan2(t[:, axis], t[:, 2]), np.arcsin(1.0 / r)
        if np.any(np.abs(mid) + half >= math.pi / 2):
            raise ValueError("an instance's bounding ball reaches behind the camera plane")
        out[:, axis] = focal * np.tan(mid - half) + centre
        out[:, axis + 2] = focal * np.tan(mid + half) + centre
    return out


def amodal_border(k: np.ndarray, translation: np.ndarray, width: int, height: int) -> int:
    """The smallest border (px, on every side of a W x H image) whose extended canvas holds the
    whole silhouettes of instances at ``translation`` (N, 3): 0 when their balls stay inside the
    image, else one pixel more than they reach past it."""
    e = ball_extent(k, translation)
    reach = max(0.0, float(-e[:, 0].min()), float(-e[:, 1].min()), float(e[:, 2].max() - width))
    reach = max(reach, float(e[:, 3].max() - height))
    return math.ceil(reach) + 1 if reach > 0 else 0


def plan_border(k: np.ndarray, width: int, height: int, near: float) -> int:
    """A border (px) that holds every instance :func:`plan_image` can place: the unit balls
    about the image's corners at camera z ``near`` reach farthest (origins project inside the
    image, and a nearer or more off-axis ball reaches farther)."""
    corners = np.array([[0.0, 0.0], [width, 0.0], [0.0, height], [width, height]], dtype=np.float64)
    x = (corners[:, 0] - k[0, 2]) / k[0, 0] * near
    y = (corners[:, 1] - k[1, 2]) / k[1, 1] * near
    return amodal_border(k, np.stack([x, y, np.full(4, near)], axis=1), width, height)
