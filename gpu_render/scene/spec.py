"""The one front door to a scene: :class:`SceneSpec`, every scene option as a validated value.

The command line (:mod:`gpu_render.cli.scene_options`), the streaming dataset
(:mod:`gpu_render.stream`) and :class:`gpu_render.Renderer` all make a SceneSpec, and it alone
decides what is accepted: a bad value raises :class:`SceneSpecError`, one line naming the
field as the Python keyword spells it (``fov``, ``light``); the command line prefixes ``--``.
``spec.scene(read_mesh)`` then makes the :class:`~gpu_render.scene.scene.Scene` the renderers
draw. Pure: the scene layer opens no files, so a mesh file is read by the ``read_mesh``
function the caller hands in.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from gpu_render.scene.backdrop import Photos
from gpu_render.scene.camera import DEFAULT_FOV_DEG, Pinhole
from gpu_render.scene.look import DEFAULT_LIGHT, NOT_A_DIRECTION, Look, is_direction
from gpu_render.scene.look_spec import (
    check_backgrounds,
    check_point_lights,
    check_ratio,
    check_seed,
    check_shininess,
    check_specular,
)
from gpu_render.scene.objects import SceneObject
from gpu_render.scene.scene import CLPR_OBJECT, ClprScene, ObjectScene, Scene
from gpu_render.scene.solids import BUILTIN_OBJECTS, builtin_object
from gpu_render.scene.spec_error import SceneSpecError

MESH_PREFIX = "mesh:"
#: Default image side, px, of a renderer of one size (a build's objects default to it too).
DEFAULT_SIZE = 224
MIN_SIZE, MAX_SIZE = 8, 4096
MIN_FOV, MAX_FOV = 1.0, 170.0
MAX_DISTANCE = 1000.0
#: Fields only the perspective objects take, in the order their refusals are checked.
OBJECT_ONLY = (
    "fov",
    "distance",
    "light",
    "color",
    "background",
    "grayscale",
    "layers",
    "lights",
    "specular",
    "backgrounds",
    "background_ratio",
)

#: Reads a mesh file: its path to (the normalised object, the sha256 hex of the file's bytes).
#: Raises ValueError or OSError (one line) for a file it cannot use.
#: Called with ``textures=False`` for ``textures=False`` specs (the file's colours are not read).
MeshReader = Callable[..., tuple[SceneObject, str]]
#: Finds the photographs of a folder for a share ``ratio`` of the images (raises UsageError).
PhotoFinder = Callable[[Path, float], Photos]
#: The share of images given a photograph when ``backgrounds`` is set.
DEFAULT_BACKGROUND_RATIO = 0.8


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value)


def _real(field: str, value: object, what: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise SceneSpecError(field, f"must be {what}, got {_shown(value)}")
    return float(value)


def check_object(value: object) -> str:
    """``clpr-cube``, a SYMSOL solid or ``mesh:PATH`` (PATH not empty)."""
    if isinstance(value, str) and (value == CLPR_OBJECT or value in BUILTIN_OBJECTS):
        return value
    if isinstance(value, str) and value.startswith(MESH_PREFIX) and len(value) > len(MESH_PREFIX):
        return value
    raise SceneSpecError(
        "object", f"unknown object {value!r}: use {CLPR_OBJECT}, one of {', '.join(BUILTIN_OBJECTS)}, or mesh:PATH"
    )


def check_size(value: object) -> int:
    """An image side in px, MIN_SIZE..MAX_SIZE."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Integral)
        or not MIN_SIZE <= int(value) <= MAX_SIZE
    ):
        raise SceneSpecError("size", f"must be an image side of {MIN_SIZE}..{MAX_SIZE} px, got {_shown(value)}")
    return int(value)


def check_fov(value: object) -> float:
    """Full field of view, degrees, MIN_FOV..MAX_FOV."""
    v = _real("fov", value, "a number of degrees")
    if not (math.isfinite(v) and MIN_FOV <= v <= MAX_FOV):
        raise SceneSpecError("fov", f"must be {MIN_FOV:g}..{MAX_FOV:g} degrees, got {_shown(value)}")
    return v


def check_distance(value: object) -> float:
    """Camera distance, object units: above 1, at most MAX_DISTANCE."""
    v = _real("distance", value, "a number")
    if not (math.isfinite(v) and 1.0 < v <= MAX_DISTANCE):
        raise SceneSpecError(
            "distance",
            f"must be above 1 (the camera stays outside the object's unit sphere) and at most "
            f"{MAX_DISTANCE:g}, got {_shown(value)}",
        )
    return v


