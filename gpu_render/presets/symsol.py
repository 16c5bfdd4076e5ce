"""``--preset symsol``: the SYMSOL layout of FORMATS.md.

::

    OUT/train/images/{shape}_{index:05d}.png   S x S RGB PNG, index 0-based per shape
    OUT/train/rotations.npz                    {shape}: float32 (N, K, 3, 3)
    OUT/train/poses.npz                        this project's labels, keys {shape}_{label}
    OUT/test/...                               the same for the test split
    OUT/manifest.json                          how it was built (gpu_render's own)

Rotations are R of SCENES.md (``x_cam = R @ x_obj + t``; camera x right, y down, z forward),
uniform over SO(3), drawn from stream ``[seed, split index, shape index]`` (SYMSOL's class index,
so ``--shapes`` subsets draw the same rotations as a full build). ``rotations.npz[shape][i, 0]``
is image i's R; featureless shapes list their whole equivalent set (K = 12, 24, 60, 360, 720,
R @ G_k in the order of SCENES.md's groups), marked shapes K = 1.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpu_render.dataset.atomic import replacing
from gpu_render.dataset.encoder_pool import EncoderPool
from gpu_render.dataset.layout import chunk_digest
from gpu_render.errors import UsageError
from gpu_render.presets.npz_stream import NpzStream
from gpu_render.presets.options import SYMSOL_SHAPES, SymsolOptions
from gpu_render.presets.pipeline import IN_FLIGHT, Chunk, render_chunks, todo
from gpu_render.presets.rotations import uniform_rotations
from gpu_render.presets.sinks import PngFilesSink, Segment
from gpu_render.presets.state import PresetState, check_free, remove_temporaries
from gpu_render.progress import Progress
from gpu_render.render.egl_devices import headless_on
from gpu_render.scene.object_labels import CHUNK, rotations_equivalent, scene_labels
from gpu_render.scene.objects import SceneObject
from gpu_render.scene.scene import ObjectScene
from gpu_render.scene.solids import builtin_object

SPLITS = ("train", "test")


@dataclass(frozen=True)
class PresetResult:
    """images: images the dataset holds; built: written by this run; seconds: this run's wall time."""

    images: int
    built: int
    seconds: float
    renderer: str


@dataclass(frozen=True)
class ShapeSplit:
    """The images of one shape in one split: global indices ``start .. start+count-1``."""

    split: int
    shape: str
    start: int
    count: int

    @property
    def split_name(self) -> str:
        return SPLITS[self.split]


def shape_splits(opts: SymsolOptions) -> list[ShapeSplit]:
    """Every (split, shape) of the build, splits outer, shapes in SYMSOL's order."""
    out, start = [], 0
    for split, count in enumerate(opts.views):
        for shape in opts.shapes:
            out.append(ShapeSplit(split, shape, start, count))
            start += count
    return out


def shape_rotations(opts: SymsolOptions, part: ShapeSplit) -> np.ndarray:
    """(count, 3, 3) float64 R of one shape in one split."""
    return uniform_rotations(part.count, opts.seed, part.split, SYMSOL_SHAPES.index(part.shape))


def image_path(out: Path, split: str, shape: str, index: int) -> Path:
    """Where image ``index`` (0-based) of ``shape`` in ``split`` lies."""
    return out / split / "images" / f"{shape}_{index:05d}.png"


def chunks(opts: SymsolOptions, parts: list[ShapeSplit]) -> Iterator[Chunk]:
    """The build's chunks, ``opts.batch`` images at most, never across two shapes."""
    key = 0
    for group, part in enumerate(parts):
        r = shape_rotations(opts, part)
        for a in range(0, part.count, opts.batch):
            yield Chunk(key, part.start + a, group, r[a : a + opts.batch])
            key += 1


