"""Command-line options of the richer looks (docs/LOOKS.md): ``--no-textures``, ``--lights``
and the ``--light-*`` ranges, ``--ambient``, ``--specular``, ``--specular-exponent``,
``--backgrounds``, ``--background-ratio`` and ``--look-seed``, parsed into SceneSpec keywords
(:class:`~gpu_render.scene.spec.SceneSpec` alone decides what is accepted), and read back from
a manifest's scene description."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpu_render.errors import UsageError
from gpu_render.scene.backdrop import Photos
from gpu_render.scene.look_spec import DIRECTIONAL, LIGHT_RIGS


def _floats(text: str, count: int, what: str) -> tuple[float, ...]:
    try:
        return tuple(float(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes {count} numbers separated by commas ({what}), got {text!r}") from None


def range_type(integer: bool = False) -> Callable[[str], tuple[float, float]]:
    """``LO,HI`` or one value (numbers; whole numbers when ``integer``)."""

    def parse(text: str) -> tuple[float, float]:
        values = _floats(text, 2, "LO,HI, or one value")
        if len(values) not in (1, 2):
            raise argparse.ArgumentTypeError(f"takes LO,HI or one value, got {text!r}")
        if integer and not all(v.is_integer() for v in values):
            raise argparse.ArgumentTypeError(f"takes whole numbers, got {text!r}")
        return (values[0], values[-1])

    return parse


def energy_type(text: str) -> tuple[str, float, float]:
    """``LO,HI`` (uniform) or ``normal:MEAN,STD``."""
    kind, _, rest = text.partition(":") if text.startswith("normal:") else ("uniform", "", text)
    values = _floats(rest, 2, "LO,HI or normal:MEAN,STD")
    if len(values) not in (1, 2):
        raise argparse.ArgumentTypeError(f"takes LO,HI or normal:MEAN,STD, got {text!r}")
    return (kind, values[0], values[-1])


def number_type(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None


def add_look_arguments(p: argparse.ArgumentParser) -> None:
    """The richer look's options (docs/LOOKS.md). Defaults are None: the spec decides."""
    g = p.add_argument_group("looks (objects; docs/LOOKS.md)")
    g.add_argument(
        "--no-textures",
        dest="textures",
        action="store_false",
        default=None,
        help="draw mesh files in --color, without their own colours and textures",
    )
    g.add_argument(
        "--lights",
        choices=(DIRECTIONAL, *LIGHT_RIGS),
        default=None,
        help="directional (default: the single --light) or random point lights per image with "
        "render4cnn's values (0-6 lights, distance 8-20, azimuth 0-360, elevation -90-90, energy "
        "normal:2,2, ambient 0-1, fall-off 25); the --light-* and --ambient options change one of them",
    )
    for flag, what in (
        ("--light-count", "lights per image, N or LO,HI"),
        ("--light-distance", "from the object's centre, object units, LO,HI"),
        ("--light-azimuth", "degrees, LO,HI"),
        ("--light-elevation", "degrees, LO,HI"),
        ("--ambient", "the ambient (environment) term, LO,HI"),
    ):
        g.add_argument(flag, type=range_type(flag == "--light-count"), default=None, metavar="LO,HI", help=what)
    g.add_argument(
        "--light-falloff",
        type=number_type,
        default=None,
        metavar="D",
        help="fall-off D / (D + r^2) with the distance r to a light (default 25, Blender's; 0: none)",
    )
    g.add_argument(
        "--light-energy", type=energy_type, default=None, metavar="LO,HI", help="uniform LO,HI or normal:MEAN,STD"
    )
    g.add_argument("--specular", type=number_type, default=None, metavar="S", help="Blinn-Phong strength (default 0)")
    g.add_argument(
        "--specular-exponent", type=number_type, default=None, metavar="E", help="Blinn-Phong exponent (default 32)"
    )
    g.add_argument(
        "--backgrounds",
        default=None,
        metavar="DIR",
        help="photographs (.jpg/.png, searched recursively) behind the object: a random crop of a random file",
    )
    g.add_argument(
        "--background-ratio",
        type=number_type,
        default=None,
        metavar="F",
        help="share of images given a photograph, the rest a uniform random grey (default 0.8)",
    )
    g.add_argument(
        "--look-seed", type=int, default=None, metavar="N", help="seed of every per-image choice (default 0)"
    )


def lights_from_args(ns: argparse.Namespace) -> object:
    """``--lights`` with the ``--light-*`` options over it: None, a rig's name, or a dict."""
    name = getattr(ns, "lights", None)
    given: dict[str, object] = {}
    flags = []
    for option, key in _LIGHT_OPTIONS:
        value = getattr(ns, option, None)
        if value is not None:
            given[key] = value
            flags.append("--" + option.replace("_", "-"))
    energy = given.pop("energy", None)
    if isinstance(energy, tuple):
        given["energy"] = energy[1:]
        given["energy_normal"] = energy[0] == "normal"
    if not given:
        return name
    if name == DIRECTIONAL:
        raise UsageError(f"{flags[0]} sets point lights; it makes no sense with --lights directional")
    return given


_LIGHT_OPTIONS = (
    ("light_count", "count"),
    ("light_distance", "distance"),
    ("light_azimuth", "azimuth"),
    ("light_elevation", "elevation"),
    ("light_energy", "energy"),
    ("ambient", "ambient"),
    ("light_falloff", "falloff"),
)


def look_options(ns: argparse.Namespace) -> dict[str, Any]:
    """The richer look's SceneSpec keywords of parsed options (those given only)."""
    options: dict[str, Any] = {}
    lights = lights_from_args(ns)
    if lights is not None:
        options["lights"] = lights
    for name in ("specular", "specular_exponent", "backgrounds", "background_ratio", "look_seed", "textures"):
        value = getattr(ns, name, None)
        if value is not None:
            options[name] = value
    return options


def find_photos(folder: Path, ratio: float) -> Photos:
    """The photographs of ``--backgrounds`` (:func:`gpu_render.dataset.backgrounds.photo_catalogue`)."""
    from gpu_render.dataset.backgrounds import photo_catalogue

    return photo_catalogue(folder, ratio)


def look_from_description(desc: dict[str, Any]) -> dict[str, Any]:
    """The SceneSpec keywords of the richer look a manifest's scene describes."""
    options: dict[str, Any] = {"textures": "surface" in desc}
    if "point_lights" in desc:
        rig = dict(desc["point_lights"])
        kind, *energy = rig.pop("energy")
        reach = rig.pop("falloff")
        options["lights"] = {**{k: tuple(v) for k, v in rig.items()}, "energy": tuple(energy), "falloff": reach}
        options["lights"]["energy_normal"] = kind == "normal"
    if "specular" in desc:
        options["specular"], options["specular_exponent"] = desc["specular"]
    if "backgrounds" in desc:
        options["backgrounds"] = desc["backgrounds"]["root"]
        options["background_ratio"] = desc["backgrounds"]["ratio"]
    if "look_seed" in desc:
        options["look_seed"] = int(desc["look_seed"])
    return options
