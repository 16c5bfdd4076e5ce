"""How a scene object is lit and coloured (SCENES.md, Look)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gpu_render.scene.backdrop import Photos
from gpu_render.scene.lights import PointLights, falloff

AMBIENT = 0.35
DIFFUSE = 0.65
#: Grey output: ITU-R BT.601 luma, as Pillow's "L" mode uses.
LUMA = (0.299, 0.587, 0.114)

DEFAULT_LIGHT = (-1.0, -1.0, -2.0)

#: What the command line and the service say of a light that :func:`is_direction` refuses.
NOT_A_DIRECTION = (
    "must be a direction: not the zero vector, nor so small or large that its length is 0 or infinite in float64"
)


def is_direction(light: tuple[float, float, float]) -> bool:
    """Whether ``light`` (3,) float can be normalised to a unit vector in float64, as
    :attr:`Look.light_unit` does: finite, not zero, its length neither under- nor overflowing."""
    v = np.asarray(light, dtype=np.float64)
    if v.shape != (3,) or not np.all(np.isfinite(v)):
        return False
    with np.errstate(over="ignore", under="ignore"):
        n = math.sqrt(float(v @ v))
        if not (n > 0 and math.isfinite(n)):
            return False
        unit = v / n
        return abs(float(unit @ unit) - 1.0) < 1e-9


@dataclass(frozen=True)
class Look:
    """albedo, background: RGB 0..255. light: direction towards the light, camera frame
    (x right, y down, z forward), any length (normalised by :attr:`light_unit`).
    antialias: 4x MSAA. grayscale: write luma in all three channels.

    The richer looks (docs/LOOKS.md), each off by default:
    points: random point lights and ambient drawn per image (replacing ``light``); specular,
    shininess: a white Blinn-Phong term ``specular * E * max(0, n . h) ** shininess`` per light
    (E = 0.65 for the directional light); photos: photographs (or random greys) behind the
    object, replacing ``background``; seed: the seed of every per-image random choice.
    """

    albedo: tuple[int, int, int] = (200, 200, 200)
    background: tuple[int, int, int] = (0, 0, 0)
    light: tuple[float, float, float] = DEFAULT_LIGHT
    antialias: bool = True
    grayscale: bool = False
    points: PointLights | None = None
    specular: float = 0.0
    shininess: float = 32.0
    photos: Photos | None = None
    seed: int = 0

    @property
    def plain(self) -> bool:
        """No point lights, specular term or photographs: the original look and its shaders."""
        return self.points is None and self.specular == 0.0 and self.photos is None

    @property
    def per_image(self) -> bool:
        """Some choice is drawn per image (lights or backgrounds): drawing needs image indices."""
        return self.points is not None or self.photos is not None

    def describe(self) -> dict[str, Any]:
        """The richer look's fields for a build's signature; {} for a plain look."""
        out: dict[str, Any] = {}
        if self.points is not None:
            out["point_lights"] = self.points.describe()
        if self.specular:
            out["specular"] = [self.specular, self.shininess]
        if self.photos is not None:
            out["backgrounds"] = self.photos.describe()
        if self.per_image:
            out["look_seed"] = self.seed
        return out

    @property
    def light_unit(self) -> np.ndarray:
        """(3,) float64 unit vector towards the light, camera frame."""
        v = np.asarray(self.light, dtype=np.float64)
        n = math.sqrt(float(v @ v))
        if not n > 0:
            raise ValueError("the light direction must not be zero")
        return v / n


def shade(albedo: np.ndarray, normals_cam: np.ndarray, look: Look) -> np.ndarray:
    """``albedo * (0.35 + 0.65 max(0, n.l))``, then luma if grey.

    albedo: (P, 3) float64 in [0, 1]; normals_cam: (P, 3) float64 unit, camera frame.
    Returns (P, 3) float64 in [0, 1] (before quantisation to uint8).
    """
    lambert = np.maximum(0.0, np.asarray(normals_cam) @ look.light_unit)
    colour = np.asarray(albedo) * (AMBIENT + DIFFUSE * lambert)[:, None]
    if look.grayscale:
        colour = np.repeat((colour @ np.asarray(LUMA))[:, None], 3, axis=1)
    return np.clip(colour, 0.0, 1.0)


def shade_points(
    albedo: np.ndarray,
    normals_cam: np.ndarray,
    points_cam: np.ndarray,
    lights: np.ndarray,
    energy: np.ndarray,
    ambient: float,
    look: Look,
) -> np.ndarray:
    """Point lights: ``albedo * max(0, ambient + sum_k E_k f_k max(0, n . l_k))`` plus the
    Blinn-Phong term, then luma if grey (f_k the rig's fall-off, :mod:`gpu_render.scene.lights`).

    albedo: (P, 3) float64 in [0, 1]; normals_cam: (P, 3) unit; points_cam: (P, 3) the shaded
    points; lights: (K, 3) positions; energy: (K,), all camera frame, object units.
    Returns (P, 3) float64 in [0, 1].
    """
    n = np.asarray(normals_cam, dtype=np.float64)
    x = np.asarray(points_cam, dtype=np.float64)
    view = -x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)
    diffuse = np.full(len(n), float(ambient))
    spec = np.zeros(len(n))
    reach = look.points.falloff if look.points is not None else 0.0
    for p, e in zip(np.asarray(lights, dtype=np.float64), np.asarray(energy, dtype=np.float64), strict=True):
        to = p - x
        r2 = np.einsum("pi,pi->p", to, to)
        e = e * falloff(reach, r2)
        to /= np.maximum(np.sqrt(r2), 1e-300)[:, None]
        diffuse += e * np.maximum(0.0, np.einsum("pi,pi->p", n, to))
        if look.specular:
            spec += e * _blinn(n, to, view, look.shininess)
    colour = np.asarray(albedo) * np.maximum(diffuse, 0.0)[:, None] + (look.specular * spec)[:, None]
    return _finish(colour, look)


def _blinn(n: np.ndarray, to_light: np.ndarray, view: np.ndarray, shininess: float) -> np.ndarray:
    """(P,) ``max(0, n . h) ** shininess``, h the unit half vector; 0 where the light is behind."""
    h = to_light + view
    h /= np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-300)
    facing = np.einsum("pi,pi->p", n, to_light) > 0
    return np.where(facing, np.maximum(0.0, np.einsum("pi,pi->p", n, h)) ** shininess, 0.0)


def shade_specular(albedo: np.ndarray, normals_cam: np.ndarray, points_cam: np.ndarray, look: Look) -> np.ndarray:
    """The directional light with the Blinn-Phong term: :func:`shade`'s colour plus
    ``specular * 0.65 * max(0, n . h) ** shininess``. Shapes as :func:`shade_points`."""
    n = np.asarray(normals_cam, dtype=np.float64)
    x = np.asarray(points_cam, dtype=np.float64)
    view = -x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)
    light = np.broadcast_to(look.light_unit, n.shape)
    lambert = np.maximum(0.0, n @ look.light_unit)
    spec = DIFFUSE * _blinn(n, light, view, look.shininess)
    colour = np.asarray(albedo) * (AMBIENT + DIFFUSE * lambert)[:, None] + (look.specular * spec)[:, None]
    return _finish(colour, look)


def _finish(colour: np.ndarray, look: Look) -> np.ndarray:
    colour = np.clip(colour, 0.0, 1.0)
    if look.grayscale:
        colour = np.repeat((colour @ np.asarray(LUMA))[:, None], 3, axis=1)
    return np.clip(colour, 0.0, 1.0)


def to_uint8(colour: np.ndarray) -> np.ndarray:
    """[0, 1] floats to uint8 as GL writes them to an 8-bit target: round(c * 255)."""
    return np.floor(np.clip(colour, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
