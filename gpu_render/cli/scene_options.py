"""Command-line options that choose a scene (``--object``, camera and look), shared by build,
preview and verify: a thin adapter that parses the options' text into a
:class:`~gpu_render.scene.spec.SceneSpec`, which alone decides what is accepted. Errors are
one-line UsageErrors naming the option with its ``--``."""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from gpu_render.cli.look_options import add_look_arguments, find_photos, look_from_description, look_options
from gpu_render.errors import UsageError
from gpu_render.scene.camera import DEFAULT_FOV_DEG
from gpu_render.scene.look import Look
from gpu_render.scene.objects import SceneObject
from gpu_render.scene.scene import CLPR_OBJECT, Scene
from gpu_render.scene.solids import BUILTIN_OBJECTS
from gpu_render.scene.spec import (
    DEFAULT_SIZE,
    MAX_DISTANCE,
    MAX_FOV,
    MIN_FOV,
    SceneSpec,
    SceneSpecError,
    check_color,
    check_distance,
    check_fov,
    check_light,
    look_of,
)

__all__ = [
    "MAX_DISTANCE",
    "MAX_FOV",
    "MIN_FOV",
    "OBJECT_POSES",
    "OBJECT_SIZE",
    "add_scene_arguments",
    "cli_message",
    "look_from_args",
    "parse_scene",
    "read_mesh",
    "scene_from_args",
    "scene_from_description",
    "scene_of",
    "spec_from_args",
]

#: Default image size of scene objects (the cLPR cube keeps 32,64,128,256).
OBJECT_SIZE = DEFAULT_SIZE
#: Default pose source of scene objects: uniform random rotations, as SYMSOL has them.
OBJECT_POSES = "random:10000"

T = TypeVar("T")


def cli_message(exc: SceneSpecError) -> str:
    """A spec's refusal as the command line words it: ``argument --fov: ...`` for a bad value
    (argparse's own form), ``--fov makes no sense for --object clpr-cube ...`` for a conflict."""
    return exc.spelled("--") if exc.conflict else f"argument {exc.spelled('--')}"


def _checked(check: Callable[[Any], T], value: Any) -> T:
    try:
        return check(value)
    except SceneSpecError as exc:  # argparse prefixes "argument --NAME: "
        raise argparse.ArgumentTypeError(exc.reason) from None


