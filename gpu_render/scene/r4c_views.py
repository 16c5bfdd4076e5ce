"""Render for CNN's per-image random choices: viewpoints and truncation fractions, and the pose
of a ShapeNet file for a viewpoint. Pure functions and frozen sources.

Every choice of an image comes from numpy's generator seeded with ``[seed, stream, *key]``
alone (:func:`image_rng`; stream :data:`VIEW_STREAM` for the
viewpoint, :data:`TRUNCATION_STREAM` for the truncation), so an image gets the same choices
whatever the batch, shard, engine or resume that draws it.

Viewpoints are rows (azimuth, elevation, theta, distance): PASCAL3D+'s viewpoint in degrees
(:mod:`gpu_render.scene.viewpoint`; azimuth in [0, 360), elevation in [-90, 90], theta in
(-180, 180]) and the camera's distance from the model file's origin, in the file's units.
Truncations are rows (left, right, top, bottom) of :mod:`gpu_render.scene.crop`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from gpu_render.scene.viewpoint import rotation_from_viewpoint

VIEW_STREAM = 0
TRUNCATION_STREAM = 1

#: Model file axes (ShapeNet OBJ: y up) to PASCAL3D+'s model axes (z up), column vectors.
#: Render for CNN imports the OBJ into Blender (y up, -z forward: Blender = (x, -z, y)) and puts
#: the camera at ``d (cos a cos e, sin a cos e, sin e)`` in Blender's frame, looking at the
#: origin with z up. That camera is PASCAL3D+'s ``d (cos e sin a, -cos e cos a, sin e)`` exactly
#: when ``x_pascal = SHAPENET_TO_PASCAL @ x_file``: (-z, -x, y). Its camera is then turned by
#: minus its view parameter θ_r about the viewing direction, so its image's PASCAL3D+ θ is -θ_r.
SHAPENET_TO_PASCAL = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


#: Render for CNN's render size, pixels: its ``blank.blend`` (Blender 2.71) renders 1920 x 1080 at 50%.
RENDER_WIDTH, RENDER_HEIGHT = 960, 540
#: Its camera: a 35 mm lens on a 32 mm wide sensor fitted to the image width (horizontal field of
#: view 2 atan(16 / 35), about 49.1 degrees), square pixels, principal point at the centre.
LENS_MM, SENSOR_WIDTH_MM = 35.0, 32.0


def render_for_cnn_intrinsics() -> np.ndarray:
    """K of Render for CNN's renders, (3, 3) float64 pixels, for a RENDER_WIDTH x RENDER_HEIGHT
    image in SCENES.md's pixel convention: f = 960 * 35 / 32 = 1050, centre (480, 270)."""
    f = RENDER_WIDTH * LENS_MM / SENSOR_WIDTH_MM
    return np.array([[f, 0.0, RENDER_WIDTH / 2], [0.0, f, RENDER_HEIGHT / 2], [0.0, 0.0, 1.0]])


def image_rng(seed: int, stream: int, *key: int) -> np.random.Generator:
    """The generator of one image's choices of one kind: numpy's default, seeded with
    ``[seed, stream, *key]`` (a SeedSequence), all non-negative integers. key names the image:
    its index in the build, or e.g. (synset, model, view) so that a subset of models draws what
    the same models draw in a full build."""
    if min(seed, stream, *key) < 0 or not key:
        raise ValueError(
            f"seed, stream and a key of one or more integers, all >= 0, are needed, got {(seed, stream, key)}"
        )
    return np.random.default_rng([seed, stream, *key])


def _per_image(
    seed: int, stream: int, index: np.ndarray, draw: Callable[[np.random.Generator], np.ndarray]
) -> np.ndarray:
    """(N, 4) float64: ``draw(image_rng(seed, stream, *key))`` for each key of index: (N,) ints
    (one integer per image) or (N, K) (K integers per image)."""
    idx = np.asarray(index, dtype=np.int64)
    keys = idx.reshape(-1, 1) if idx.ndim <= 1 else idx.reshape(len(idx), -1)
    out = np.empty((len(keys), 4), dtype=np.float64)
    for j, key in enumerate(keys.tolist()):
        out[j] = draw(image_rng(seed, stream, *key))
    return out


