"""Scenes of several objects: the GPU instance renderer against the CPU reference, occlusion,
whole silhouettes of truncated instances, rectangular K, and one instance against the scene renderer.

Tolerances (named):
- PARITY: aliased GPU and reference images agree on at least this share of pixels (no channel off
  by more than pixels.CHANNEL_TOLERANCE).
- ID_PARITY: GPU and reference instance ids agree on at least this share of pixels.
- DEPTH_TOLERANCE: camera z of pixels both show, object units (float32 interpolation).
- SAME_IMAGE: one instance drawn here and by the scene renderer, share of agreeing pixels.
"""

from __future__ import annotations

import moderngl
import numpy as np
import pytest

from gpu_render.dataset.bop_gt import gt_info, reduce_buffers
from gpu_render.render.instance_renderer import InstanceRenderer
from gpu_render.render.multi_reference import render_instances_reference
from gpu_render.render.scene_renderer import SceneRenderer, scene_instances
from gpu_render.rotations.uniform import uniform_rotations
from gpu_render.scene.camera import Pinhole, project
from gpu_render.scene.look import Look
from gpu_render.scene.multi_plan import (
    ImagePlan,
    MultiSpec,
    default_depth_range,
    plan_border,
    plan_image,
    rect_intrinsics,
)
from gpu_render.scene.solids import builtin_object
from tests.pixels import agreement, save_diff

PARITY = 0.995
ID_PARITY = 0.998
DEPTH_TOLERANCE = 0.01
SAME_IMAGE = 0.995
#: Distance, px, from a projected corner to the nearest covered pixel centre of a sharp corner.
CORNER_PX = 1.5
ALIASED = Look(antialias=False)
CAMERA = Pinhole()
NAMES = ("tet", "cylO", "cube")


def _ids_image(ids: np.ndarray) -> np.ndarray:
    """Instance ids as an RGB picture for diff images."""
    return np.repeat((ids * 60 % 256).astype(np.uint8)[..., None], 3, axis=2)


def _plan(objects: list[int], translation: list[tuple[float, float, float]], seed: int = 3) -> ImagePlan:
    n = len(objects)
    return ImagePlan(np.array(objects), uniform_rotations(n, seed), np.array(translation, dtype=np.float64))


def test_parity_with_reference(ctx: moderngl.Context) -> None:
    objs = [builtin_object(n) for n in NAMES]
    w, h = 80, 60
    k = rect_intrinsics(CAMERA, w, h)
    spec = MultiSpec(len(objs), 2, 4, default_depth_range(CAMERA), seed=5)
    border = plan_border(k, w, h, spec.depth_range[0])
    with InstanceRenderer(ctx, objs, ALIASED, w, h, k, border) as renderer:
        for i in range(3):
            plan = plan_image(spec, i, np.eye(3), k, w, h)
            got = renderer.render(plan)
            image, ids, depth, amodal = render_instances_reference(objs, ALIASED, plan, k, w, h, border)
            if agreement(got.image, image) < PARITY:
                pytest.fail(f"image {i}: colour parity; diff at {save_diff(f'multi_parity_{i}', got.image, image)}")
            if (got.instance_ids == ids).mean() < ID_PARITY:
                path = save_diff(f"multi_ids_{i}", _ids_image(got.instance_ids), _ids_image(ids), 0)
                pytest.fail(f"image {i}: instance ids differ; diff at {path}")
            both = (got.depth > 0) & (depth > 0)
            assert np.abs(got.depth - depth)[both].max() <= DEPTH_TOLERANCE
            assert (got.amodal == amodal).mean() >= ID_PARITY
            ours = gt_info(got.instance_ids, got.amodal, got.offset, got.depth)
            want = gt_info(ids, amodal, (border, border), depth)
            for a, b in zip(ours, want, strict=True):
                assert abs(a["px_count_visib"] - b["px_count_visib"]) <= max(2, 0.01 * b["px_count_visib"])
                assert abs(a["px_count_all"] - b["px_count_all"]) <= max(2, 0.01 * b["px_count_all"])


