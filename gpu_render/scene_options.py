"""Command-line options that choose a scene (``--object``, camera and look), shared by build,
preview and verify. Errors are one-line UsageErrors naming the option."""

from __future__ import annotations

import argparse
import hashlib
import math
from pathlib import Path
from typing import Any

from gpu_render.errors import UsageError
from gpu_render.scene.camera import DEFAULT_FOV_DEG, Pinhole
from gpu_render.scene.look import DEFAULT_LIGHT, NOT_A_DIRECTION, Look, is_direction
from gpu_render.scene.objects import SceneObject
from gpu_render.scene.scene import CLPR_OBJECT, ClprScene, ObjectScene, Scene
from gpu_render.scene.solids import BUILTIN_OBJECTS, builtin_object

#: Default image size of scene objects (the cLPR cube keeps 32,64,128,256).
OBJECT_SIZE = 224
#: Default pose source of scene objects: uniform random rotations, as SYMSOL has them.
OBJECT_POSES = "random:10000"
MAX_FOV, MIN_FOV = 170.0, 1.0
MAX_DISTANCE = 1000.0
#: Options that only scene objects take, with their argparse destinations.
OBJECT_ONLY = {"--fov": "fov", "--distance": "distance", "--light": "light", "--color": "color",
               "--background": "background", "--grayscale": "grayscale"}


def _floats(text: str, count: int, what: str) -> tuple[float, ...]:
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes {count} numbers separated by commas ({what}), got {text!r}") from None
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"takes {count} finite numbers separated by commas ({what}), got {text!r}")
    return values


def light_type(text: str) -> tuple[float, float, float]:
    x, y, z = _floats(text, 3, "X,Y,Z towards the light, camera frame: x right, y down, z forward")
    if not is_direction((x, y, z)):
        raise argparse.ArgumentTypeError(NOT_A_DIRECTION)
    return (x, y, z)


