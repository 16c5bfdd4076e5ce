"""The planner of scenes of several objects: everything from (seed, image index) alone."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_render.rotations.uniform import uniform_rotations
from gpu_render.scene.camera import Pinhole
from gpu_render.scene.multi_plan import (
    MultiSpec,
    amodal_border,
    ball_extent,
    default_depth_range,
    plan_border,
    plan_image,
    rect_intrinsics,
)

CAMERA = Pinhole()
W, H = 640, 480
K = rect_intrinsics(CAMERA, W, H)
SPEC = MultiSpec(objects=3, count_min=2, count_max=5, depth_range=default_depth_range(CAMERA), seed=9)


def test_square_k_is_the_cameras() -> None:
    np.testing.assert_array_equal(rect_intrinsics(CAMERA, 96, 96), CAMERA.intrinsics(96))
    assert K[0, 0] == K[1, 1] == CAMERA.focal(W) and (K[0, 2], K[1, 2]) == (320.0, 240.0)


def test_image_depends_on_seed_and_index_only() -> None:
    rotations = uniform_rotations(20, 1)
    plans = [plan_image(SPEC, i, rotations[i], K, W, H) for i in range(20)]
    again = plan_image(SPEC, 13, rotations[13], K, W, H)  # alone, out of order
    np.testing.assert_array_equal(again.translation, plans[13].translation)
    np.testing.assert_array_equal(again.rotation, plans[13].rotation)
    np.testing.assert_array_equal(again.objects, plans[13].objects)
    other = plan_image(MultiSpec(3, 2, 5, SPEC.depth_range, seed=10), 13, rotations[13], K, W, H)
    assert not np.array_equal(other.translation[:1], plans[13].translation[:1])
    counts = {len(p) for p in plans}
    assert counts <= set(range(2, 6)) and len(counts) > 1
    assert {int(o) for p in plans for o in p.objects} == {0, 1, 2}
    for i, p in enumerate(plans):
        np.testing.assert_array_equal(p.rotation[0], rotations[i])
        np.testing.assert_allclose(
            p.rotation @ p.rotation.transpose(0, 2, 1), np.broadcast_to(np.eye(3), p.rotation.shape), atol=1e-12
        )
        near, far = SPEC.depth_range
        assert np.all((p.translation[:, 2] >= near) & (p.translation[:, 2] <= far))
        uv = p.translation @ K.T
        uv = uv[:, :2] / uv[:, 2:]
        assert np.all((uv >= 0) & (uv <= (W, H)))


def test_border_holds_every_planned_instance() -> None:
    border = plan_border(K, W, H, SPEC.depth_range[0])
    for i in range(50):
        p = plan_image(SPEC, i, np.eye(3), K, W, H)
        assert amodal_border(K, p.translation, W, H) <= border


def test_ball_extent_bounds_the_projected_sphere() -> None:
    t = np.array([[1.0, -0.5, 6.0]])
    e = ball_extent(K, t)[0]
    u = np.random.default_rng(0).standard_normal((4000, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    p = (u + t) @ K.T
    uv = p[:, :2] / p[:, 2:]
    assert np.all(uv[:, 0] >= e[0] - 1e-9) and np.all(uv[:, 0] <= e[2] + 1e-9)
    assert np.all(uv[:, 1] >= e[1] - 1e-9) and np.all(uv[:, 1] <= e[3] + 1e-9)
    assert uv[:, 0].min() - e[0] < 1.0 and e[2] - uv[:, 0].max() < 1.0  # and tightly


@pytest.mark.parametrize(
    "kwargs",
    [{"objects": 0}, {"count_min": 0}, {"count_min": 3, "count_max": 2}, {"depth_range": (0.5, 2.0)}],
)
def test_bad_spec_is_refused(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"objects": 2, "count_min": 1, "count_max": 2, "depth_range": (3.0, 4.0)}
    with pytest.raises(ValueError):
        MultiSpec(**{**base, **kwargs})  # type: ignore[arg-type]
