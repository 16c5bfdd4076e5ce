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
from dataclasses import replace
from itertools import pairwise

from gpu_render import __version__
from gpu_render.cli.options import parse_build_args
from gpu_render.cli.stopped import STOPS, report_stop
from gpu_render.engines.api import run_job
from gpu_render.engines.job import BuildJob
from gpu_render.engines.local import IN_FLIGHT
from gpu_render.engines.pipeline import BuildResult
from gpu_render.engines.rebuild import build_command

PROG = "gpu_render.build"
__all__ = ["IN_FLIGHT", "BuildResult", "main", "run_build"]


def run_build(job: BuildJob, progress: bool = True) -> BuildResult:
    """Build (or resume) the dataset ``job`` describes, with ``job.engine``; its manifest
    records this gpu_render's version.

    Raises UsageError, OSError, NoOpenGLError, and WorkerError when an encoder process or a
    Ray worker dies or fails beyond its retries.
    """
    return run_job(replace(job, version=job.version or __version__), progress)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--layout=bop" in args or ("--layout", "bop") in pairwise(args):
        from gpu_render.cli.bop_options import bop_main  # images of several objects, BOP-scenewise

        return bop_main(list(args))
    preset = any(a == "--preset" or a.startswith("--preset=") for a in args)  # a benchmark's own options
    try:
        if preset:
            from gpu_render.cli.preset_options import parse_preset_args

            job = parse_preset_args(args)
        else:
            job = parse_build_args(argv)
        result = run_build(job)
    except STOPS as exc:
        return report_stop(PROG, exc)
    if job.preset_name is not None:
        report_preset(job, result)
    else:
        report_build(job, result)
    if job.shard is not None:
        seal = build_command(job.dataset_signature(), job.out)
        print(f"when all {job.shard[1]} shards are in {job.out}, seal the dataset with: {seal}")
    return 0


def report_preset(job: BuildJob, result: BuildResult) -> None:
    preset, what = job.preset_name, "images" if job.shard is None else f"images of shard {job.shard[0]}/{job.shard[1]}"
    if result.complete_before or (result.built == 0 and job.shard is not None):
        print(f"{job.out} already holds the {preset} dataset ({result.poses} {what}); nothing to do")
    elif result.built == 0:
        print(
            f"sealed {job.out}: all {result.poses} {preset} images were already built; "
            "wrote its labels and manifest.json"
        )
    else:
        print(
            f"built {result.built} of {result.poses} {preset} {what} into {job.out} in "
            f"{result.seconds:.1f} s: {result.rate:.0f} images/s on {result.renderer}"
        )


def report_build(job: BuildJob, result: BuildResult) -> None:
    sizes = ",".join(str(s) for s in job.sizes)
    what = "poses" if job.shard is None else f"poses of shard {job.shard[0]}/{job.shard[1]}"
    if result.complete_before or (result.built == 0 and job.shard is not None):
        print(f"{job.out} already holds all {result.poses} {what} x sizes {sizes} ({job.format}); nothing to do")
    elif result.built == 0:  # every chunk was built by shards or an earlier run: this run sealed it
        print(
            f"sealed {job.out}: all {result.poses} {what} x sizes {sizes} ({job.format}) were already built; "
            "wrote its labels and manifest.json"
        )
    else:
        print(
            f"built {result.built} of {result.poses} {what} x sizes {sizes} ({job.format}) into {job.out} "
            f"in {result.seconds:.1f} s: {result.rate:.0f} poses/s on {result.renderer}"
        )


if __name__ == "__main__":
    sys.exit(main())
