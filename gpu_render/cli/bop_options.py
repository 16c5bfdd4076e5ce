"""The options of ``python -m gpu_render.build --layout bop``: images of several objects written
BOP-scenewise (:mod:`gpu_render.dataset.layouts.bop`).

Example: ``python -m gpu_render.build --layout bop --objects tet,cylO,mesh:duck.ply --per-image 3
--sizes 640x480 --out OUT``. Objects get BOP ids 1, 2, ... in the order ``--objects`` names them.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

from gpu_render.cli.arg_types import Parser
from gpu_render.cli.scene_options import OBJECT_POSES, color_type, fov_type, light_type, scene_of
from gpu_render.cli.stopped import STOPS, report_stop
from gpu_render.dataset.bop_files import DEFAULT_SPLIT, IMAGES_PER_SCENE
from gpu_render.dataset.layouts.bop import DEFAULT_DEPTH_SCALE, DEFAULT_MM_PER_UNIT, BopOptions
from gpu_render.engines.bop_build import BopJob, run_bop_build
from gpu_render.errors import UsageError
from gpu_render.rotations.sources import parse_source, row_matrices
from gpu_render.scene.camera import DEFAULT_FOV_DEG, Pinhole
from gpu_render.scene.multi_plan import MultiSpec, default_depth_range
from gpu_render.scene.objects import SceneObject
from gpu_render.scene.spec import SceneSpec, look_of

PROG = "gpu_render.build"
#: Most instances per image.
MAX_PER_IMAGE = 64
#: Longest image side, px.
MAX_SIDE = 8192


def size_type(text: str) -> tuple[int, int]:
    """``WxH`` or ``S`` (a square) -> (W, H) px."""
    w, sep, h = text.lower().partition("x")
    try:
        width, height = int(w), int(h if sep else w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes WxH or S in px, e.g. 640x480, got {text!r}") from None
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise argparse.ArgumentTypeError(f"sides must lie in 1..{MAX_SIDE}, got {text!r}")
    return width, height


def count_type(text: str) -> tuple[int, int]:
    """``N`` or ``A-B`` -> (min, max) instances per image."""
    a, sep, b = text.partition("-")
    try:
        lo, hi = int(a), int(b if sep else a)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes N or A-B, e.g. 3 or 2-5, got {text!r}") from None
    if not 1 <= lo <= hi <= MAX_PER_IMAGE:
        raise argparse.ArgumentTypeError(f"needs 1 <= A <= B <= {MAX_PER_IMAGE}, got {text!r}")
    return lo, hi


def depth_range_type(text: str) -> tuple[float, float]:
    a, _, b = text.partition(",")
    try:
        near, far = float(a), float(b)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes NEAR,FAR in object units, got {text!r}") from None
    if not 1.0 < near <= far < 1e6:
        raise argparse.ArgumentTypeError(f"needs 1 < NEAR <= FAR, got {text!r}")
    return near, far


def bop_parser() -> Parser:
    p = Parser(prog=PROG, module=PROG, description="Render images of several objects into a BOP-scenewise set.")
    p.add_argument("--layout", choices=("bop",), required=True, help="bop: BOP-scenewise folders")
    p.add_argument(
        "--objects",
        required=True,
        metavar="A,B,...",
        help="SYMSOL names or mesh:PATH, each =ID (default: BOP ids 1, 2, ...)",
    )
    p.add_argument("--per-image", type=count_type, default=(3, 3), metavar="N|A-B", help="instances per image")
    p.add_argument("--poses", default=OBJECT_POSES, help=f"rotations of instance 0, one per image ({OBJECT_POSES})")
    p.add_argument("--sizes", type=size_type, default=(640, 480), metavar="WxH", help="image size (640x480)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="seed of the other instances' rotations and positions")
    p.add_argument("--depth-range", type=depth_range_type, default=None, metavar="NEAR,FAR", help="camera z")
    p.add_argument("--split", default=DEFAULT_SPLIT, help=f"split folder ({DEFAULT_SPLIT})")
    p.add_argument("--images-per-scene", type=int, default=IMAGES_PER_SCENE, help="images per scene folder")
    p.add_argument("--image-format", choices=("jpg", "png"), default="jpg", help="rgb/ images")
    p.add_argument("--format", choices=("files", "wds"), default="files", help="scene folders or BOP-webdataset shards")
    p.add_argument("--mm-per-unit", type=float, default=DEFAULT_MM_PER_UNIT, help="mm per object unit")
    p.add_argument("--depth-scale", type=float, default=DEFAULT_DEPTH_SCALE, help="mm per depth PNG unit")
    p.add_argument("--fov", type=fov_type, default=DEFAULT_FOV_DEG, metavar="DEG", help="across the width, degrees")
    p.add_argument("--light", type=light_type, default=None, metavar="X,Y,Z", help="towards the light, camera frame")
    p.add_argument("--color", type=color_type, default=None, metavar="R,G,B", help="albedo (200,200,200)")
    p.add_argument("--background", type=color_type, default=None, metavar="R,G,B", help="background (0,0,0)")
    p.add_argument("--antialias", action=argparse.BooleanOptionalAction, default=None, help="4x MSAA (on)")
    p.add_argument("--grayscale", action="store_true", help="grey images (BT.601 luma in R, G and B)")
    return p


def object_ids(text: str) -> tuple[list[str], tuple[int, ...]]:
    """``--objects A,B=7,...`` -> (names, BOP ids): the whole number after a last ``=``, else the
    object's place (1, 2, ...). Raises UsageError for an id of 0 or a repeated id."""
    names, ids = [], []
    for place, part in enumerate((p.strip() for p in text.split(",") if p.strip()), start=1):
        name, sep, given = part.rpartition("=")
        if sep and given.isdigit():
            if int(given) < 1:
                raise UsageError(f"--objects: {part!r}: object ids start at 1")
            names.append(name)
            ids.append(int(given))
        else:
            names.append(part)
            ids.append(place)
    if len(set(ids)) != len(ids):
        raise UsageError(f"--objects: object ids repeat ({', '.join(map(str, ids))})")
    return names, tuple(ids)


