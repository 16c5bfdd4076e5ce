"""``python -m gpu_render.build --preset NAME ...``: its own options, parsed into the same
:class:`~gpu_render.engines.job.BuildJob` as every build.

Bad input ends with one line naming the problem and exit status 2 (as the build's own errors).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from gpu_render.cli.arg_types import MAX_POSES, Parser, at_least, shard_type, sizes_type
from gpu_render.cli.scene_options import color_type, distance_type, fov_type, light_type, look_from_args
from gpu_render.dataset.layouts.modelnet import MODELNET10_CATEGORIES, MODELNET_VIEWS, ModelNetSpec
from gpu_render.dataset.layouts.symsol import PRESET_SIZE, SYMSOL_BATCH, SYMSOL_SHAPES, SYMSOL_VIEWS, SymsolSpec
from gpu_render.engines.job import PRESETS, BuildJob
from gpu_render.errors import UsageError
from gpu_render.scene.camera import DEFAULT_FOV_DEG, Pinhole

#: Options only --preset symsol takes, with their argparse destinations.
SYMSOL_ONLY = {
    "--shapes": "shapes",
    "--fov": "fov",
    "--distance": "distance",
    "--light": "light",
    "--color": "color",
    "--background": "background",
    "--antialias": "antialias",
    "--grayscale": "grayscale",
    "--batch": "batch",
}
MODELNET_ONLY = {"--meshes": "meshes", "--categories": "categories"}
ENGINES = ("local", "ray")
#: ModelNet10-SO3's keys end in .v{view:03d}.
MAX_VIEWS_PER_MODEL = 999


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
        "python -m gpu_render.build --preset modelnet10-so3 --meshes ModelNet10 --out data/ModelNet10-SO3",
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
        help="the ModelNet10 tree: DIR/{category}/{train,test}/{category}_{NNNN}.off",
    )
    m.add_argument(
        "--categories",
        type=names_type(MODELNET10_CATEGORIES, "category"),
        default=None,
        metavar="A,B,...",
        help="a subset of the ten categories (default all)",
    )
    return p


def parse_preset_args(argv: list[str]) -> BuildJob:
    """Parse ``--preset`` arguments. Raises UsageError with a one-line message."""
    parser = preset_parser()
    ns = parser.parse_args(argv)
    if ns.engine == "ray" and ns.shard is not None:
        parser.error("--shard cannot be combined with --engine ray: Ray spreads the chunks over its workers itself")
    if ns.engine != "ray" and (ns.ray_address is not None or ns.worker_cpus is not None):
        parser.error("--ray-address and --worker-cpus need --engine ray")
    run = {
        "workers": ns.workers,
        "device": ns.device,
        "shard": ns.shard,
        "engine": ns.engine,
        "ray_address": ns.ray_address,
        "worker_cpus": ns.worker_cpus,
    }
    if len(ns.sizes) != 1:
        raise UsageError(f"argument --sizes: --preset {ns.preset} writes one image size, got {len(ns.sizes)}")
    size = ns.sizes[0]
    if ns.preset == "symsol":
        _refuse(ns, MODELNET_ONLY, "symsol")
        views = ns.views or SYMSOL_VIEWS
        total = sum(views) * len(ns.shapes or SYMSOL_SHAPES)
        if total > MAX_POSES:
            raise UsageError(f"argument --views: {total} images in all; at most {MAX_POSES} are supported")
        look = look_from_args(ns)
        spec = SymsolSpec(
            shapes=ns.shapes or SYMSOL_SHAPES,
            views=views,
            size=size,
            seed=ns.seed,
            camera=Pinhole(fov_deg=DEFAULT_FOV_DEG if ns.fov is None else ns.fov, distance=ns.distance),
            look=look,
            batch=ns.batch or SYMSOL_BATCH,
        )
        return BuildJob(out=ns.out if ns.out is not None else Path("symsol"), batch=spec.batch, preset=spec, **run)
    _refuse(ns, SYMSOL_ONLY, "modelnet10-so3")
    if ns.meshes is None:
        raise UsageError(
            "--preset modelnet10-so3 needs --meshes DIR, the ModelNet10 tree "
            "(DIR/{category}/{train,test}/{category}_{NNNN}.off)"
        )
    if max(ns.views or MODELNET_VIEWS) > MAX_VIEWS_PER_MODEL:
        raise UsageError(f"argument --views: at most {MAX_VIEWS_PER_MODEL} views per model (keys are .v001 .. .v999)")
    models = ModelNetSpec(
        meshes=ns.meshes,
        categories=ns.categories or MODELNET10_CATEGORIES,
        views=ns.views or MODELNET_VIEWS,
        size=size,
        seed=ns.seed,
    )
    out = ns.out if ns.out is not None else Path("ModelNet10-SO3")
    return BuildJob(out=out, batch=max(models.views), preset=models, **run)


def _refuse(ns: argparse.Namespace, only: dict[str, str], preset: str) -> None:
    for flag, dest in only.items():
        if getattr(ns, dest) is not None:
            raise UsageError(f"{flag} makes no sense for --preset {preset}")
