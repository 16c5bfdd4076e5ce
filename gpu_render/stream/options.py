"""The streaming dataset's options: the build's scene and pose options as Python keywords. The
scene is a :class:`~gpu_render.scene.spec.SceneSpec` made from them, and the poses are parsed by
the build's own :func:`~gpu_render.rotations.sources.parse_source`, so a value is accepted or
refused as ``python -m gpu_render.build`` would, with a one-line
:class:`~gpu_render.errors.UsageError` naming the keyword (``fov: must be 1..170 degrees, ...``)."""

from __future__ import annotations

import argparse
import numbers
from dataclasses import dataclass
from typing import Any

from gpu_render.cli.arg_types import MAX_POSES, step_type
from gpu_render.cli.scene_options import OBJECT_POSES, OBJECT_SIZE, read_mesh
from gpu_render.errors import UsageError
from gpu_render.memory import check_batch
from gpu_render.render.atlas import MAX_ATLAS_SIDE
from gpu_render.rotations.sources import PoseSource, parse_source
from gpu_render.scene.scene import CLPR_OBJECT, Scene
from gpu_render.scene.spec import SceneSpec

#: Poses per chunk unless told: the build's default ``--batch`` (gpu_render.cli.options.DEFAULT_BATCH),
#: so a default stream draws exactly what a default build draws.
DEFAULT_BATCH = 512
#: Look and camera keywords, each the build's option of the same name.
LOOK_KEYS = ("fov", "distance", "light", "color", "background", "antialias", "grayscale")
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


def _integer(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise UsageError(f"{name}: must be an integer >= {low}, got {value!r}")
    return int(value)


def _step(step: Any) -> float | None:
    if step is None:
        return None
    if isinstance(step, bool) or not isinstance(step, numbers.Real):
        raise UsageError(f"step: must be a number of radians, got {step!r}")
    try:
        return step_type(repr(float(step)))  # the build's --step rule: positive, at most MAX_POSES poses
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"step: {exc}") from None


def _source(poses: Any, step: float | None) -> PoseSource:
    if not isinstance(poses, str):
        raise UsageError(f"poses: must be a pose source such as 'random:1000' or 'random:inf', got {poses!r}")
    if step is not None and poses != "clpr":
        raise UsageError(f"step: applies to poses 'clpr' only, not {poses!r}")
    try:
        source = parse_source(poses, step, infinite=True)
    except ValueError as exc:
        raise UsageError(f"poses: {exc}") from None
    if not source.infinite and source.size() > MAX_POSES:
        raise UsageError(f"poses: {poses} gives {source.size()} poses; at most {MAX_POSES} are supported")
    return source


def stream_options(
    object: str = CLPR_OBJECT,
    poses: str | None = None,
    size: int | None = None,
    *,
    batch: int = DEFAULT_BATCH,
    step: float | None = None,
    device: int = 0,
    **look: Any,
) -> StreamOptions:
    """The build's options given as keywords: ``object`` (``--object``), ``poses`` (``--poses``,
    default ``clpr`` for the cube and random:10000 for objects, as a build has it), ``size``
    (one image side, px; default 224), ``batch``, ``step``, ``device`` and the look: ``fov``,
    ``distance``, ``light`` (x, y, z), ``color`` and ``background`` ((r, g, b) or
    ``#rrggbb``), ``antialias`` (bool), ``grayscale`` (bool); None means the default.

    Raises UsageError with one line naming the keyword for any value a build would refuse.
    """
    unknown = sorted(set(look) - set(LOOK_KEYS))
    if unknown:
        raise UsageError(f"unknown option {unknown[0]!r}: the scene takes {', '.join(LOOK_KEYS)}")
    given = {key: value for key, value in look.items() if value is not None}
    spec = SceneSpec.create(object=object, size=OBJECT_SIZE if size is None else size, **given)
    scene = spec.scene(read_mesh)
    batch, device, step = _integer("batch", batch, 1), _integer("device", device, 0), _step(step)
    if poses is None:
        poses = "clpr" if spec.is_clpr or step is not None else OBJECT_POSES
    options = StreamOptions(scene=scene, source=_source(poses, step), size=spec.size, batch=batch, device=device)
    chunk = options.capacity * options.size * options.size * 3
    if chunk > MAX_CHUNK_BYTES:
        raise UsageError(
            f"batch {options.batch} at {options.size} px holds {chunk / 2**30:.1f} GiB of images per "
            f"chunk, more than the stream's {MAX_CHUNK_BYTES / 2**30:.0f} GiB; use a smaller batch"
        )
    # ... and than this machine has (UsageError)
    check_batch(
        options.capacity,
        (options.size,),
        HELD_BATCHES,
        False,
        MAX_ATLAS_SIDE,
        f"batch {options.batch} at {options.size} px",
        "use batch={batch} or less",
    )
    return options
