"""``python -m gpu_render.build --preset NAME ...``: its own options, parsed into the same
:class:`~gpu_render.engines.job.BuildJob` as every build.

Bad input ends with one line naming the problem and exit status 2 (as the build's own errors).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from gpu_render.cli.arg_types import Parser, at_least, shard_type, sizes_type
from gpu_render.cli.render4cnn_options import add_render4cnn_arguments, check_not_render4cnn, render4cnn_job
from gpu_render.cli.scene_options import color_type, distance_type, fov_type, light_type, look_from_args
from gpu_render.dataset.layouts.modelnet import MODELNET10_CATEGORIES, MODELNET_VIEWS
from gpu_render.dataset.layouts.symsol import PRESET_SIZE, SYMSOL_BATCH, SYMSOL_SHAPES, SYMSOL_VIEWS
from gpu_render.engines.api import ENGINES, make_preset_job
from gpu_render.engines.job import PRESETS, BuildJob
from gpu_render.scene.camera import DEFAULT_FOV_DEG
from gpu_render.scene.look import Look


def views_type(text: str) -> tuple[int, int]:
    """``TRAIN,TEST``: two integers >= 1."""
    parts = text.split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes TRAIN,TEST (two integers), got {text!r}") from None
    if len(values) != 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"takes TRAIN,TEST, two integers of at least 1, got {text!r}")
    return (values[0], values[1])


def names_type(allowed: tuple[str, ...], what: str) -> Callable[[str], tuple[str, ...]]:
    """An argparse type: a comma-separated subset of ``allowed``, returned in ``allowed``'s order."""

    def parse(text: str) -> tuple[str, ...]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {unknown[0]!r}; use some of {','.join(allowed)}" if unknown else f"names no {what}"
            )
        return tuple(n for n in allowed if n in names)

    return parse


def preset_parser() -> Parser:
    p = Parser(
        module="gpu_render.build",
        description="Write a benchmark dataset in the layout its own loaders read (docs/FORMATS.md).",
        epilog="examples: python -m gpu_render.build --preset symsol --out data/symsol  |  "
        "python -m gpu_render.build --preset symsol --views 2000,200 --sizes 64 --shapes cube,cylO  |  "
        "python -m gpu_render.build --preset modelnet10-so3 --meshes ModelNet10 --out data/ModelNet10-SO3  |  "
        "python -m gpu_render.build --preset render4cnn --meshes ShapeNetCore.v2 --backgrounds SUN2012/JPEGImages",
    )
    p.add_argument("--preset", required=True, choices=PRESETS)
    p.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="output folder (default ./symsol or ./ModelNet10-SO3)"
    )
    p.add_argument(
        "--views",
        type=views_type,
        default=None,
        metavar="TRAIN,TEST",
        help=f"images per shape (symsol, default {SYMSOL_VIEWS[0]},{SYMSOL_VIEWS[1]}) or views per CAD "
        f"model (modelnet10-so3, default {MODELNET_VIEWS[0]},{MODELNET_VIEWS[1]}; train_TESTV, the first TEST "
        "views of each training model, only when TRAIN > TEST, else limited_train is train_TRAINV)",
    )
    p.add_argument(
        "--sizes",
        type=sizes_type,
        default=(PRESET_SIZE,),
        metavar="S",
        help=f"image side, px (one size; default {PRESET_SIZE})",
    )
    p.add_argument("--seed", type=at_least(0), default=0, metavar="N", help="seed of the rotations (default 0)")
    p.add_argument(
        "--workers",
        type=at_least(1, 1024),
        default=os.cpu_count() or 1,
        metavar="N",
        help="encoder processes (default: cores)",
    )
    p.add_argument(
        "--device",
        type=at_least(0),
        default=0,
        metavar="N",
        help="GPU N in CUDA numbering, as the build's --device (default 0)",
    )
    p.add_argument(
        "--shard",
        type=shard_type,
        default=None,
        metavar="K/N",
        help="build only shard K of N (K/N, 0-based); a plain run of the same options then seals it",
    )
    p.add_argument("--engine", choices=ENGINES, default="local", help="local, or ray: the build's Ray engine")
    p.add_argument("--ray-address", default=None, metavar="HOST:PORT", help="--engine ray: the cluster to join")
    p.add_argument(
        "--worker-cpus",
        type=at_least(1, 1024),
        default=None,
        metavar="N",
        help="--engine ray: CPUs per worker, its render process plus its encoders",
    )
    g = p.add_argument_group("symsol")
    g.add_argument(
        "--shapes",
        type=names_type(SYMSOL_SHAPES, "shape"),
        default=None,
        metavar="A,B,...",
        help=f"a subset of {','.join(SYMSOL_SHAPES)} (default all eight)",
    )
    g.add_argument(
        "--batch", type=at_least(1), default=None, metavar="N", help=f"images per chunk (default {SYMSOL_BATCH})"
    )
    g.add_argument(
        "--fov", type=fov_type, default=None, metavar="DEG", help=f"field of view (default {DEFAULT_FOV_DEG:g})"
    )
    g.add_argument("--distance", type=distance_type, default=None, metavar="D", help="camera distance")
    g.add_argument("--light", type=light_type, default=None, metavar="X,Y,Z", help="towards the light, camera frame")
    g.add_argument("--color", type=color_type, default=None, metavar="R,G,B", help="albedo (default 200,200,200)")
    g.add_argument("--background", type=color_type, default=None, metavar="R,G,B", help="background (default 0,0,0)")
    g.add_argument("--antialias", action=argparse.BooleanOptionalAction, default=None, help="4x MSAA (default on)")
    g.add_argument("--grayscale", action="store_true", default=None, help="grey images (still RGB PNG)")
    m = p.add_argument_group("modelnet10-so3")
    m.add_argument(
        "--meshes",
        type=Path,
        default=None,
        metavar="DIR",
        help="the ModelNet10 tree: DIR/{category}/{train,test}/{category}_{NNNN}.off; render4cnn: a "
        "ShapeNetCore v1 or v2 tree, DIR/{synset}/{md5}/model.obj or .../models/model_normalized.obj",
    )
    m.add_argument(
        "--categories",
        type=names_type(MODELNET10_CATEGORIES, "category"),
        default=None,
        metavar="A,B,...",
        help="a subset of the ten categories (default all)",
    )
    add_render4cnn_arguments(p)
    return p


def parse_preset_args(argv: list[str]) -> BuildJob:
    """Parse ``--preset`` arguments. Raises UsageError with a one-line message."""
    ns = preset_parser().parse_args(argv)
    if ns.preset == "render4cnn":
        return render4cnn_job(ns)
    check_not_render4cnn(ns)
    look = look_from_args(ns) if ns.preset == "symsol" else Look()
    options = {k: v for k, v in vars(ns).items() if k not in ("preset", "out")}
    return make_preset_job(ns.preset, ns.out, look, **options)
