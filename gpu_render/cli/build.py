"""``python -m gpu_render.build``: render the cLPR dataset, or any scene object, into OUT.

The scene (the cLPR cube, or an object with its camera and look) is built once from the
options; its backend (:mod:`gpu_render.render.backends`) supplies the GPU renderers, and the
writer (:mod:`gpu_render.dataset.writer`) records what it is handed.

With ``--engine local`` (the default) the GL context lives in the main process, which renders
chunk after chunk into shared memory; encoder processes (:mod:`gpu_render.dataset.encoder_pool`)
encode and write the images of earlier chunks meanwhile (:mod:`gpu_render.engines.local`).
With ``--engine ray`` one Ray actor per GPU does the same for the chunks the driver hands it
(:mod:`gpu_render.engines.ray_engine`). Both go through one chunk pipeline
(:mod:`gpu_render.engines.pipeline`), so either resumes the other.

OUT is locked for the whole build (:mod:`gpu_render.dataset.lock`), so a second build of it
is refused at once. If an encoder process dies or fails, the build stops with one line
naming it and exit status 2; the chunks it had not finished are not recorded, so the same
command resumes.
"""

from __future__ import annotations

import sys

from gpu_render.cli.options import BuildOptions, parse_build_args
from gpu_render.cli.rebuild import build_command
from gpu_render.cli.stopped import STOPS, report_stop
from gpu_render.engines.local import IN_FLIGHT, run_local
from gpu_render.engines.pipeline import BuildResult

PROG = "gpu_render.build"
__all__ = ["IN_FLIGHT", "BuildResult", "main", "run_build"]


def run_build(options: BuildOptions, progress: bool = True) -> BuildResult:
    """Build (or resume) the dataset ``options`` describes, with ``options.engine``.

    Raises UsageError, OSError, NoOpenGLError, and WorkerError when an encoder process or a
    Ray worker dies or fails beyond its retries.
    """
    if options.engine == "ray":
        from gpu_render.engines.ray_engine import run_ray  # Ray is an optional extra

        return run_ray(options, progress)
    return run_local(options, progress)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if any(a == "--preset" or a.startswith("--preset=") for a in args):  # benchmark layouts: gpu_render.presets
        from gpu_render.presets.cli import main as preset_main

        return preset_main(args)
    try:
        options = parse_build_args(argv)
        result = run_build(options)
    except STOPS as exc:
        return report_stop(PROG, exc)
    sizes = ",".join(str(s) for s in options.sizes)
    what = "poses" if options.shard is None else f"poses of shard {options.shard[0]}/{options.shard[1]}"
    if result.complete_before or (result.built == 0 and options.shard is not None):
        print(
            f"{options.out} already holds all {result.poses} {what} x sizes {sizes} ({options.format}); nothing to do"
        )
    elif result.built == 0:  # every chunk was built by shards or an earlier run: this run sealed it
        print(
            f"sealed {options.out}: all {result.poses} {what} x sizes {sizes} ({options.format}) were already built; "
            "wrote its labels and manifest.json"
        )
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
