"""Marks painted on a solid (SCENES.md, Built-in solids): where they are, and their colour.

A mark is a procedural function of a surface point's object-frame position and normal, so the
GPU (``shaders/scene.frag``, which evaluates the same rules in GLSL) and the CPU reference
paint exactly the same points. Each mark also names the point and outward normal at which
"faces the camera" is judged (its ``centre`` and ``normal``).

Every class here is pure data plus pure functions of arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

#: A surface point belongs to a flat mark's face when its normal is within ~2.6 degrees of the
#: mark's normal (flat faces have exactly the face normal, so any threshold near 1 works).
FLAT_COS = 0.999

RED = (255, 0, 0)
BLUE = (0, 0, 255)


class Mark(Protocol):
    """What every mark provides.

    kind: the shader's ``u_mark_kind`` (1 face, 2 disc, 3 sphere X; 0 means no mark).
    centre: (3,) float64, object frame: where visibility is judged.
    normal: (3,) float64 unit outward normal at ``centre``, object frame.
    """

    @property
    def kind(self) -> int: ...

    @property
    def centre(self) -> np.ndarray: ...

    @property
    def normal(self) -> np.ndarray: ...

    def paint(self, points: np.ndarray, normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """points, normals: (P, 3) float64, object frame (normals unit).
        Returns (marked (P,) bool, colour (P, 3) float64 in [0, 1], meaningful where marked)."""
        ...

    def uniforms(self) -> dict[str, tuple[float, ...] | float | int]:
        """Values for the shader's mark uniforms (see shaders/scene.frag)."""
        ...


def _unit(v: tuple[float, float, float] | np.ndarray) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return a / np.linalg.norm(a)


def _rgb(c: tuple[int, int, int]) -> np.ndarray:
    return np.asarray(c, dtype=np.float64) / 255.0


@dataclass(frozen=True, eq=False)
class FaceMark:
    """A whole flat face in one colour: points whose normal is within FLAT_COS of ``normal``.

    centre: (3,) the face's centroid; normal: (3,) its unit outward normal; color: RGB 0..255.
    """

    centre: np.ndarray
    normal: np.ndarray
    color: tuple[int, int, int] = RED
    kind: int = field(default=1, init=False)

    def paint(self, points: np.ndarray, normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        marked = np.asarray(normals, dtype=np.float64) @ _unit(self.normal) >= FLAT_COS
        return marked, np.broadcast_to(_rgb(self.color), (len(marked), 3))

    def uniforms(self) -> dict[str, tuple[float, ...] | float | int]:
        return {
            "u_mark_kind": self.kind,
            "u_mark_centre": tuple(float(x) for x in self.centre),
            "u_mark_normal": tuple(float(x) for x in _unit(self.normal)),
            "u_mark_radius": 0.0,
            "u_mark_color": tuple(float(x) for x in _rgb(self.color)),
            "u_mark_color2": tuple(float(x) for x in _rgb(self.color)),
        }


@dataclass(frozen=True, eq=False)
class DiscMark:
    """A disc on a flat face: points on the face (normal within FLAT_COS of ``normal``) no
    farther than ``radius`` from ``centre``. centre (3,), normal (3,) unit, radius in object units.
    """

    centre: np.ndarray
    normal: np.ndarray
    radius: float
    color: tuple[int, int, int] = RED
    kind: int = field(default=2, init=False)

    def paint(self, points: np.ndarray, normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.asarray(points, dtype=np.float64)
        on_face = np.asarray(normals, dtype=np.float64) @ _unit(self.normal) >= FLAT_COS
        near = np.sum((p - self.centre) ** 2, axis=1) <= self.radius**2
        marked = on_face & near
        return marked, np.broadcast_to(_rgb(self.color), (len(marked), 3))

    def uniforms(self) -> dict[str, tuple[float, ...] | float | int]:
        return {
            "u_mark_kind": self.kind,
            "u_mark_centre": tuple(float(x) for x in self.centre),
            "u_mark_normal": tuple(float(x) for x in _unit(self.normal)),
            "u_mark_radius": float(self.radius),
            "u_mark_color": tuple(float(x) for x in _rgb(self.color)),
            "u_mark_color2": tuple(float(x) for x in _rgb(self.color)),
        }


@dataclass(frozen=True, eq=False)
class SphereXMark:
    """sphereX's mark on the unit sphere, centred on +z (SCENES.md).

    A red X of two great-circle arcs through (0, 0, 1): one in the xz-plane, one in the
    yz-plane, each reaching ``arc_deg`` either way from +z and ``width_deg`` wide (a point
    belongs to the arc in the xz-plane when its angular distance to that plane is at most
    width/2, i.e. |y| <= sin(width/2), and its angle from +z measured in that plane,
    atan2(|x|, z), is at most arc_deg; likewise with x and y swapped). A blue dot of
    ``dot_deg`` angular radius around +z lies over the crossing.
    """

    arc_deg: float = 25.0
    width_deg: float = 4.0
    dot_deg: float = 6.0
    color: tuple[int, int, int] = RED
    dot_color: tuple[int, int, int] = BLUE
    kind: int = field(default=3, init=False)

    @property
    def centre(self) -> np.ndarray:
        return np.array([0.0, 0.0, 1.0])

    @property
    def normal(self) -> np.ndarray:
        return np.array([0.0, 0.0, 1.0])

    def paint(self, points: np.ndarray, normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.asarray(points, dtype=np.float64)
        p = p / np.linalg.norm(p, axis=1, keepdims=True)
        half = math.sin(math.radians(self.width_deg / 2))
        arc = math.radians(self.arc_deg)
        along_x = (np.abs(p[:, 1]) <= half) & (np.arctan2(np.abs(p[:, 0]), p[:, 2]) <= arc)
        along_y = (np.abs(p[:, 0]) <= half) & (np.arctan2(np.abs(p[:, 1]), p[:, 2]) <= arc)
        dot = p[:, 2] >= math.cos(math.radians(self.dot_deg))
        colour = np.where(dot[:, None], _rgb(self.dot_color), _rgb(self.color))
        return along_x | along_y | dot, colour

    def uniforms(self) -> dict[str, tuple[float, ...] | float | int]:
        return {
            "u_mark_kind": self.kind,
            "u_mark_centre": (
                math.sin(math.radians(self.width_deg / 2)),
                math.radians(self.arc_deg),
                math.cos(math.radians(self.dot_deg)),
            ),
            "u_mark_normal": (0.0, 0.0, 1.0),
            "u_mark_radius": 0.0,
            "u_mark_color": tuple(float(x) for x in _rgb(self.color)),
            "u_mark_color2": tuple(float(x) for x in _rgb(self.dot_color)),
        }
