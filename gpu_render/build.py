"""``python -m gpu_render.build``: render the cLPR dataset, or any scene object, into OUT.

The scene (the cLPR cube, or an object with its camera and look) is built once from the
options; its backend (:mod:`gpu_render.render.backends`) supplies the GPU renderers, and the
writer (:mod:`gpu_render.dataset.writer`) records what it is handed.

The GL context lives in the main process, which renders chunk after chunk into shared
memory; encoder processes (:mod:`gpu_render.dataset.encoder_pool`) encode and write the images of
earlier chunks meanwhile. At most ``IN_FLIGHT`` chunks are held, so memory stays flat
however many poses there are.

OUT is locked for the whole build (:mod:`gpu_render.dataset.lock`), so a second build of it
is refused at once. If an encoder process dies or fails, the build stops with one line
naming it and exit status 2; the chunks it had not finished are not recorded, so the same
command resumes.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from dataclasses import dataclass

from gpu_render.render.context import Headless, NoOpenGLError
from gpu_render.errors import UsageError
from gpu_render.options import BuildOptions, build_command, parse_build_args
from gpu_render.dataset.encoder_pool import EncoderPool, Task, WorkerError
from gpu_render.progress import Progress
from gpu_render.render.backends import backend
from gpu_render.dataset.writer import DatasetWriter, check_room, chunk_digest, make_sink

PROG = "gpu_render.build"
#: Chunks rendered but not yet written that may be held at once.
IN_FLIGHT = 2


@dataclass(frozen=True)
class BuildResult:
    poses: int
    built: int
    seconds: float
    renderer: str

    @property
    def rate(self) -> float:
        return self.built / self.seconds if self.seconds > 0 else float("inf")


def run_build(options: BuildOptions, progress: bool = True) -> BuildResult:
    """Build (or resume) the dataset ``options`` describes.

    Raises UsageError, OSError, NoOpenGLError, and WorkerError when an encoder process dies or fails.
    """
    t0 = time.perf_counter()
    # Before anything is allocated: the room on OUT's filesystem for the arrays this build makes.
    check_room(options.out, options.format, options.pose_count, options.sizes, layers=options.layers)
    scene = options.scene
    plan = scene.plan(options.source, options.pose_count)
    draw = backend(scene)
    n, batch = options.pose_count, options.batch
    chunks = {k: (k * batch, min(n, (k + 1) * batch)) for k in range((n + batch - 1) // batch)}
    slot_batch = min(batch, n)
    # The encoder processes are forked first: no GL context may exist in a forked child.
    pool = EncoderPool(
        make_sink(options.write_spec(), plan), options.sizes, slot_batch, options.workers, IN_FLIGHT + 1
    )
    writer: DatasetWriter | None = None
    try:
        with Headless(options.device) as gl:
            writer = DatasetWriter(options.write_spec(), gl.renderer_name)
            done = writer.open(plan)
            mine = [k for k in chunks if writer.owns(k)]
            total = sum(chunks[k][1] - chunks[k][0] for k in mine)
            if writer.complete:
                return BuildResult(total, 0, 0.0, gl.renderer_name)
            todo = [k for k in mine if k not in done]
            already = total - sum(chunks[k][1] - chunks[k][0] for k in todo)
            renderers = {s: draw.renderer(gl.ctx, s, slot_batch) for s in options.sizes}
            what = "cLPR" if options.is_clpr else scene.object_name
            desc = what if options.shard is None else f"{what} shard {options.shard[0]}/{options.shard[1]}"
            bar = Progress(total, already, desc, enabled=progress)
            pending: deque[tuple[int, list[Task]]] = deque()

            def settle_oldest() -> None:
                k, tasks = pending.popleft()
                digests = [d for task in tasks for d in task.get()]
                done[k] = writer.finish_chunk(k, *chunks[k], chunk_digest(digests))
                bar.update(chunks[k][1] - chunks[k][0])

            try:
                # The i-th chunk of this run renders into slot i % (IN_FLIGHT + 1); the chunk that
                # used that slot before has always been settled by then.
                for i, k in enumerate(todo):
                    start, stop = chunks[k]
                    slot = i % pool.slot_count
                    tasks: list[Task] = []
                    instances = draw.instances(plan, start, stop)
                    for size, renderer in renderers.items():
                        renderer.render_instances(instances, out=pool.slot(slot)[size][: stop - start])
                        tasks += pool.submit(slot, size, start, stop - start)
                        if options.layers:
                            writer.write_layers(size, start, *renderer.render_layers(instances))
                    pending.append((k, tasks))
                    while len(pending) > IN_FLIGHT:
                        settle_oldest()
                while pending:
                    settle_oldest()
            finally:
                bar.close()
                for r in renderers.values():
                    r.close()
            pool.close()
            seconds = time.perf_counter() - t0
            writer.finalize(done, seconds)
            return BuildResult(total, total - already, seconds, gl.renderer_name)
    finally:
        pool.terminate()  # first: no worker may still write when the lock is released
        if writer is not None:
            writer.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if any(a == "--preset" or a.startswith("--preset=") for a in args):  # benchmark layouts: gpu_render.presets
        from gpu_render.presets.cli import main as preset_main
        return preset_main(args)
    try:
        options = parse_build_args(argv)
        result = run_build(options)
    except (UsageError, NoOpenGLError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except WorkerError as exc:
        print(f"{PROG}: error: {exc}; re-run the same command to resume", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(
            f"{PROG}: error: writing{where} failed: {exc.strerror or exc}; "
            "fix that and re-run the same command to resume",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    sizes = ",".join(str(s) for s in options.sizes)
    what = "poses" if options.shard is None else f"poses of shard {options.shard[0]}/{options.shard[1]}"
    if result.built == 0:
        print(f"{options.out} already holds all {result.poses} {what} x sizes {sizes} ({options.format}); nothing to do")
    else:
        print(
            f"built {result.built} of {result.poses} {what} x sizes {sizes} ({options.format}) into {options.out} "
            f"in {result.seconds:.1f} s: {result.rate:.0f} poses/s on {result.renderer}"
        )
    if options.shard is not None:
        seal = build_command(options.dataset_signature(), options.out)
        print(f"when all {options.shard[1]} shards are in {options.out}, seal the dataset with: {seal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