def check_light(value: object) -> tuple[float, float, float]:
    """Direction towards the light, camera frame (x right, y down, z forward), any length but 0."""
    bad = SceneSpecError("light", f"takes 3 finite numbers (x, y, z), got {_shown(value)}")
    try:
        parts = tuple(cast(Iterable[object], value))  # tuple() refuses what is not iterable
    except TypeError:
        raise bad from None
    reals = [c for c in parts if isinstance(c, numbers.Real) and not isinstance(c, (bool, np.bool_))]
    if len(parts) != 3 or len(reals) != 3:
        raise bad
    x, y, z = (float(c) for c in reals)
    if not all(math.isfinite(c) for c in (x, y, z)):
        raise bad
    if not is_direction((x, y, z)):
        raise SceneSpecError("light", NOT_A_DIRECTION)
    return (x, y, z)


def check_color(field: str, value: object) -> tuple[int, int, int]:
    """RGB, each 0..255: three integers, or the text ``#rrggbb``."""
    if isinstance(value, str):
        t = value.strip()
        try:
            if t.startswith("#") and len(t) == 7:
                return (int(t[1:3], 16), int(t[3:5], 16), int(t[5:7], 16))
        except ValueError:
            pass
        raise SceneSpecError(field, f"takes R,G,B (0..255) or #rrggbb, got {value!r}")
    try:
        channels = tuple(cast(Iterable[object], value))  # tuple() refuses what is not iterable
    except TypeError:
        raise SceneSpecError(field, f"takes R,G,B (0..255) or #rrggbb, got {_shown(value)}") from None
    ints = [c for c in channels if isinstance(c, numbers.Integral) and not isinstance(c, (bool, np.bool_))]
    if len(channels) != 3 or len(ints) != 3 or not all(0 <= int(c) <= 255 for c in ints):
        raise SceneSpecError(field, f"takes R,G,B with each an integer in 0..255, got {_shown(value)}")
    r, g, b = (int(c) for c in ints)
    return (r, g, b)


def check_switch(field: str, value: object, optional: bool = False) -> bool | None:
    """True or False (or None where ``optional``): never a string or a number."""
    if value is None and optional:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise SceneSpecError(field, f"must be True or False, got {value!r}")
    return bool(value)


def look_of(
    color: tuple[int, int, int] | None = None,
    background: tuple[int, int, int] | None = None,
    light: tuple[float, float, float] | None = None,
    antialias: bool | None = None,
    grayscale: bool = False,
) -> Look:
    """The look of checked values, each None taking the default: albedo (200, 200, 200),
    background black, light (-1, -1, -2) in the camera frame, 4x MSAA on, colour."""
    return Look(
        albedo=Look.albedo if color is None else color,
        background=Look.background if background is None else background,
        light=DEFAULT_LIGHT if light is None else light,
        antialias=True if antialias is None else antialias,
        grayscale=grayscale,
    )