def _floats(text: str, count: int, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes {count} numbers separated by commas ({what}), got {text!r}") from None


def light_type(text: str) -> tuple[float, float, float]:
    values = _floats(text, 3, "X,Y,Z towards the light, camera frame: x right, y down, z forward")
    return _checked(check_light, values)


def color_type(text: str) -> tuple[int, int, int]:
    """``R,G,B`` in 0..255, or ``#rrggbb``."""
    t = text.strip()
    if t.startswith("#"):
        return _checked(lambda v: check_color("color", v), t)
    try:
        values = tuple(int(p) for p in t.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes R,G,B (0..255) or #rrggbb, got {text!r}") from None
    return _checked(lambda v: check_color("color", v), values)


def fov_type(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of degrees, got {text!r}") from None
    return _checked(check_fov, value)


def distance_type(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    return _checked(check_distance, value)


def add_scene_arguments(p: argparse.ArgumentParser) -> None:
    """``--object`` and the camera and look options. Defaults are None: the spec decides."""
    names = " ".join(BUILTIN_OBJECTS)
    p.add_argument(
        "--object",
        default=CLPR_OBJECT,
        metavar="NAME",
        help=f"{CLPR_OBJECT} (default, the 2018 cube), a SYMSOL solid ({names}) or mesh:PATH (OBJ, OFF, PLY, STL, GLB)",
    )
    p.add_argument(
        "--fov",
        type=fov_type,
        default=None,
        metavar="DEG",
        help=f"objects: field of view, degrees (default {DEFAULT_FOV_DEG:g})",
    )
    p.add_argument(
        "--distance",
        type=distance_type,
        default=None,
        metavar="D",
        help="objects: camera distance, object units (default: the unit sphere fills 90%% of the width)",
    )
    p.add_argument(
        "--light",
        type=light_type,
        default=None,
        metavar="X,Y,Z",
        help="objects: direction towards the light, camera frame (default -1,-1,-2: upper left, in front)",
    )
    p.add_argument(
        "--color", type=color_type, default=None, metavar="R,G,B", help="objects: albedo (default 200,200,200)"
    )
    p.add_argument(
        "--background",
        type=color_type,
        default=None,
        metavar="R,G,B",
        help="objects: background colour (default 0,0,0)",
    )
    p.add_argument(
        "--antialias",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="4x MSAA (default: on for objects, off for the aliased 2018 cube)",
    )
    p.add_argument(
        "--grayscale", action="store_true", default=None, help="objects: grey images (BT.601 luma in R, G and B)"
    )
    add_look_arguments(p)


def spec_from_args(ns: argparse.Namespace) -> SceneSpec:
    """The spec of parsed options (``layers`` where the command has ``--layers``). Raises
    UsageError (one line, the options spelled with ``--``)."""
    try:
        return SceneSpec(
            object=ns.object,
            fov=ns.fov,
            distance=ns.distance,
            light=ns.light,
            color=ns.color,
            background=ns.background,
            antialias=ns.antialias,
            grayscale=bool(ns.grayscale),
            layers=bool(getattr(ns, "layers", None)),
            **look_options(ns),
        )
    except SceneSpecError as exc:
        raise UsageError(cli_message(exc)) from None


def scene_of(spec: SceneSpec) -> Scene:
    """The scene of ``spec``, mesh files read by :func:`read_mesh`. Raises UsageError (one
    line, command-line spelling)."""
    try:
        return spec.scene(read_mesh, find_photos)
    except SceneSpecError as exc:
        raise UsageError(cli_message(exc)) from None


def scene_from_args(ns: argparse.Namespace) -> Scene:
    """The scene the parsed options ask for. Raises UsageError (one line)."""
    return scene_of(spec_from_args(ns))


def look_from_args(ns: argparse.Namespace) -> Look:
    """The look the parsed options ask for (``--color``, ``--background``, ``--light``,
    ``--antialias``, ``--grayscale``), each option left out taking the look's default."""
    return look_of(ns.color, ns.background, ns.light, ns.antialias, bool(ns.grayscale))


def read_mesh(path: Path, textures: bool = True) -> tuple[SceneObject, str]:
    """The normalised object of the mesh file at ``path`` (with its colours and textures unless
    ``textures`` is False) and the file's sha256 (hex). Raises a one-line ValueError
    (MeshFileError) or OSError for a file that cannot be used."""
    from gpu_render.dataset.mesh_files import load_mesh_file  # trimesh: loaded for mesh files only

    obj = load_mesh_file(path, textures=textures)
    return obj, hashlib.sha256(path.read_bytes()).hexdigest()


def scene_from_description(desc: dict[str, Any], antialias: bool) -> Scene:
    """Rebuild the scene a manifest describes (verify, resume checks). Raises UsageError."""
    name = desc.get("object") or CLPR_OBJECT
    if name == CLPR_OBJECT:
        return scene_of(SceneSpec(antialias=antialias))
    try:
        spec = SceneSpec(
            object=name,
            fov=float(desc["fov"]),
            distance=float(desc["distance"]),
            light=None if "point_lights" in desc else tuple(desc["light"]),
            color=tuple(desc["color"]),  # type: ignore[arg-type]
            background=None if "backgrounds" in desc else tuple(desc["background"]),
            antialias=antialias,  # type: ignore[arg-type]
            grayscale=bool(desc["grayscale"]),
            **look_from_description(desc),
        )
    except (SceneSpecError, KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"the manifest's scene is not one a build makes: {exc}") from None
    scene = scene_of(spec)
    digest = getattr(scene, "source_sha256", "")
    if desc.get("object_sha256") and digest != desc["object_sha256"]:
        raise UsageError(f"{name[5:]} is not the mesh file the dataset was built from (sha256 differs)")
    drawn = scene.describe()
    for key, what in (("surface", "its colours and textures"), ("backgrounds", "the background photographs")):
        if key in desc and drawn.get(key) != desc[key]:
            raise UsageError(f"{what} are not those the dataset was built from (sha256 differs)")
    return scene


def parse_scene(argv: list[str]) -> Scene:
    """The scene that ``argv`` (scene options only, e.g. ``["--object", "cylO"]``) asks for, parsed
    exactly as build and preview parse them. Raises UsageError."""
    from gpu_render.cli.arg_types import Parser

    p = Parser(prog="scene")
    add_scene_arguments(p)
    return scene_from_args(p.parse_args(argv))