def _check_rows(rows: np.ndarray) -> None:
    if not (isinstance(rows, np.ndarray) and rows.ndim == 2 and rows.shape[1] == 4 and len(rows) > 0):
        raise ValueError(f"rows must be a non-empty (M, 4) array, got {getattr(rows, 'shape', type(rows))}")
    if not np.all(np.isfinite(rows)):
        raise ValueError("rows must be finite numbers")


class ViewpointSource(Protocol):
    """Where each image's viewpoint comes from (``--viewpoints``)."""

    @property
    def spec(self) -> str: ...

    def draw(self, seed: int, index: np.ndarray) -> np.ndarray:
        """(N, 4) float64 (azimuth, elevation, theta, distance) for image keys (N,) or (N, K) ints."""
        ...


class TruncationSource(Protocol):
    """Where each image's truncation fractions come from (``--truncation``)."""

    @property
    def spec(self) -> str: ...

    def draw(self, seed: int, index: np.ndarray) -> np.ndarray:
        """(N, 4) float64 (left, right, top, bottom) fractions for image keys (N,) or (N, K) ints."""
        ...


@dataclass(frozen=True)
class UniformViews:
    """``uniform[:E0,E1:T0,T1:D0,D1]``: azimuth U[0, 360), elevation U[E0, E1], theta U[T0, T1]
    and distance U[D0, D1].

    Defaults are Render for CNN's: elevation within [-85, 85] and theta within [-45, 45] degrees,
    the bounds its ``sample_viewpoints.m`` keeps its random views in; distance in [2, 3] file
    units, the span of its demo's views (``demo_render/sample_viewpoints.txt``) for ShapeNet's
    models of bounding-box diagonal 1.
    """

    elevation: tuple[float, float] = (-85.0, 85.0)
    theta: tuple[float, float] = (-45.0, 45.0)
    distance: tuple[float, float] = (2.0, 3.0)

    def __post_init__(self) -> None:
        (e0, e1), (t0, t1), (d0, d1) = self.elevation, self.theta, self.distance
        if not (-90.0 <= e0 <= e1 <= 90.0 and -180.0 < t0 <= t1 <= 180.0 and 0.0 < d0 <= d1):
            raise ValueError("uniform views need -90 <= elevation <= 90, -180 < theta <= 180 and 0 < distance")

    @property
    def spec(self) -> str:
        """``uniform`` for the defaults, else ``uniform:E0,E1:T0,T1:D0,D1``."""
        if self == UniformViews():
            return "uniform"
        return "uniform:" + ":".join(f"{lo:g},{hi:g}" for lo, hi in (self.elevation, self.theta, self.distance))

    def draw(self, seed: int, index: np.ndarray) -> np.ndarray:
        lo = np.array([0.0, self.elevation[0], self.theta[0], self.distance[0]])
        span = np.array([360.0, self.elevation[1], self.theta[1], self.distance[1]]) - lo
        views = _per_image(seed, VIEW_STREAM, index, lambda rng: lo + span * rng.random(4))
        views[:, 0] = np.where(views[:, 0] >= 360.0, 0.0, views[:, 0])
        return views


