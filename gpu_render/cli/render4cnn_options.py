"""``python -m gpu_render.build --preset render4cnn ...``: its own options (docs/RENDER4CNN.md),
parsed into a :class:`~gpu_render.engines.job.BuildJob` of a
:class:`~gpu_render.dataset.layouts.render4cnn.Render4cnnSpec`."""

from __future__ import annotations

import argparse

from gpu_render.cli.look_options import number_type
from gpu_render.dataset.layouts.render4cnn import DEFAULT_VIEWS_PER_MODEL
from gpu_render.dataset.layouts.symsol import PRESET_SIZE
from gpu_render.engines.api import check_run, run_options
from gpu_render.engines.job import BuildJob
from gpu_render.engines.render4cnn_job import RENDER4CNN_OPTIONS, make_render4cnn_job
from gpu_render.errors import UsageError
from gpu_render.scene.look_spec import DIRECTIONAL, LIGHT_RIGS
from gpu_render.scene.spec import DEFAULT_BACKGROUND_RATIO

#: Options of the other presets that --preset render4cnn refuses.
OTHERS = ("views", "shapes", "batch", "fov", "distance", "light", "color", "background", "grayscale", "antialias")
OTHERS_TOO = ("categories",)
#: Its own options, which the other presets refuse.
OWN = tuple(name for name in RENDER4CNN_OPTIONS if name not in ("meshes", "seed"))
OWN_TOO = ("textures",)


def add_render4cnn_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("render4cnn (with --meshes, a ShapeNetCore tree)")
    g.add_argument(
        "--synsets", default=None, metavar="A,B,...", help="synset ids or PASCAL3D+ class names (default all twelve)"
    )
    g.add_argument(
        "--views-per-model",
        type=int,
        default=None,
        metavar="N",
        help=f"images per model (default {DEFAULT_VIEWS_PER_MODEL})",
    )
    g.add_argument(
        "--viewpoints",
        default=None,
        metavar="SOURCE",
        help="uniform (default), uniform:E0,E1:T0,T1:D0,D1, or file:PATH of rows azimuth elevation theta distance",
    )
    g.add_argument(
        "--truncation",
        default=None,
        metavar="SOURCE",
        help="normal[:SIGMA] (default normal:0.1), none, or file:PATH of rows left right top bottom",
    )
    g.add_argument(
        "--lights",
        choices=(*LIGHT_RIGS, DIRECTIONAL),
        default=None,
        help="render4cnn (default): 0-6 random point lights and an ambient term per image; directional: one light",
    )
    g.add_argument("--backgrounds", default=None, metavar="DIR", help="photographs (.jpg/.png, searched recursively)")
    g.add_argument(
        "--background-ratio",
        type=number_type,
        default=None,
        metavar="F",
        help="share of images over a photograph, the rest over a uniform random grey "
        f"(default {DEFAULT_BACKGROUND_RATIO})",
    )
    g.add_argument(
        "--no-textures", dest="textures", action="store_false", default=None, help="draw the meshes without textures"
    )


def check_not_render4cnn(ns: argparse.Namespace) -> None:
    """Refuse render4cnn's own options for another preset."""
    given = [name for name in (*OWN, *OWN_TOO) if getattr(ns, name, None) is not None]
    if given:
        raise UsageError(f"--{given[0].replace('_', '-')} applies to --preset render4cnn only")


def render4cnn_job(ns: argparse.Namespace) -> BuildJob:
    """The job of ``--preset render4cnn``. Raises UsageError with a one-line message."""
    o = vars(ns)
    given = [name for name in (*OTHERS, *OTHERS_TOO) if o.get(name) is not None]
    if given:
        raise UsageError(f"--{given[0].replace('_', '-')} makes no sense for --preset render4cnn")
    if ns.sizes != (PRESET_SIZE,):
        raise UsageError("--sizes makes no sense for --preset render4cnn: its images are crops of the object")
    check_run(o)
    return make_render4cnn_job(ns.out, run_options(o), **{k: v for k, v in o.items() if k in RENDER4CNN_OPTIONS})