def run_symsol(opts: SymsolOptions, progress: bool = True) -> PresetResult:
    """Build (or resume) a SYMSOL dataset. Raises UsageError, OSError, NoOpenGLError, WorkerError."""
    t0 = time.perf_counter()
    parts = shape_splits(opts)
    total = sum(p.count for p in parts)
    segments = tuple(Segment(str(opts.out / p.split_name / "images"), p.shape, p.start, p.count) for p in parts)
    state = PresetState(opts.out, opts.signature())
    created = state.prepare()  # OUT's own problems (a file, another dataset, not writable) come first
    if not (opts.out / "test" / "rotations.npz").exists():
        try:
            check_free(opts.out, rotations_bytes(parts), "rotations.npz")
        except UsageError:
            if created:
                opts.out.rmdir()  # still empty: nothing of this build is left behind
            raise
    pool = EncoderPool(
        PngFilesSink(segments), (opts.size,), min(opts.batch, max(opts.views)), opts.workers, IN_FLIGHT + 1
    )
    try:
        with headless_on(opts.device) as gl:
            state.renderer = gl.renderer_name
            if state.open():
                return PresetResult(total, 0, 0.0, gl.renderer_name)
            for split in SPLITS:
                (opts.out / split / "images").mkdir(parents=True, exist_ok=True)
                remove_temporaries(opts.out / split / "images")
                remove_temporaries(opts.out / split)
            all_chunks = list(chunks(opts, parts))
            already = sum(len(c.rotation) for c in all_chunks if c.key in state.done)
            bar = Progress(total, already, "symsol", enabled=progress, unit="image")

            def settle(chunk: Chunk, digests: list[bytes]) -> None:
                n = len(chunk.rotation)
                state.record(
                    chunk.key, {"start": chunk.start, "stop": chunk.start + n, "sha256": chunk_digest(digests)}
                )
                bar.update(n)

            def scene_of(group: int) -> ObjectScene:
                return ObjectScene(builtin_object(parts[group].shape), opts.camera, opts.look)

            try:
                render_chunks(gl, pool, opts.size, todo(all_chunks, state.done), scene_of, settle)
            finally:
                bar.close()
            pool.close()
            for split in range(len(SPLITS)):
                write_labels(opts, [p for p in parts if p.split == split])
            seconds = time.perf_counter() - t0
            state.seal(seconds)
            return PresetResult(total, total - already, seconds, gl.renderer_name)
    finally:
        pool.terminate()
        state.close()


def rotations_bytes(parts: list[ShapeSplit]) -> int:
    """Bytes of the rotations.npz arrays of ``parts``: N x K x 9 float32 each."""
    total = 0
    for part in parts:
        obj = builtin_object(part.shape)
        total += part.count * (len(obj.symmetry) if obj.featureless else 1) * 36 + 256
    return total


def write_labels(opts: SymsolOptions, parts: list[ShapeSplit]) -> None:
    """``rotations.npz`` and ``poses.npz`` of one split, each written whole under a temporary name."""
    folder = opts.out / parts[0].split_name
    with replacing(folder / "rotations.npz") as tmp, open(tmp, "wb") as f, NpzStream(f) as npz:
        for part in parts:
            obj = builtin_object(part.shape)
            r = shape_rotations(opts, part)
            k = len(obj.symmetry) if obj.featureless else 1
            npz.add(part.shape, np.float32, (part.count, k, 3, 3), equivalent_blocks(obj, r))
    with replacing(folder / "poses.npz") as tmp, open(tmp, "wb") as f, NpzStream(f) as npz:
        for part in parts:
            for name, array in poses_labels(opts, part).items():
                npz.add_array(f"{part.shape}_{name}", array)


def equivalent_blocks(obj: SceneObject, r: np.ndarray) -> Iterator[np.ndarray]:
    """Row blocks of rotations.npz's array: (m, K, 3, 3) float32."""
    if not obj.featureless:
        yield r[:, None].astype(np.float32)
        return
    step = max(1, CHUNK * 16 // len(obj.symmetry))
    for a in range(0, len(r), step):
        yield rotations_equivalent(obj, r[a : a + step])
    if len(r) == 0:
        yield np.zeros((0, len(obj.symmetry), 3, 3), np.float32)


def poses_labels(opts: SymsolOptions, part: ShapeSplit) -> dict[str, np.ndarray]:
    """poses.npz's arrays of one shape in one split (SCENES.md, Labels every scene build writes),
    without ``rotations_equivalent`` (rotations.npz holds it), plus ``class_index`` ()."""
    obj = dataclasses.replace(builtin_object(part.shape), featureless=False)
    labels = scene_labels(obj, opts.camera, shape_rotations(opts, part), (opts.size,))
    labels["class_index"] = np.asarray(SYMSOL_SHAPES.index(part.shape), dtype=np.int64)
    return labels
