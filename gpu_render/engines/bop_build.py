"""Builds of ``--layout bop``: images of several objects, drawn one by one on this machine's GL
(:class:`~gpu_render.render.instance_renderer.InstanceRenderer`) and written BOP-scenewise
(:class:`~gpu_render.dataset.layouts.bop.BopLayout`).

Image i is planned from (seed, i) and the pose source's rotation i alone
(:func:`~gpu_render.scene.multi_plan.plan_image`), so it is the same whichever images are built.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gpu_render.dataset.layouts.bop import BopLayout, BopOptions
from gpu_render.dataset.layouts.bop_wds import BopWdsLayout
from gpu_render.render.context import Headless
from gpu_render.render.instance_renderer import InstanceRenderer
from gpu_render.scene.camera import Pinhole
from gpu_render.scene.look import Look
from gpu_render.scene.multi_plan import MultiSpec, plan_border, plan_image, rect_intrinsics
from gpu_render.scene.objects import SceneObject


@dataclass(frozen=True, eq=False)
class BopJob:
    """One ``--layout bop`` build.

    out: OUT. objects: the distinct objects, obj_ids their BOP ids (same order). rotations:
    (N, 3, 3) float64 R of the pose source, one per image (instance 0's). spec: instance counts,
    depth range and seed. width, height: px. camera, look: the scene's. options: the files'.
    signature: JSON-able, what decides the files (a resume must match it exactly).
    """

    out: Path
    objects: tuple[SceneObject, ...]
    obj_ids: tuple[int, ...]
    rotations: np.ndarray
    spec: MultiSpec
    width: int
    height: int
    camera: Pinhole = Pinhole()
    look: Look = Look()
    options: BopOptions = field(default_factory=BopOptions)
    signature: dict[str, Any] = field(default_factory=dict)


def run_bop_build(job: BopJob) -> tuple[int, float]:
    """Build ``job``, or resume it: scenes whose files were all written are kept, the others
    are drawn again from their first image (the same images: each depends on (seed, i) only).
    Returns (images written by this run, seconds). Raises UsageError when OUT holds another build."""
    start = time.perf_counter()
    k = rect_intrinsics(job.camera, job.width, job.height)
    border = plan_border(k, job.width, job.height, job.spec.depth_range[0])
    layout: BopLayout
    if job.options.wds:
        layout = BopWdsLayout(job.out, job.obj_ids, k, job.width, job.height, job.options, len(job.rotations))
    else:
        layout = BopLayout(job.out, job.obj_ids, k, job.width, job.height, job.options)
    resume = layout.claim(job.signature)
    layout.write_models(job.objects)
    per_scene = job.options.images_per_scene
    todo = [i for i in range(len(job.rotations)) if not (resume and layout.scene_complete(i // per_scene))]
    with Headless() as gl:
        renderer = InstanceRenderer(
            gl.ctx, job.objects, job.look, job.width, job.height, k, border, max_instances=job.spec.count_max
        )
        try:
            for i in todo:
                plan = plan_image(job.spec, i, job.rotations[i], k, job.width, job.height)
                got = renderer.render(plan)
                layout.write_image(
                    i,
                    plan.objects,
                    plan.rotation,
                    plan.translation,
                    got.image,
                    got.instance_ids,
                    got.amodal,
                    got.offset,
                    got.depth,
                )
        finally:
            renderer.close()
    layout.close()
    return len(todo), time.perf_counter() - start