@dataclass(frozen=True)
class SceneSpec:
    """What to draw and how, checked on construction (raises :class:`SceneSpecError`).

    object: ``clpr-cube`` (the 2018 cube, orthographic, flat colours), a SYMSOL solid (``tet
    cube icosa cone cyl tetX cylO sphereX``) or ``mesh:PATH`` (OBJ, OFF, PLY, STL, GLB).
    size: image side, px, 8..4096, for renderers of one size (a build takes ``--sizes``).
    Camera (objects only): fov, full field of view in degrees, 1..170 (None: 30); distance, of
    the camera from the object's origin in object units, in (1, 1000] (None: the unit sphere
    fills 90% of the width). Look (objects only, but antialias): light, the direction towards
    the light in the camera frame (x right, y down, z forward), any length but 0 (None: -1,-1,-2);
    color, the albedo, and background, RGB 0..255 each (or ``#rrggbb``; None: 200,200,200 and
    black); antialias, 4x MSAA (None: on for objects, off for the cube); grayscale, BT.601 luma
    in R, G and B. layers (objects only): also render mask and depth.

    The richer looks (objects only; docs/LOOKS.md): textures, read a mesh file's colours and
    textures (default True); lights, ``directional`` (None, the default light), ``render4cnn``,
    or point-light settings (:class:`~gpu_render.scene.lights.PointLights` or a dict of its
    fields over Render for CNN's); specular, specular_exponent: the Blinn-Phong term (0: none; 32);
    backgrounds: a folder of photographs, background_ratio the share of images given one (0..1,
    default 0.8; the rest a random grey); look_seed: the seed of every per-image choice.

    Values are normalised: sequences become tuples, numpy scalars Python numbers.
    """

    object: str = CLPR_OBJECT
    size: int = DEFAULT_SIZE
    fov: float | None = None
    distance: float | None = None
    light: tuple[float, float, float] | None = None
    color: tuple[int, int, int] | None = None
    background: tuple[int, int, int] | None = None
    antialias: bool | None = None
    grayscale: bool = False
    layers: bool = False
    textures: bool = True
    lights: Any = None
    specular: float = 0.0
    specular_exponent: float = 32.0
    backgrounds: str | None = None
    background_ratio: float | None = None
    look_seed: int = 0

    def __post_init__(self) -> None:
        checked = {
            "object": check_object(self.object),
            "size": check_size(self.size),
            "fov": None if self.fov is None else check_fov(self.fov),
            "distance": None if self.distance is None else check_distance(self.distance),
            "light": None if self.light is None else check_light(self.light),
            "color": None if self.color is None else check_color("color", self.color),
            "background": None if self.background is None else check_color("background", self.background),
            "antialias": check_switch("antialias", self.antialias, optional=True),
            "grayscale": check_switch("grayscale", self.grayscale),
            "layers": check_switch("layers", self.layers),
            "textures": check_switch("textures", self.textures),
            "lights": check_point_lights(self.lights),
            "specular": check_specular(self.specular),
            "specular_exponent": check_shininess(self.specular_exponent),
            "backgrounds": check_backgrounds(self.backgrounds),
            "background_ratio": None if self.background_ratio is None else check_ratio(self.background_ratio),
            "look_seed": check_seed(self.look_seed),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        if self.is_clpr:
            given = [name for name in OBJECT_ONLY if checked[name] not in (None, False)]
            if given:
                why = "" if given[0] == "layers" else " (orthographic, flat colours)"
                raise SceneSpecError(given[0], f"{why}; it applies to the SYMSOL solids and mesh files", conflict=True)
        if checked["background_ratio"] is not None and checked["backgrounds"] is None:
            raise SceneSpecError("background_ratio", "needs backgrounds (a folder of photographs)")
        if checked["background"] is not None and checked["backgrounds"] is not None:
            raise SceneSpecError("background", "and backgrounds exclude each other: photographs replace the colour")
        if checked["light"] is not None and checked["lights"] is not None:
            raise SceneSpecError("light", "sets the directional light; it makes no sense with point lights")

    @classmethod
    def create(cls, **options: Any) -> SceneSpec:
        """A spec of keyword options; an unknown keyword is a one-line SceneSpecError too."""
        names = [f.name for f in fields(cls)]
        unknown = [key for key in options if key not in names]
        if unknown:
            raise SceneSpecError(unknown[0], f"not a scene option; the scene takes {', '.join(names)}")
        return cls(**options)

    @property
    def is_clpr(self) -> bool:
        return self.object == CLPR_OBJECT

    @property
    def is_mesh_file(self) -> bool:
        return self.object.startswith(MESH_PREFIX)

    def camera(self) -> Pinhole:
        """The objects' pinhole camera (SCENES.md): fov in degrees, distance in object units."""
        return Pinhole(fov_deg=DEFAULT_FOV_DEG if self.fov is None else self.fov, distance=self.distance)

    def look(self) -> Look:
        """The objects' look, each option left out taking its default (photographs are found
        by :meth:`scene`)."""
        plain = look_of(self.color, self.background, self.light, self.antialias, self.grayscale)
        return replace(
            plain, points=self.lights, specular=self.specular, shininess=self.specular_exponent, seed=self.look_seed
        )

    def scene(self, read_mesh: MeshReader | None = None, find_photos: PhotoFinder | None = None) -> Scene:
        """The scene to draw. read_mesh reads ``mesh:PATH`` objects (the command line's
        :func:`gpu_render.cli.scene_options.read_mesh`); a file it refuses raises SceneSpecError
        naming ``object``. find_photos lists ``backgrounds`` (the command line's
        :func:`gpu_render.dataset.backgrounds.photo_catalogue`)."""
        if self.is_clpr:
            return ClprScene(antialias=bool(self.antialias))
        digest = ""
        if self.is_mesh_file:
            if read_mesh is None:
                raise TypeError("SceneSpec.scene needs read_mesh to draw a mesh file")
            try:
                path = Path(self.object[len(MESH_PREFIX) :])
                obj, digest = read_mesh(path) if self.textures else read_mesh(path, textures=False)
            except (ValueError, OSError) as exc:
                raise SceneSpecError("object", " ".join(str(exc).split())) from None
        else:
            obj = builtin_object(self.object)
        look = self.look()
        if self.backgrounds is not None:
            if find_photos is None:
                raise SceneSpecError("backgrounds", "photographs are read by the build and gpu_render.Renderer only")
            ratio = DEFAULT_BACKGROUND_RATIO if self.background_ratio is None else self.background_ratio
            look = replace(look, photos=find_photos(Path(self.backgrounds), ratio))
        return ObjectScene(obj, self.camera(), look, digest)
