"""Build jobs from options, for the command line and for :func:`gpu_render.build`.

The command line parses its text into values, then makes its job here, with the same defaults
and the same refusals a Python caller meets; a refusal is a one-line UsageError naming the
option. :func:`build` takes the options as Python keywords (``sizes=(64,)``, ``shard=(0, 2)``),
checks their values, makes the job and runs it on the engine it names.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from gpu_render.dataset.imagenet3d import whole_pixel_camera
from gpu_render.dataset.imagenet3d_tree import DEFAULT_VAL_FRACTION
from gpu_render.dataset.layouts.modelnet import MODELNET10_CATEGORIES, MODELNET_VIEWS, ModelNetSpec
from gpu_render.dataset.layouts.symsol import SYMSOL_BATCH, SYMSOL_SHAPES, SYMSOL_VIEWS, SymsolSpec
from gpu_render.engines.job import DEFAULT_BATCH, DEFAULT_SIZES, PRESETS, BuildJob
from gpu_render.engines.pipeline import BuildResult
from gpu_render.errors import UsageError
from gpu_render.memory import physical_memory
from gpu_render.rotations.sources import MAX_POSES, parse_source
from gpu_render.scene.camera import DEFAULT_FOV_DEG, Pinhole
from gpu_render.scene.look import Look
from gpu_render.scene.scene import CLPR_OBJECT, ClprScene, ObjectScene, Scene
from gpu_render.scene.spec import DEFAULT_SIZE, MAX_SIZE, MIN_SIZE, SceneSpec

FORMATS = ("jpg", "png", "npy", "wds")
IMAGE_FORMATS = ("jpg", "png")
LAYOUTS = ("flat", "imagenet3d")
ENGINES = ("local", "ray")
#: Poses of an object build when ``poses`` is not given.
OBJECT_POSES = "random:10000"
#: Memory a build holds per pose for its labels and poses.npz (measured: ~1.35 kB at 4 sizes).
PLAN_BYTES_PER_POSE = 1500
#: ModelNet10-SO3's keys end in .v{view:03d}.
MAX_VIEWS_PER_MODEL = 999
#: The scene's keywords (:class:`~gpu_render.scene.spec.SceneSpec`) a build takes.
SCENE = ("object", "fov", "distance", "light", "color", "background", "antialias", "grayscale")
#: How the job runs, for every build.
RUN = ("workers", "device", "shard", "engine", "ray_address", "worker_cpus")
BUILD = (*SCENE, *RUN, "poses", "step", "sizes", "format", "layout", "val_fraction", "image_format", "limit")
BUILD_ALSO = ("batch", "layers", "overwrite")
PRESET = ("views", "seed", "shapes", "meshes", "categories", "sizes", "batch")


def make_job(scene: Scene, out: Path | None = None, **o: Any) -> BuildJob:
    """The job of a scene build: ``scene`` drawn at the poses of ``o["poses"]`` (and ``step``), with
    the command line's other options as keywords (None or left out: the default). Raises UsageError."""
    fmt, layout, shard, sizes = o.get("format") or "jpg", o.get("layout") or "flat", o.get("shard"), o.get("sizes")
    if o.get("image_format") is not None and fmt != "wds":
        raise UsageError(f"--image-format applies to --format wds only; --format {fmt} already names the encoding")
    if shard is not None and fmt == "npy":
        raise UsageError(
            "--shard needs --format jpg or png (or wds): npy keeps one file per size, which shards cannot share"
        )
    if shard is not None and o.get("overwrite"):
        raise UsageError("--overwrite cannot be combined with --shard: replace the dataset with a plain build first")
    if shard is not None and o.get("layers"):
        raise UsageError(
            "--shard cannot be combined with --layers: the layers are one npy file per size, which shards cannot share"
        )
    if layout == "imagenet3d":
        if isinstance(scene, ClprScene):
            raise UsageError(
                f"--layout imagenet3d needs a perspective object (a SYMSOL solid or a mesh file), "
                f"not --object {CLPR_OBJECT}"
            )
        if fmt != "jpg":
            raise UsageError(f"--layout imagenet3d writes JPEG images; it cannot be combined with --format {fmt}")
        if sizes is not None and len(sizes) != 1:
            raise UsageError("--layout imagenet3d writes one image size; give --sizes a single size")
        # its viewport holds the focal length as a whole number of pixels
        assert isinstance(scene, ObjectScene)
        scene = replace(scene, camera=whole_pixel_camera(scene.camera, (sizes or (DEFAULT_SIZE,))[0]))
    elif o.get("val_fraction") is not None:
        raise UsageError("--val-fraction applies to --layout imagenet3d only")
    check_run(o)
    clpr = isinstance(scene, ClprScene)
    poses = o.get("poses") or ("clpr" if clpr or o.get("step") is not None else OBJECT_POSES)
    try:
        source = parse_source(poses, o.get("step"))
    except ValueError as exc:
        raise UsageError(f"argument --poses: {exc}") from None
    if source.size() > MAX_POSES:
        raise UsageError(f"argument --poses: {poses} gives {source.size()} poses; at most {MAX_POSES} are supported")
    job = BuildJob(
        source=source,
        sizes=tuple(sizes) if sizes is not None else (DEFAULT_SIZES if clpr else (DEFAULT_SIZE,)),
        format=fmt,
        out=out if out is not None else default_out(scene.object_name),
        limit=o.get("limit"),
        batch=o.get("batch") or DEFAULT_BATCH,
        scene=scene,
        layers=bool(o.get("layers")),
        overwrite=bool(o.get("overwrite")),
        image_format=o.get("image_format") or "jpg",
        layout=layout,
        val_fraction=DEFAULT_VAL_FRACTION if o.get("val_fraction") is None else o["val_fraction"],
        **run_options(o),
    )
    if job.layout == "imagenet3d" and (job.class_name or ".").startswith("."):
        raise UsageError(
            f"--layout imagenet3d names its folders after the class, and {job.class_name!r} starts "
            "with a dot; rename the mesh file"
        )
    per_pose = PLAN_BYTES_PER_POSE + (0 if clpr else 72 * len(scene.object.symmetry))  # type: ignore[attr-defined]
    # Only the grid is computed up to --limit; other sources are made whole, then cut.
    if source.kind == "clpr":
        limit = f" --limit {job.limit}" if job.limit is not None else ""
        check_pose_memory(job.pose_count, f"--step {source.step}{limit}", per_pose)
    else:
        check_pose_memory(source.size(), f"--poses {poses}", per_pose)
    return job


