"""Build options: parsing and validation, with one-line errors for bad input."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from gpu_render.cli.arg_types import Parser, at_least, fraction_type, shard_type, sizes_type, step_type
from gpu_render.cli.scene_options import OBJECT_POSES, OBJECT_SIZE, add_scene_arguments, scene_from_args
from gpu_render.dataset.imagenet3d_tree import DEFAULT_VAL_FRACTION
from gpu_render.engines.api import ENGINES, FORMATS, IMAGE_FORMATS, LAYOUTS, SCENE, make_job
from gpu_render.engines.job import DEFAULT_BATCH, PRESETS, BuildJob

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
        default="jpg",
        help="jpg (quality 100, 4:4:4), png, npy, or wds (WebDataset tar shards OUT/SIZE/shard-K.tar)",
    )
    p.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="flat",
        help="flat (OUT/SIZE/...) or imagenet3d (OUT/images/CLASS/, OUT/annotations/CLASS/, "
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
        "--batch", type=at_least(1), default=DEFAULT_BATCH, metavar="N", help="poses per chunk (default 512)"
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
        "(LMDB, with --meshes DIR); its own options: --preset NAME --help",
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
    return p


def parse_build_args(argv: list[str] | None = None) -> BuildJob:
    """Parse command-line arguments; raises UsageError with a one-line message."""
    ns = vars(build_parser().parse_args(argv))
    scene = scene_from_args(argparse.Namespace(**ns))
    return make_job(scene, **{k: v for k, v in ns.items() if k not in SCENE and k != "preset"})
