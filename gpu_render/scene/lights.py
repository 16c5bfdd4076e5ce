"""Random point lights and an ambient term, drawn per image from (seed, image index) alone
(docs/LOOKS.md, Lights). Pure numpy.

A light sits at ``t + distance * (sin a cos e, -sin e, -cos a cos e)`` in the camera frame
(x right, y down, z forward), t the object's centre (the pose's translation): azimuth a turns
about the camera's up axis from the direction towards the camera, elevation e lifts towards the
camera's up (-y). Shading (``shaders/scene_look.frag``, :func:`gpu_render.scene.look.shade_points`):
``albedo * max(0, ambient + sum_k E_k f_k max(0, n . l_k))`` plus an optional Blinn-Phong term,
l_k the unit vector from the point to light k and f_k = D / (D + r_k^2) the fall-off of Blender
Internal's "inverse square" lamps (r_k the distance to the light, D the rig's ``falloff``, 25 as
Blender's lamps have it; ``falloff = 0``: none, f_k = 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Third word of each image's seed sequence: lights and backgrounds draw from separate streams,
#: so adding one never changes the other.
LIGHT_STREAM = 1
#: The most lights a rig may have.
MAX_LIGHTS = 16


@dataclass(frozen=True)
class PointLights:
    """How many lights, where and how bright: each a closed range drawn uniformly
    (``lo == hi`` for a fixed value).

    count: lights per image (integers). distance: from the object's centre, object units.
    azimuth, elevation: degrees. energy: uniform ``(lo, hi)``, or normal ``(mean, std)`` when
    ``energy_normal``. ambient: the ambient term (an environment light of that energy).
    falloff: D of the fall-off D / (D + r^2), object units; 0 for none (module docstring).
    """

    count: tuple[int, int] = (0, 6)
    distance: tuple[float, float] = (8.0, 20.0)
    azimuth: tuple[float, float] = (0.0, 360.0)
    elevation: tuple[float, float] = (-90.0, 90.0)
    energy: tuple[float, float] = (2.0, 2.0)
    energy_normal: bool = True
    ambient: tuple[float, float] = (0.0, 1.0)
    falloff: float = 25.0

    def describe(self) -> dict[str, object]:
        """JSON-able description (part of a build's signature)."""
        return {
            "count": list(self.count),
            "distance": list(self.distance),
            "azimuth": list(self.azimuth),
            "elevation": list(self.elevation),
            "energy": ["normal" if self.energy_normal else "uniform", *self.energy],
            "ambient": list(self.ambient),
            "falloff": self.falloff,
        }


#: Render for CNN's lights: 0-6 point lights at distance 8-20, azimuth 0-360, elevation -90-90
#: degrees, energy ~ N(2, 2), Blender's inverse-square fall-off (D = 25), and an environment
#: light of energy U(0, 1).
RENDER4CNN = PointLights()


@dataclass(frozen=True)
class LightDraw:
    """The lights of N images. offset: (N, K, 3) float64, each light's place relative to the
    object's centre, camera frame, object units, NaN past ``count``; energy: (N, K) float64, NaN
    past ``count``; count: (N,) int64; ambient: (N,) float64. K = the rig's largest count."""

    offset: np.ndarray
    energy: np.ndarray
    count: np.ndarray
    ambient: np.ndarray

    def positions(self, translation: np.ndarray) -> np.ndarray:
        """(N, K, 3) float64 camera-frame positions for translations t (N, 3) or (3,)."""
        t = np.broadcast_to(np.asarray(translation, dtype=np.float64).reshape(-1, 3), (len(self.count), 3))
        return self.offset + t[:, None, :]


def falloff(rig_falloff: float, squared_distance: np.ndarray) -> np.ndarray:
    """The fall-off factor D / (D + r^2) of squared distances r^2 (any shape); 1 when D = 0."""
    r2 = np.asarray(squared_distance, dtype=np.float64)
    return np.ones_like(r2) if rig_falloff == 0 else rig_falloff / (rig_falloff + r2)


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], n: int | None = None) -> np.ndarray:
    lo, hi = bounds
    return lo + (hi - lo) * rng.random(n)


def draw_lights(rig: PointLights, seed: int, index: np.ndarray) -> LightDraw:
    """The lights of images ``index`` ((N,) int, global image indices) of a look seeded ``seed``.

    Image i draws from ``np.random.default_rng([seed, i, LIGHT_STREAM])`` alone, in this order:
    count, then per light azimuth, elevation, distance, energy, then the ambient term.
    """
    index = np.asarray(index, dtype=np.int64).reshape(-1)
    k = rig.count[1]
    offset = np.full((len(index), k, 3), np.nan)
    energy = np.full((len(index), k), np.nan)
    count = np.zeros(len(index), dtype=np.int64)
    ambient = np.zeros(len(index))
    for row, i in enumerate(index):
        rng = np.random.default_rng([seed, int(i), LIGHT_STREAM])
        c = int(rng.integers(rig.count[0], rig.count[1] + 1))
        for j in range(c):
            a = math.radians(float(_uniform(rng, rig.azimuth)))
            e = math.radians(float(_uniform(rng, rig.elevation)))
            d = float(_uniform(rng, rig.distance))
            if rig.energy_normal:
                energy[row, j] = rig.energy[0] + rig.energy[1] * rng.standard_normal()
            else:
                energy[row, j] = float(_uniform(rng, rig.energy))
            offset[row, j] = d * np.array([math.sin(a) * math.cos(e), -math.sin(e), -math.cos(a) * math.cos(e)])
        count[row] = c
        ambient[row] = float(_uniform(rng, rig.ambient))
    return LightDraw(offset, energy, count, ambient)