def check_run(o: dict[str, Any]) -> None:
    if o.get("engine") == "ray" and o.get("shard") is not None:
        raise UsageError("--shard cannot be combined with --engine ray: Ray spreads the chunks over its workers itself")
    if o.get("engine", "local") != "ray" and (o.get("ray_address") is not None or o.get("worker_cpus") is not None):
        raise UsageError("--ray-address and --worker-cpus need --engine ray")


def run_options(o: dict[str, Any]) -> dict[str, Any]:
    """The job's fields of how it runs (``workers``: the machine's cores when not given)."""
    return {
        "workers": o.get("workers") or os.cpu_count() or 1,
        "device": o.get("device") or 0,
        "engine": o.get("engine") or "local",
    } | {k: o.get(k) for k in ("shard", "ray_address", "worker_cpus")}


def make_preset_job(preset: str, out: Path | None, look: Look, **o: Any) -> BuildJob:
    """The job of ``--preset NAME`` (``o``: its options, None where not given). Raises UsageError."""
    sizes = o.get("sizes") or (DEFAULT_SIZE,)
    if len(sizes) != 1:
        raise UsageError(f"argument --sizes: --preset {preset} writes one image size, got {len(sizes)}")
    check_run(o)
    only = ("meshes", "categories") if preset == "symsol" else ("shapes", *SCENE[1:], "batch")
    given = [name for name in only if o.get(name) is not None]
    if given:
        raise UsageError(f"--{given[0]} makes no sense for --preset {preset}")
    if preset == "symsol":
        views = o.get("views") or SYMSOL_VIEWS
        total = sum(views) * len(o.get("shapes") or SYMSOL_SHAPES)
        if total > MAX_POSES:
            raise UsageError(f"argument --views: {total} images in all; at most {MAX_POSES} are supported")
        fov = o.get("fov")
        camera = Pinhole(fov_deg=DEFAULT_FOV_DEG if fov is None else fov, distance=o.get("distance"))
        symsol = SymsolSpec(
            o.get("shapes") or SYMSOL_SHAPES,
            views,
            sizes[0],
            o.get("seed") or 0,
            camera,
            look,
            o.get("batch") or SYMSOL_BATCH,
        )
        return BuildJob(out=out or Path("symsol"), batch=symsol.batch, preset=symsol, **run_options(o))
    if o.get("meshes") is None:
        raise UsageError(
            "--preset modelnet10-so3 needs --meshes DIR, the ModelNet10 tree "
            "(DIR/{category}/{train,test}/{category}_{NNNN}.off)"
        )
    views = o.get("views") or MODELNET_VIEWS
    if max(views) > MAX_VIEWS_PER_MODEL:
        raise UsageError(f"argument --views: at most {MAX_VIEWS_PER_MODEL} views per model (keys are .v001 .. .v999)")
    categories = o.get("categories") or MODELNET10_CATEGORIES
    modelnet = ModelNetSpec(Path(o["meshes"]), categories, views, sizes[0], o.get("seed") or 0)
    return BuildJob(out=out or Path("ModelNet10-SO3"), batch=max(views), preset=modelnet, **run_options(o))


def default_out(object_name: str) -> Path:
    """./clpr for the cube, ./NAME for a SYMSOL solid, ./mesh-STEM for a mesh file."""
    if object_name == CLPR_OBJECT:
        return Path("clpr")
    if object_name.startswith("mesh:"):
        return Path("mesh-" + Path(object_name[len("mesh:") :]).stem)
    return Path(object_name)


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


