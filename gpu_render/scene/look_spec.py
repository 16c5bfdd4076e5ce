"""Checks of the richer look's options (textures, point lights, specular, backgrounds, seed) for
:class:`~gpu_render.scene.spec.SceneSpec`: each returns the normalised value or raises a one-line
SceneSpecError naming the field. Pure."""

from __future__ import annotations

import math
import numbers
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from gpu_render.scene.lights import MAX_LIGHTS, RENDER4CNN, PointLights
from gpu_render.scene.spec_error import SceneSpecError

#: Named light rigs (``--lights NAME``); ``directional`` is the single default light.
LIGHT_RIGS = {"render4cnn": RENDER4CNN}
DIRECTIONAL = "directional"
MAX_SEED = 2**63 - 1


def _error(field: str, reason: str) -> SceneSpecError:
    return SceneSpecError(field, reason)


def _number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(float(value))


def check_range(field: str, value: object, low: float, high: float, integer: bool = False) -> tuple[float, float]:
    """A range ``(lo, hi)`` with ``low <= lo <= hi <= high`` (a single number means lo = hi)."""
    what = "whole numbers" if integer else "numbers"
    parts = (value,) if _number(value) else value
    try:
        items: tuple[Any, ...] = tuple(parts)  # type: ignore[arg-type]
    except TypeError:
        raise _error(field, f"takes LO,HI or one value ({what}), got {value!r}") from None
    if len(items) == 1:
        items = (items[0], items[0])
    if len(items) != 2 or not all(_number(c) for c in items):
        raise _error(field, f"takes LO,HI or one value (finite {what}), got {value!r}")
    lo, hi = (float(c) for c in items)
    if integer and not (lo.is_integer() and hi.is_integer()):
        raise _error(field, f"takes whole numbers, got {value!r}")
    if lo > hi:
        raise _error(field, f"the range {lo:g},{hi:g} is empty: LO must not exceed HI")
    if lo < low or hi > high:
        raise _error(field, f"must lie in {low:g}..{high:g}, got {lo:g},{hi:g}")
    return (lo, hi)


def check_point_lights(value: object) -> PointLights | None:
    """None or ``directional`` (the single directional light), a rig's name (``render4cnn``), a
    :class:`PointLights`, or a dict of its fields over Render for CNN's values."""
    if value is None or value == DIRECTIONAL:
        return None
    if isinstance(value, str):
        if value in LIGHT_RIGS:
            return LIGHT_RIGS[value]
        raise _error("lights", f"unknown lights {value!r}: use {DIRECTIONAL} or {', '.join(LIGHT_RIGS)}")
    if isinstance(value, PointLights):
        given: dict[str, Any] = {f.name: getattr(value, f.name) for f in fields(PointLights)}
    elif isinstance(value, dict):
        names = [f.name for f in fields(PointLights)]
        unknown = [k for k in value if k not in names]
        if unknown:
            raise _error("lights", f"{unknown[0]!r} is not a light setting; they are {', '.join(names)}")
        given = dict(value)
    else:
        raise _error("lights", f"takes {DIRECTIONAL}, {', '.join(LIGHT_RIGS)} or point-light settings, got {value!r}")
    rig = replace(RENDER4CNN, **given)
    count = check_range("light_count", rig.count, 0, MAX_LIGHTS, integer=True)
    normal = check_switch_value("light_energy", rig.energy_normal)
    energy = check_range("light_energy", rig.energy, -1e6, 1e6) if not normal else _normal(rig.energy)
    return PointLights(
        count=(int(count[0]), int(count[1])),
        distance=_positive_range("light_distance", rig.distance),
        azimuth=check_range("light_azimuth", rig.azimuth, -360.0, 720.0),
        elevation=check_range("light_elevation", rig.elevation, -90.0, 90.0),
        energy=energy,
        energy_normal=normal,
        ambient=check_range("ambient", rig.ambient, 0.0, 1e6),
        falloff=check_range("light_falloff", rig.falloff, 0.0, 1e6)[0],
    )


def _positive_range(field: str, value: object) -> tuple[float, float]:
    lo, hi = check_range(field, value, 0.0, 1e6)
    if lo <= 0:
        raise _error(field, f"must be above 0 (object units from the object's centre), got {lo:g}")
    return (lo, hi)


def _normal(value: object) -> tuple[float, float]:
    try:
        pair: tuple[Any, ...] = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        raise _error("light_energy", f"normal:MEAN,STD takes two numbers, got {value!r}") from None
    if len(pair) != 2:
        raise _error("light_energy", f"normal:MEAN,STD takes two numbers, got {value!r}")
    mean, std = pair
    if not (_number(mean) and _number(std)) or float(std) < 0:
        raise _error("light_energy", f"normal:MEAN,STD takes finite numbers with STD >= 0, got {value!r}")
    return (float(mean), float(std))


def check_switch_value(field: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise _error(field, f"must be True or False, got {value!r}")
    return bool(value)


def check_specular(value: object) -> float:
    """The Blinn-Phong strength: a finite number >= 0 (0: none)."""
    if not _number(value) or float(value) < 0:  # type: ignore[arg-type]
        raise _error("specular", f"must be a number >= 0, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def check_shininess(value: object) -> float:
    """The Blinn-Phong exponent: a finite number above 0."""
    if not _number(value) or not float(value) > 0:  # type: ignore[arg-type]
        raise _error("specular_exponent", f"must be a number above 0, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def check_backgrounds(value: object) -> str | None:
    """None, or the folder of photographs (a path; it is searched when the scene is made)."""
    if value is None:
        return None
    if not isinstance(value, (str, Path)) or not str(value):
        raise _error("backgrounds", f"takes a folder of .jpg/.png photographs, got {value!r}")
    return str(value)


def check_ratio(value: object) -> float:
    """The share of images with a photograph: 0..1."""
    if not _number(value) or not 0.0 <= float(value) <= 1.0:  # type: ignore[arg-type]
        raise _error("background_ratio", f"must be a share in 0..1, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def check_seed(value: object) -> int:
    """The look's seed: a whole number 0..2**63-1."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Integral)
        or not 0 <= int(value) <= MAX_SEED
    ):
        raise _error("look_seed", f"must be a whole number 0..{MAX_SEED}, got {value!r}")
    return int(value)