@dataclass(frozen=True)
class RowViews:
    """``file:PATH``: each image takes one row of ``rows`` at random (with replacement), as
    Render for CNN's ``render_helper.py`` draws from its view distribution files.

    rows: (M, 4) float64 canonical viewpoints (:func:`canonical_views`); path and sha256 name the
    file they came from (they are what the source compares by).
    """

    path: str
    sha256: str
    rows: np.ndarray = field(compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_rows(self.rows)

    @property
    def spec(self) -> str:
        return f"file:{self.path}"

    def draw(self, seed: int, index: np.ndarray) -> np.ndarray:
        rows = self.rows
        return _per_image(seed, VIEW_STREAM, index, lambda rng: rows[rng.integers(len(rows))])


@dataclass(frozen=True)
class NoTruncation:
    """``none``: every fraction 0, so the crop is the object's extent."""

    @property
    def spec(self) -> str:
        return "none"

    def draw(self, seed: int, index: np.ndarray) -> np.ndarray:
        idx = np.asarray(index)
        return np.zeros((1 if idx.ndim == 0 else len(idx), 4))


@dataclass(frozen=True)
class NormalTruncation:
    """``normal[:SIGMA]``: each fraction ``clip(N(0, sigma), -bound, bound)``, independently.
    With sigma 0.1 and bound 0.5 this is the distribution Render for CNN's
    ``sample_truncations.m`` draws its outliers (and its rejected samples) from."""

    sigma: float = 0.1
    bound: float = 0.5

    def __post_init__(self) -> None:
        if not (self.sigma >= 0.0 and self.bound >= 0.0):
            raise ValueError(f"normal truncation needs sigma >= 0 and bound >= 0, got {self.sigma}, {self.bound}")

    @property
    def spec(self) -> str:
        return f"normal:{self.sigma:g}"

    def draw(self, seed: int, index: np.ndarray) -> np.ndarray:
        s, b = self.sigma, self.bound
        return _per_image(seed, TRUNCATION_STREAM, index, lambda rng: np.clip(rng.normal(0.0, s, 4), -b, b))


@dataclass(frozen=True)
class RowTruncation:
    """``file:PATH``: each image takes one row of ``rows`` (M, 4) float64 at random (with
    replacement), as Render for CNN's ``crop_images.m`` draws from its truncation files."""

    path: str
    sha256: str
    rows: np.ndarray = field(compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_rows(self.rows)

    @property
    def spec(self) -> str:
        return f"file:{self.path}"

    def draw(self, seed: int, index: np.ndarray) -> np.ndarray:
        rows = self.rows
        return _per_image(seed, TRUNCATION_STREAM, index, lambda rng: rows[rng.integers(len(rows))])


def canonical_views(rows: np.ndarray) -> np.ndarray:
    """Viewpoint rows put in this module's ranges without changing the pose: azimuth mod 360
    into [0, 360), theta into (-180, 180]. rows: (M, 4) float64 degrees and file units. Raises
    ValueError for a value that is not finite, an elevation outside [-90, 90] or a distance <= 0."""
    r = np.array(rows, dtype=np.float64).reshape(-1, 4)
    if not np.all(np.isfinite(r)):
        raise ValueError("viewpoint rows must be finite numbers")
    bad = np.flatnonzero((np.abs(r[:, 1]) > 90.0) | (r[:, 3] <= 0.0))
    if len(bad):
        raise ValueError(f"row {bad[0] + 1}: elevation must be in [-90, 90] and distance > 0, got {r[bad[0]].tolist()}")
    r[:, 0] = np.mod(r[:, 0], 360.0)
    r[:, 0] = np.where(r[:, 0] >= 360.0, 0.0, r[:, 0])
    r[:, 2] = 180.0 - np.mod(180.0 - r[:, 2], 360.0)
    r[:, 2] = np.where(r[:, 2] <= -180.0, 180.0, r[:, 2])
    return r


def view_poses(views: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pose of a ShapeNet model file's own coordinates for each viewpoint row.

    views: (N, 4) float64 (azimuth, elevation, theta degrees, distance file units). Returns
    (R (N, 3, 3), t (N, 3)) float64 with ``x_cam = R @ x_file + t`` in the camera frame of
    SCENES.md (x right, y down, z forward): ``R = rotation_from_viewpoint(a, e, θ) @
    SHAPENET_TO_PASCAL`` and ``t = (0, 0, d)``; the camera looks at the file's origin.
    """
    v = np.asarray(views, dtype=np.float64).reshape(-1, 4)
    a, e, th = np.radians(v[:, :3]).T
    r = rotation_from_viewpoint(a, e, th) @ SHAPENET_TO_PASCAL
    t = np.zeros((len(v), 3))
    t[:, 2] = v[:, 3]
    return r, t