def run_job(job: BuildJob, progress: bool = True) -> BuildResult:
    """Build (or resume) the dataset ``job`` describes, with ``job.engine``.

    Raises UsageError, OSError, NoOpenGLError, and WorkerError when an encoder process or a
    Ray worker dies or fails beyond its retries.
    """
    if job.engine == "ray":
        from gpu_render.engines.ray_engine import run_ray  # Ray is an optional extra

        return run_ray(job, progress)
    from gpu_render.engines.local import run_local

    return run_local(job, progress)


# -- Python keywords -------------------------------------------------------------------------------


def build(out: str | Path, version: str, preset: str | None = None, progress: bool = False, **o: Any) -> BuildResult:
    """Build (or resume) a dataset in ``out`` from keywords that mirror ``python -m
    gpu_render.build``'s options; ``version``: gpu_render's, recorded in the manifest. Raises
    UsageError naming a keyword that is unknown or has a bad value."""
    allowed = PRESET + RUN + (SCENE[1:] if preset == "symsol" else ()) if preset else BUILD + BUILD_ALSO
    if preset == "render4cnn":
        from gpu_render.engines.render4cnn_job import RENDER4CNN_OPTIONS

        allowed = (*RENDER4CNN_OPTIONS, *RUN)
    if preset is not None and preset not in PRESETS:
        raise UsageError(f"preset: {preset!r} is not one of {', '.join(PRESETS)}")
    unknown = [name for name in o if name not in allowed]
    if unknown:
        raise UsageError(
            f"{unknown[0]}: not a keyword of build(){'' if preset is None else f' with preset={preset!r}'}"
        )
    for name in ("limit", "batch", "workers", "worker_cpus", "seed", "device"):
        if o.get(name) is not None:
            o[name] = _int(name, o[name], 0 if name in ("seed", "device") else 1)
    if o.get("sizes") is not None:
        o["sizes"] = tuple(sorted(_int("sizes", s, MIN_SIZE, MAX_SIZE) for s in _sequence("sizes", o["sizes"])))
    if o.get("shard") is not None:
        o["shard"] = _shard(o["shard"])
    for name, choices in (
        ("format", FORMATS),
        ("image_format", IMAGE_FORMATS),
        ("layout", LAYOUTS),
        ("engine", ENGINES),
    ):
        if o.get(name) is not None and o[name] not in choices:
            raise UsageError(f"{name}: {o[name]!r} is not one of {', '.join(choices)}")
    if o.get("views") is not None:
        views = tuple(_int("views", v, 1) for v in _sequence("views", o["views"]))
        if len(views) != 2:
            raise UsageError(f"views: takes (train, test), two counts, got {o['views']!r}")
        o["views"] = views
    for name, allowed_names in (("shapes", SYMSOL_SHAPES), ("categories", MODELNET10_CATEGORIES)):
        if o.get(name) is not None:
            chosen = [str(n) for n in _sequence(name, o[name])]
            wrong = [n for n in chosen if n not in allowed_names]
            if wrong or not chosen:
                raise UsageError(f"{name}: {wrong[0] if wrong else 'none'!r} is not one of {','.join(allowed_names)}")
            o[name] = tuple(n for n in allowed_names if n in chosen)
    given = {k: o.pop(k) for k in SCENE if k in o}
    # A bad value is a one-line SceneSpecError naming its keyword; a preset's look is a solid's.
    spec = SceneSpec.create(**({"object": "cube"} if preset else {}), **given)
    if preset == "render4cnn":
        from gpu_render.engines.render4cnn_job import make_render4cnn_job

        check_run(o)
        job = make_render4cnn_job(Path(out), run_options(o), **{k: v for k, v in o.items() if k not in RUN})
    elif preset is not None:
        job = make_preset_job(preset, Path(out), spec.look(), **o, **{k: v for k, v in given.items() if v is not None})
    else:
        from gpu_render.renderer import read_mesh_file

        job = make_job(spec.scene(read_mesh_file), Path(out), **o)
    return run_job(replace(job, version=version), progress)


def _int(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UsageError(f"{name}: must be an integer, got {value!r}")
    number = int(value)
    if number < low or (high is not None and number > high):
        raise UsageError(f"{name}: {value} is outside {low}..{'' if high is None else high}")
    return number


def _sequence(name: str, value: Any) -> Sequence[Any]:
    """``value`` as a sequence: an integer alone stands for one; a string is refused."""
    if isinstance(value, numbers.Integral):
        return [value]
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise UsageError(f"{name}: takes a sequence, got {value!r}")
    return value


def _shard(value: Any) -> tuple[int, int]:
    pair = value.split("/") if isinstance(value, str) else value
    try:
        k, n = (int(x) for x in pair)
    except (TypeError, ValueError):
        raise UsageError(f"shard: takes (K, N) or 'K/N', got {value!r}") from None
    if not 0 <= k < n:
        raise UsageError(f"shard: takes K/N with 0 <= K < N, got {value!r}")
    return (k, n)
