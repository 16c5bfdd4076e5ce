"""Build options: parsing and validation, with one-line errors for bad input."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

from gpu_render.cli.arg_types import Parser, at_least, fraction_type, shard_type, sizes_type, source_arg, step_type
from gpu_render.cli.scene_options import OBJECT_POSES, OBJECT_SIZE, add_scene_arguments, scene_from_args
from gpu_render.dataset.imagenet3d import whole_pixel_camera
from gpu_render.dataset.imagenet3d_tree import DEFAULT_VAL_FRACTION
from gpu_render.engines.job import DEFAULT_BATCH, DEFAULT_SIZES, PRESETS, BuildJob
from gpu_render.errors import UsageError
from gpu_render.scene.scene import CLPR_OBJECT, ClprScene

FORMATS = ("jpg", "png", "npy", "wds")
#: Image encodings inside wds shards.
IMAGE_FORMATS = ("jpg", "png")
LAYOUTS = ("flat", "imagenet3d")
ENGINES = ("local", "ray")
#: Memory a build holds per pose for its labels and poses.npz (measured: ~1.35 kB at 4 sizes).
PLAN_BYTES_PER_POSE = 1500
#: More encoder processes than this are refused (a slot never splits into more pieces than poses).
MAX_WORKERS = 1024


#: The build job of a command line (the library's :class:`~gpu_render.engines.job.BuildJob`).
BuildOptions = BuildJob


def physical_memory() -> int | None:
    """Bytes of RAM on this machine, or None where the system does not say."""
    try:
        pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None
    return pages * page if pages > 0 and page > 0 else None


def check_pose_memory(count: int, what: str, per_pose: int = PLAN_BYTES_PER_POSE) -> None:
    """Refuse (UsageError) a build of ``count`` poses whose labels (``per_pose`` bytes each)
    would not fit in this machine's memory."""
    memory = physical_memory()
    need = count * per_pose
    if memory is not None and need > memory:
        raise UsageError(
            f"{what} gives {count} poses, whose labels need about {need / 2**30:.1f} GiB of memory; "
            f"this machine has {memory / 2**30:.1f} GiB (at most {memory // per_pose} poses); "
            "use --limit or fewer poses"
        )


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
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.image_format is not None and ns.format != "wds":
        parser.error(f"--image-format applies to --format wds only; --format {ns.format} already names the encoding")
    if ns.shard is not None and ns.format == "npy":
        parser.error(
            "--shard needs --format jpg or png (or wds): npy keeps one file per size, which shards cannot share"
        )
    if ns.shard is not None and ns.overwrite:
        parser.error("--overwrite cannot be combined with --shard: replace the dataset with a plain build first")
    if ns.shard is not None and ns.layers:
        parser.error(
            "--shard cannot be combined with --layers: the layers are one npy file per size, which shards cannot share"
        )
    if ns.layout == "imagenet3d":
        if ns.object == CLPR_OBJECT:
            parser.error(
                f"--layout imagenet3d needs a perspective object (a SYMSOL solid or a mesh file), "
                f"not --object {CLPR_OBJECT}"
            )
        if ns.format != "jpg":
            parser.error(f"--layout imagenet3d writes JPEG images; it cannot be combined with --format {ns.format}")
        if ns.sizes is not None and len(ns.sizes) != 1:
            parser.error("--layout imagenet3d writes one image size; give --sizes a single size")
    elif ns.val_fraction is not None:
        parser.error("--val-fraction applies to --layout imagenet3d only")
    if ns.engine == "ray" and ns.shard is not None:
        parser.error("--shard cannot be combined with --engine ray: Ray spreads the chunks over its workers itself")
    if ns.engine != "ray" and (ns.ray_address is not None or ns.worker_cpus is not None):
        parser.error("--ray-address and --worker-cpus need --engine ray")
    scene = scene_from_args(ns)
    clpr = isinstance(scene, ClprScene)
    if ns.layout == "imagenet3d":  # its viewport holds the focal length as a whole number of pixels
        scene = replace(scene, camera=whole_pixel_camera(scene.camera, (ns.sizes or (OBJECT_SIZE,))[0]))
    poses = ns.poses if ns.poses is not None else ("clpr" if clpr or ns.step is not None else OBJECT_POSES)
    options = BuildJob(
        source=source_arg(poses, ns.step),
        sizes=ns.sizes if ns.sizes is not None else (DEFAULT_SIZES if clpr else (OBJECT_SIZE,)),
        format=ns.format,
        out=ns.out if ns.out is not None else default_out(scene.object_name),
        limit=ns.limit,
        batch=ns.batch,
        device=ns.device,
        scene=scene,
        layers=bool(ns.layers),
        workers=ns.workers,
        overwrite=ns.overwrite,
        shard=ns.shard,
        image_format=ns.image_format or "jpg",
        layout=ns.layout,
        engine=ns.engine,
        ray_address=ns.ray_address,
        worker_cpus=ns.worker_cpus,
        val_fraction=DEFAULT_VAL_FRACTION if ns.val_fraction is None else ns.val_fraction,
    )
    if options.layout == "imagenet3d" and (options.class_name or ".").startswith("."):
        parser.error(
            f"--layout imagenet3d names its folders after the class, and {options.class_name!r} starts "
            "with a dot; rename the mesh file"
        )
    per_pose = PLAN_BYTES_PER_POSE + (0 if clpr else 72 * len(scene.object.symmetry))
    # Only the grid is computed up to --limit; other sources are made whole, then cut.
    if options.source.kind == "clpr":
        limit = f" --limit {ns.limit}" if ns.limit is not None else ""
        check_pose_memory(options.pose_count, f"--step {options.source.step}{limit}", per_pose)
    else:
        check_pose_memory(options.source.size(), f"--poses {poses}", per_pose)
    return options


def default_out(object_name: str) -> Path:
    """./clpr for the cube, ./NAME for a SYMSOL solid, ./mesh-STEM for a mesh file."""
    if object_name == CLPR_OBJECT:
        return Path("clpr")
    if object_name.startswith("mesh:"):
        return Path("mesh-" + Path(object_name[len("mesh:") :]).stem)
    return Path(object_name)
