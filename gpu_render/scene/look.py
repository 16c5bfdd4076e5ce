"""How a scene object is lit and coloured (SCENES.md, Look)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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
    antialias: 4x MSAA. grayscale: write luma in all three channels."""

    albedo: tuple[int, int, int] = (200, 200, 200)
    background: tuple[int, int, int] = (0, 0, 0)
    light: tuple[float, float, float] = DEFAULT_LIGHT
    antialias: bool = True
    grayscale: bool = False

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


def to_uint8(colour: np.ndarray) -> np.ndarray:
    """[0, 1] floats to uint8 as GL writes them to an 8-bit target: round(c * 255)."""
    return np.floor(np.clip(colour, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
