"""Build options: parsing and validation, with one-line errors for bad input."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from gpu_render.cli.arg_types import Parser, at_least, fraction_type, shard_type, sizes_type, step_type
from gpu_render.cli.look_options import look_options
from gpu_render.cli.scene_options import OBJECT_POSES, OBJECT_SIZE, add_scene_arguments, look_from_args, scene_from_args
from gpu_render.dataset.imagenet3d_tree import DEFAULT_VAL_FRACTION
from gpu_render.dataset.layouts.modelnet import MODELNET10_CATEGORIES, MODELNET_VIEWS
from gpu_render.dataset.layouts.symsol import SYMSOL_BATCH, SYMSOL_SHAPES, SYMSOL_VIEWS
from gpu_render.engines.api import ENGINES, FORMATS, IMAGE_FORMATS, LAYOUTS, SCENE, make_job, make_preset_job
from gpu_render.engines.job import DEFAULT_BATCH, PRESETS, BuildJob
from gpu_render.errors import UsageError
from gpu_render.scene.look import Look
from gpu_render.scene.scene import CLPR_OBJECT

#: More encoder processes than this are refused (a slot never splits into more pieces than poses).
MAX_WORKERS = 1024

#: The build job of a command line (the library's :class:`~gpu_render.engines.job.BuildJob`).
BuildOptions = BuildJob


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        module="gpu_render.build",
        description="Render a pose dataset on the GPU: the cLPR cube (images + N x 8 x 6 labels) or any --object, "
        "shaded and in perspective (images + poses.npz labels).",
        epilog="examples: python -m gpu_render.build   (the full 2018 set into ./clpr)  |  "
        "python -m gpu_render.build --step 0.3 --format npy --sizes 64 --out clpr64  |  "
        "python -m gpu_render.build --poses so3-grid:3 --out so3grid  |  "
        "python -m gpu_render.build --object cylO --poses random:5000 --sizes 224  |  "
        "python -m gpu_render.build --object mesh:chair.off --format png",
    )
    p.add_argument(
        "--poses",
        default=None,
        metavar="SOURCE",
        help="clpr, so3-grid:L, random:N[:SEED] or file:PATH (.npy of N x 3 Euler, "
        f"N x 4 quaternions or N x 3 x 3 matrices); default clpr for the cube, {OBJECT_POSES} for objects",
    )
    p.add_argument(
        "--step",
        type=step_type,
        default=None,
        metavar="S",
        help="clpr grid step in radians (default 0.1: 250047 poses)",
    )
    p.add_argument(
        "--sizes",
        type=sizes_type,
        default=None,
        metavar="A,B,...",
        help=f"image sizes, px (default 32,64,128,256 for the cube, {OBJECT_SIZE} for objects)",
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="jpg (the default; quality 100, 4:4:4), png, npy, or wds (WebDataset tar shards OUT/SIZE/shard-K.tar)",
    )
    p.add_argument(
        "--layout",
        choices=LAYOUTS,
        default=None,
        help="flat (the default: OUT/SIZE/...) or imagenet3d (OUT/images/CLASS/, OUT/annotations/CLASS/, "
        "OUT/lists/ and OUT/CAD/CLASS/, as ImageNet3D's tools read them; objects, one size, jpg)",
    )
    p.add_argument(
        "--val-fraction",
        type=fraction_type,
        default=None,
        metavar="F",
        help=f"--layout imagenet3d: share of poses in the val list, in [0, 1) (default {DEFAULT_VAL_FRACTION:g})",
    )
    p.add_argument(
        "--image-format",
        choices=IMAGE_FORMATS,
        default=None,
        help="--format wds: the shards' image encoding (default jpg)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="output folder (default ./clpr for the cube, ./NAME for an object, ./mesh-STEM for a mesh file)",
    )
    p.add_argument("--limit", type=at_least(1), default=None, metavar="N", help="build only the first N poses")
    p.add_argument(
        "--batch",
        type=at_least(1),
        default=None,
        metavar="N",
        help=f"poses per chunk (default {DEFAULT_BATCH}; --preset symsol: {SYMSOL_BATCH})",
    )
    p.add_argument(
        "--device",
        type=at_least(0),
        default=0,
        metavar="N",
        help="GPU: the CUDA device N's EGL device (EGL_CUDA_DEVICE_NV), else EGL device N (default 0)",
    )
    add_scene_arguments(p)
    p.add_argument(
        "--layers",
        action="store_true",
        default=None,
        help="objects: also write mask_{S}.npy (uint8, 255 on the object) and depth_{S}.npy "
        "(float32 camera z, 0 on the background)",
    )
    p.add_argument(
        "--workers",
        type=at_least(1, MAX_WORKERS),
        default=os.cpu_count() or 1,
        metavar="N",
        help="encoder processes (default: cores)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a dataset in OUT built with other options")
    p.add_argument(
        "--shard",
        type=shard_type,
        default=None,
        metavar="K/N",
        help="build only shard K of N (K/N, 0-based); jpg, png and wds",
    )
    p.add_argument(
        "--preset",
        choices=PRESETS,
        default=None,
        help="write a benchmark's own layout instead: SYMSOL (image2sphere) or ModelNet10-SO3 "
        "(LMDB, with --meshes DIR); one size; --views, --seed and, for symsol, --shapes and the look, "
        "for modelnet10-so3 --meshes and --categories",
    )
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local: this machine's --device; ray: one worker per GPU of a Ray cluster (pip install 'gpu_render[ray]')",
    )
    p.add_argument(
        "--ray-address",
        default=None,
        metavar="HOST:PORT",
        help="--engine ray: the cluster to join (default $RAY_ADDRESS, else a local Ray instance)",
    )
    p.add_argument(
        "--worker-cpus",
        type=at_least(1, MAX_WORKERS),
        default=None,
        metavar="N",
        help="--engine ray: CPUs per worker, its render process plus its encoders "
        "(default: the cluster's CPUs per GPU; 2 on a CPU-only cluster)",
    )
    add_preset_arguments(p)
    return p


def add_preset_arguments(p: argparse.ArgumentParser) -> None:
    """The options only ``--preset`` takes."""
    g = p.add_argument_group("--preset symsol and modelnet10-so3")
    g.add_argument(
        "--views",
        type=views_type,
        default=None,
        metavar="TRAIN,TEST",
        help=f"images per shape (symsol, default {SYMSOL_VIEWS[0]},{SYMSOL_VIEWS[1]}) or views per CAD "
        f"model (modelnet10-so3, default {MODELNET_VIEWS[0]},{MODELNET_VIEWS[1]}; train_TESTV, the first TEST "
        "views of each training model, only when TRAIN > TEST, else limited_train is train_TRAINV)",
    )
    g.add_argument("--seed", type=at_least(0), default=None, metavar="N", help="seed of the rotations (default 0)")
    g.add_argument(
        "--shapes",
        type=names_type(SYMSOL_SHAPES, "shape"),
        default=None,
        metavar="A,B,...",
        help=f"symsol: a subset of {','.join(SYMSOL_SHAPES)} (default all eight)",
    )
    g.add_argument(
        "--meshes",
        type=Path,
        default=None,
        metavar="DIR",
        help="modelnet10-so3: the ModelNet10 tree, DIR/{category}/{train,test}/{category}_{NNNN}.off",
    )
    g.add_argument(
        "--categories",
        type=names_type(MODELNET10_CATEGORIES, "category"),
        default=None,
        metavar="A,B,...",
        help="modelnet10-so3: a subset of the ten categories (default all)",
    )


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


#: Options of scene builds only, by argparse destination: ``--preset`` refuses them.
BUILD_ONLY = ("poses", "step", "format", "layout", "val_fraction", "image_format", "limit", "layers", "overwrite")
PRESET_ONLY = ("views", "seed", "shapes", "meshes", "categories")


def parse_build_args(argv: list[str] | None = None) -> BuildJob:
    """Parse command-line arguments (``--preset NAME`` too); raises UsageError with a one-line message."""
    ns = build_parser().parse_args(argv)
    options = vars(ns)
    if ns.preset is not None:
        given = [k for k in BUILD_ONLY if options[k] not in (None, False)] + list(look_options(ns))
        given += ["object"] if ns.object != CLPR_OBJECT else []
        if given:
            raise UsageError(f"--{given[0].replace('_', '-')} makes no sense for --preset {ns.preset}")
        look = look_from_args(ns) if ns.preset == "symsol" else Look()
        return make_preset_job(
            ns.preset, ns.out, look, **{k: v for k, v in options.items() if k not in ("preset", "out")}
        )
    given = [k for k in PRESET_ONLY if options[k] is not None]
    if given:
        raise UsageError(f"--{given[0]} applies to --preset only")
    scene = scene_from_args(ns)
    return make_job(scene, **{k: v for k, v in options.items() if k not in SCENE and k != "preset"})