def color_type(text: str) -> tuple[int, int, int]:
    """``R,G,B`` in 0..255, or ``#rrggbb``."""
    t = text.strip()
    if t.startswith("#") and len(t) == 7:
        try:
            return (int(t[1:3], 16), int(t[3:5], 16), int(t[5:7], 16))
        except ValueError:
            raise argparse.ArgumentTypeError(f"takes R,G,B (0..255) or #rrggbb, got {text!r}") from None
    try:
        values = tuple(int(p) for p in t.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes R,G,B (0..255) or #rrggbb, got {text!r}") from None
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        raise argparse.ArgumentTypeError(f"takes R,G,B with each in 0..255, got {text!r}")
    return (values[0], values[1], values[2])


def fov_type(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of degrees, got {text!r}") from None
    if not (math.isfinite(value) and MIN_FOV <= value <= MAX_FOV):
        raise argparse.ArgumentTypeError(f"must be {MIN_FOV:g}..{MAX_FOV:g} degrees, got {text!r}")
    return value


def distance_type(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (math.isfinite(value) and 1.0 < value <= MAX_DISTANCE):
        raise argparse.ArgumentTypeError(
            f"must be above 1 (the camera stays outside the object's unit sphere) and at most {MAX_DISTANCE:g}, "
            f"got {text!r}"
        )
    return value


def add_scene_arguments(p: argparse.ArgumentParser) -> None:
    """``--object`` and the camera and look options. Defaults are None: :func:`scene_from_args` decides."""
    names = " ".join(BUILTIN_OBJECTS)
    p.add_argument("--object", default=CLPR_OBJECT, metavar="NAME",
                   help=f"{CLPR_OBJECT} (default, the 2018 cube), a SYMSOL solid ({names}) or mesh:PATH "
                   "(OBJ, OFF, PLY, STL, GLB)")
    p.add_argument("--fov", type=fov_type, default=None, metavar="DEG",
                   help=f"objects: field of view, degrees (default {DEFAULT_FOV_DEG:g})")
    p.add_argument("--distance", type=distance_type, default=None, metavar="D",
                   help="objects: camera distance, object units (default: the unit sphere fills 90%% of the width)")
    p.add_argument("--light", type=light_type, default=None, metavar="X,Y,Z",
                   help="objects: direction towards the light, camera frame (default -1,-1,-2: upper left, in front)")
    p.add_argument("--color", type=color_type, default=None, metavar="R,G,B", help="objects: albedo (default 200,200,200)")
    p.add_argument("--background", type=color_type, default=None, metavar="R,G,B",
                   help="objects: background colour (default 0,0,0)")
    p.add_argument("--antialias", action=argparse.BooleanOptionalAction, default=None,
                   help="4x MSAA (default: on for objects, off for the aliased 2018 cube)")
    p.add_argument("--grayscale", action="store_true", default=None, help="objects: grey images (BT.601 luma in R, G and B)")


def scene_from_args(ns: argparse.Namespace) -> Scene:
    """The scene the parsed options ask for. Raises UsageError (one line)."""
    name = ns.object
    if name == CLPR_OBJECT:
        given = [flag for flag, dest in OBJECT_ONLY.items() if getattr(ns, dest, None) is not None]
        if given:
            raise UsageError(f"{given[0]} makes no sense for --object {CLPR_OBJECT} (orthographic, flat colours); "
                             "it applies to the SYMSOL solids and mesh files")
        return ClprScene(antialias=bool(ns.antialias))
    obj, digest = load_object(name)
    camera = Pinhole(fov_deg=DEFAULT_FOV_DEG if ns.fov is None else ns.fov, distance=ns.distance)
    return ObjectScene(obj, camera, look_from_args(ns), digest)


def look_from_args(ns: argparse.Namespace) -> Look:
    """The look the parsed options ask for (``--color``, ``--background``, ``--light``,
    ``--antialias``, ``--grayscale``), each option left out taking the look's default."""
    return Look(
        albedo=ns.color if ns.color is not None else Look.albedo,
        background=ns.background if ns.background is not None else Look.background,
        light=ns.light if ns.light is not None else DEFAULT_LIGHT,
        antialias=True if ns.antialias is None else ns.antialias,
        grayscale=bool(ns.grayscale),
    )


def load_object(name: str) -> tuple[SceneObject, str]:
    """The SceneObject ``--object name`` names and, for mesh files, the file's sha256."""
    if name.startswith("mesh:"):
        from gpu_render.dataset.mesh_files import MeshFileError, load_mesh_file

        path = Path(name[len("mesh:"):])
        try:
            obj = load_mesh_file(path)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except (MeshFileError, OSError) as exc:
            raise UsageError(f"argument --object: {exc}") from None
        return obj, digest
    if name in BUILTIN_OBJECTS:
        return builtin_object(name), ""
    raise UsageError(
        f"argument --object: unknown object {name!r}: use {CLPR_OBJECT}, one of {', '.join(BUILTIN_OBJECTS)}, "
        "or mesh:PATH"
    )


def scene_from_description(desc: dict[str, Any], antialias: bool) -> Scene:
    """Rebuild the scene a manifest describes (verify, resume checks). Raises UsageError."""
    name = desc.get("object") or CLPR_OBJECT
    if name == CLPR_OBJECT:
        return ClprScene(antialias=antialias)
    obj, digest = load_object(name)
    if desc.get("object_sha256") and digest != desc["object_sha256"]:
        raise UsageError(f"{name[5:]} is not the mesh file the dataset was built from (sha256 differs)")
    camera = Pinhole(fov_deg=float(desc["fov"]), distance=float(desc["distance"]))
    look = Look(albedo=tuple(desc["color"]), background=tuple(desc["background"]),  # type: ignore[arg-type]
                light=tuple(desc["light"]), antialias=antialias, grayscale=bool(desc["grayscale"]))  # type: ignore[arg-type]
    return ObjectScene(obj, camera, look, digest)


def parse_scene(argv: list[str]) -> Scene:
    """The scene that ``argv`` (scene options only, e.g. ``["--object", "cylO"]``) asks for, parsed
    exactly as build and preview parse them. Raises UsageError."""
    from gpu_render.arg_types import Parser

    p = Parser(prog="scene")
    add_scene_arguments(p)
    return scene_from_args(p.parse_args(argv))
