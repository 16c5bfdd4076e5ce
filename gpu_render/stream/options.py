"""The streaming dataset's options: the build's scene and pose options, parsed by the build's
own parser pieces (:mod:`gpu_render.scene_options`, :mod:`gpu_render.arg_types`), so a value
is accepted or refused, with the same one-line :class:`~gpu_render.errors.UsageError`, as
``python -m gpu_render.build`` would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpu_render.arg_types import MAX_SIZE, MIN_SIZE, Parser, at_least, source_arg, step_type
from gpu_render.memory import check_batch
from gpu_render.render.atlas import MAX_ATLAS_SIDE
from gpu_render.rotations.sources import PoseSource
from gpu_render.scene.scene import CLPR_OBJECT, ClprScene, Scene
from gpu_render.scene_options import OBJECT_POSES, OBJECT_SIZE, add_scene_arguments, scene_from_args

#: Poses per chunk unless told: the build's default ``--batch`` (gpu_render.options.DEFAULT_BATCH),
#: so a default stream draws exactly what a default build draws.
DEFAULT_BATCH = 512
#: Look and camera keywords, each the build's option of the same name.
LOOK_KEYS = ("fov", "distance", "light", "color", "background", "antialias", "grayscale")
#: Switches among them: True or False only (a string such as "no" would otherwise read as true).
SWITCH_KEYS = ("antialias", "grayscale")
#: Batches of images a stream's process holds at once: the one its consumer has, the one being drawn.
HELD_BATCHES = 2
#: Largest chunk of images a stream holds at once (capacity x S x S x 3 bytes): a bigger
#: --batch is refused at construction rather than failing to allocate at the first batch.
MAX_CHUNK_BYTES = 2 * 2**30


@dataclass(frozen=True)
class StreamOptions:
    """What a stream draws.

    scene: the cLPR cube, or an object with its camera and look. source: the pose source
    (``random:inf[:SEED]`` allowed). size: image side, px. batch: poses per chunk, the build's
    ``--batch`` (chunk k holds poses k*batch .. (k+1)*batch - 1). device: GPU in CUDA
    numbering (see :func:`~gpu_render.render.egl_devices.headless_on`).
    """

    scene: Scene
    source: PoseSource
    size: int = OBJECT_SIZE
    batch: int = DEFAULT_BATCH
    device: int = 0

    @property
    def finite(self) -> bool:
        return not self.source.infinite

    @property
    def pose_count(self) -> int:
        """Poses per epoch of a finite source. Raises ValueError for ``random:inf``."""
        return self.source.size()

    @property
    def chunk_count(self) -> int:
        """Chunks per epoch of a finite source."""
        return -(-self.pose_count // self.batch)

    @property
    def capacity(self) -> int:
        """Poses per draw call the renderer is made for, as the build makes it (min(batch, N)),
        so that pose i of a chunk lands in the same atlas tile as in the build."""
        return min(self.batch, self.pose_count) if self.finite else self.batch


def _option_text(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


def stream_options(object: str = CLPR_OBJECT, poses: str | None = None, size: int | None = None, *,
                   batch: int = DEFAULT_BATCH, step: float | None = None, device: int = 0,
                   **look: Any) -> StreamOptions:
    """Parse the build's options given as keywords: ``object`` (``--object``), ``poses``
    (``--poses``, default ``clpr`` for the cube and random:10000 for objects, as a build has it),
    ``size`` (one image side, px; default 224), ``batch``, ``step``, ``device`` and the look:
    ``fov``, ``distance``, ``light`` (x, y, z), ``color`` and ``background`` ((r, g, b) or
    ``#rrggbb``), ``antialias`` (bool), ``grayscale`` (bool).

    Raises UsageError with one line naming the option for any value a build would refuse.
    """
    unknown = sorted(set(look) - set(LOOK_KEYS))
    p = Parser(prog="gpu_render.stream")
    if unknown:
        p.error(f"unknown option {unknown[0]!r}: the scene takes {', '.join(LOOK_KEYS)}")
    for key in SWITCH_KEYS:
        if look.get(key) is not None and not isinstance(look[key], bool):
            p.error(f"{key} must be True or False, got {look[key]!r}")
    add_scene_arguments(p)
    p.add_argument("--poses", default=None)
    p.add_argument("--step", type=step_type, default=None)
    p.add_argument("--size", type=at_least(MIN_SIZE, MAX_SIZE), default=OBJECT_SIZE)
    p.add_argument("--batch", type=at_least(1), default=DEFAULT_BATCH)
    p.add_argument("--device", type=at_least(0), default=0)
    argv = [f"--object={object}", f"--batch={batch}", f"--device={device}"]
    if size is not None:
        argv.append(f"--size={size}")
    if step is not None:
        argv.append(f"--step={step}")
    for key in LOOK_KEYS:
        value = look.get(key)
        if value is None or (key == "grayscale" and value is False):
            continue
        if key == "antialias":
            argv.append("--antialias" if value else "--no-antialias")
        elif key == "grayscale":
            argv.append("--grayscale")
        else:
            argv.append(f"--{key}={_option_text(value)}")  # one token: a value may start with '-' 
    ns = p.parse_args(argv)
    scene = scene_from_args(ns)
    if poses is None:
        poses = "clpr" if isinstance(scene, ClprScene) or step is not None else OBJECT_POSES
    source = source_arg(str(poses), ns.step, infinite=True)
    options = StreamOptions(scene=scene, source=source, size=ns.size, batch=ns.batch, device=ns.device)
    chunk = options.capacity * options.size * options.size * 3
    if chunk > MAX_CHUNK_BYTES:
        p.error(f"batch {options.batch} at {options.size} px holds {chunk / 2**30:.1f} GiB of images per chunk, "
                f"more than the stream's {MAX_CHUNK_BYTES / 2**30:.0f} GiB; use a smaller batch")
    # ... and than this machine has (UsageError)
    check_batch(options.capacity, (options.size,), HELD_BATCHES, False, MAX_ATLAS_SIDE,
                f"batch {options.batch} at {options.size} px", "use batch={batch} or less")
    return options