def parse_bop_args(argv: list[str]) -> BopJob:
    """The job ``argv`` asks for. Raises UsageError (one line)."""
    ns = bop_parser().parse_args(argv)
    names, obj_ids = object_ids(ns.objects)
    if not names:
        raise UsageError("--objects names no object")
    if ns.seed < 0 or ns.images_per_scene < 1 or not (ns.mm_per_unit > 0 and ns.depth_scale > 0):
        raise UsageError("--seed must be >= 0, --images-per-scene >= 1, --mm-per-unit and --depth-scale > 0")
    objects = tuple(scene_of(SceneSpec(object=name)).object for name in names)  # type: ignore[attr-defined]
    try:
        source = parse_source(ns.poses, None)
        rotations = row_matrices(source)[0].transpose(0, 2, 1)
    except ValueError as exc:
        raise UsageError(f"--poses: {exc}") from None
    camera = Pinhole(fov_deg=ns.fov)
    look = look_of(ns.color, ns.background, ns.light, ns.antialias, ns.grayscale)
    lo, hi = ns.per_image
    spec = MultiSpec(len(objects), lo, hi, ns.depth_range or default_depth_range(camera), ns.seed)
    width, height = ns.sizes
    options = BopOptions(
        split=ns.split,
        images_per_scene=ns.images_per_scene,
        rgb_ext=ns.image_format,
        mm_per_unit=ns.mm_per_unit,
        depth_scale=ns.depth_scale,
        wds=ns.format == "wds",
    )
    signature = {k: v for k, v in vars(ns).items() if k != "out"}
    signature["objects"] = [[name, _digest(obj)] for name, obj in zip(names, objects, strict=True)]
    signature["depth_range"] = list(spec.depth_range)
    return BopJob(
        ns.out, objects, obj_ids, np.ascontiguousarray(rotations), spec, width, height, camera, look, options, signature
    )


def _digest(obj: SceneObject) -> str:
    """sha256 of an object's triangles and normals (a changed mesh file is another build)."""
    h = hashlib.sha256(np.ascontiguousarray(obj.positions).tobytes())
    h.update(np.ascontiguousarray(obj.normals).tobytes())
    return h.hexdigest()


def bop_main(argv: list[str]) -> int:
    """``python -m gpu_render.build --layout bop ...``: returns the exit status."""
    try:
        job = parse_bop_args(argv)
        count, seconds = run_bop_build(job)
    except STOPS as exc:
        return report_stop(PROG, exc)
    print(f"wrote {count} images to {job.out} in {seconds:.1f} s ({count / max(seconds, 1e-9):.1f} images/s)")
    sys.stdout.flush()
    return 0