def test_near_instance_hides_far_one(ctx: moderngl.Context) -> None:
    """A cube right in front of an icosahedron on the same axis: the cube's id covers the centre,
    whichever is drawn first, and the icosahedron is partly hidden."""
    objs = [builtin_object("cube"), builtin_object("icosa")]
    s = 64
    k = rect_intrinsics(CAMERA, s, s)
    with InstanceRenderer(ctx, objs, ALIASED, s, s, k, 32) as renderer:
        for order in ((0, 1), (1, 0)):
            z = {0: 6.0, 1: 12.0}
            plan = _plan(list(order), [(1.5 * (o == 1), 0.0, z[o]) for o in order])
            got = renderer.render(plan)
            near = order.index(0) + 1
            assert got.instance_ids[s // 2, s // 2] == near
            counts = reduce_buffers(got.instance_ids, got.amodal, got.offset, got.depth)
            near_c, far_c = counts[near - 1], counts[2 - near]
            assert near_c.px_count_visib == near_c.px_count_all > 0
            assert 0 < far_c.px_count_visib < far_c.px_count_all
            ref = render_instances_reference(objs, ALIASED, plan, k, s, s, 32)[1]
            assert (got.instance_ids == ref).mean() >= ID_PARITY


def test_truncated_instance_amodal_mask_leaves_image(ctx: moderngl.Context) -> None:
    objs = [builtin_object("cube")]
    w, h = 64, 48
    k = rect_intrinsics(CAMERA, w, h)
    border = 40
    plan = _plan([0], [(-2.0, 0.0, 8.0)])  # the centre projects left of the image
    with InstanceRenderer(ctx, objs, ALIASED, w, h, k, border) as renderer:
        got = renderer.render(plan)
    (info,) = gt_info(got.instance_ids, got.amodal, got.offset, got.depth)
    assert info["bbox_obj"][0] < 0 <= info["bbox_visib"][0]
    assert info["px_count_visib"] < info["px_count_all"]
    assert info["px_count_visib"] == int((got.instance_ids == 1).sum())
    assert got.amodal[0, :, :border].any()  # silhouette pixels left of the image
    ref = render_instances_reference(objs, ALIASED, plan, k, w, h, border)[3]
    assert (got.amodal == ref).mean() >= ID_PARITY


def test_rectangular_k_projects_vertices_where_drawn(ctx: moderngl.Context) -> None:
    """Cube corners projected with an off-centre rectangular K bound the drawn pixels."""
    obj = builtin_object("cube")
    w, h = 96, 56
    k = np.array([[70.0, 0.0, 40.0], [0.0, 90.0, 30.0], [0.0, 0.0, 1.0]])
    rotation = uniform_rotations(1, 11)
    plan = ImagePlan(np.array([0]), rotation, np.array([[0.3, -0.2, 5.0]]))
    with InstanceRenderer(ctx, [obj], ALIASED, w, h, k, 0) as renderer:
        got = renderer.render(plan)
    corners = np.unique(obj.positions.reshape(-1, 3).astype(np.float64), axis=0)
    uv = project(corners, rotation, plan.translation[0], k)[0]
    rows, cols = np.nonzero(got.instance_ids == 1)
    assert abs(cols.min() + 0.5 - uv[:, 0].min()) <= CORNER_PX
    assert abs(cols.max() + 0.5 - uv[:, 0].max()) <= CORNER_PX
    assert abs(rows.min() + 0.5 - uv[:, 1].min()) <= CORNER_PX
    assert abs(rows.max() + 0.5 - uv[:, 1].max()) <= CORNER_PX
    # The depth at the projected centre is the camera z of the surface there.
    assert 4.0 < got.depth[int(uv[:, 1].mean()), int(uv[:, 0].mean())] < 5.0


@pytest.mark.parametrize("look", [Look(), ALIASED], ids=["antialiased", "aliased"])
@pytest.mark.parametrize("name", ["cylO", "tetX"])
def test_one_instance_matches_scene_renderer(ctx: moderngl.Context, look: Look, name: str) -> None:
    obj = builtin_object(name)
    s = 64
    rotation = uniform_rotations(2, 7)
    with SceneRenderer(ctx, obj, CAMERA, look, s) as scene:
        want = scene.render(rotation, CAMERA.translation)
    with InstanceRenderer(ctx, [obj], look, s, s, CAMERA.intrinsics(s), 1) as renderer:
        for i in range(2):
            got = renderer.render(ImagePlan(np.array([0]), rotation[i : i + 1], CAMERA.translation[None]))
            if agreement(got.image, want[i]) < SAME_IMAGE:
                path = save_diff(f"multi_one_{name}_{i}", got.image, want[i])
                pytest.fail(f"{name} {i}: differs from the scene renderer; diff at {path}")
            with SceneRenderer(ctx, obj, CAMERA, ALIASED, s) as layers:
                mask, _ = layers.render_layers(scene_instances(rotation[i : i + 1], CAMERA.translation))
            assert ((got.instance_ids == 1) == (mask[0] > 0)).mean() >= ID_PARITY


def test_gl_state_left_as_found(ctx: moderngl.Context) -> None:
    before = ctx.fbo
    target = ctx.simple_framebuffer((8, 8))
    target.use()
    ctx.enable_only(moderngl.BLEND)
    try:
        with InstanceRenderer(ctx, [builtin_object("tet")], Look(), 32, 24, rect_intrinsics(CAMERA, 32, 24), 16) as r:
            r.render(_plan([0], [(0.0, 0.0, 6.0)]))
        assert ctx.fbo is target
    finally:
        ctx.enable_only(moderngl.NOTHING)
        # Bind what was bound before (the default framebuffer 0 when nothing was), then release.
        (before if before is not None else ctx.detect_framebuffer(0)).use()
        target.release()


def test_border_too_small_is_refused(ctx: moderngl.Context) -> None:
    with InstanceRenderer(ctx, [builtin_object("tet")], ALIASED, 32, 32, CAMERA.intrinsics(32), 0) as r:
        with pytest.raises(ValueError, match="border"):
            r.render(_plan([0], [(0.0, 0.0, 3.0)]))


@pytest.mark.parametrize("antialias", [False, True])
def test_background_ids_and_depth_are_cleared(ctx: moderngl.Context, antialias: bool) -> None:
    """A coloured background, id 0 and z 0 off the objects, and nothing left from the image before."""
    look = Look(background=(10, 20, 30), antialias=antialias)
    k = rect_intrinsics(CAMERA, 40, 30)
    with InstanceRenderer(ctx, [builtin_object("tet"), builtin_object("cube")], look, 40, 30, k, 20) as r:
        r.render(_plan([1, 0, 1], [(-1.0, 0.0, 6.0), (0.0, 0.0, 7.0), (1.0, 0.5, 6.0)]))
        got = r.render(_plan([0], [(0.0, 0.0, 9.0)]))
    off = got.instance_ids == 0
    assert set(np.unique(got.instance_ids)) == {0, 1}
    assert off.sum() > 600 and np.all(got.depth[off] == 0) and np.all(got.depth[~off] > 8)
    far = off.copy()  # at least a pixel from the object (antialiased edges blend)
    far[1:] &= off[:-1]
    far[:-1] &= off[1:]
    far[:, 1:] &= off[:, :-1]
    far[:, :-1] &= off[:, 1:]
    assert np.all(got.image[far] == (10, 20, 30))
    assert got.amodal.shape == (1, 70, 80)


def test_more_instances_than_bands_take_turns(ctx: moderngl.Context) -> None:
    objs = [builtin_object("tet"), builtin_object("cube")]
    w, h = 48, 36
    k = rect_intrinsics(CAMERA, w, h)
    plan = _plan(
        [0, 1, 0, 1, 1], [(-1.5, 0.0, 7.0), (1.0, 0.5, 8.0), (0.0, -1.0, 9.0), (2.5, 1.5, 7.0), (0.0, 0.0, 6.0)]
    )
    with InstanceRenderer(ctx, objs, ALIASED, w, h, k, 30, max_instances=2) as renderer:
        assert renderer.bands == 2
        got = renderer.render(plan)
    _, ids, _, amodal = render_instances_reference(objs, ALIASED, plan, k, w, h, 30)
    assert all(a.any() for a in got.amodal)
    assert (got.amodal == amodal).mean() >= ID_PARITY and (got.instance_ids == ids).mean() >= ID_PARITY
