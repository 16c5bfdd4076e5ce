"""The GPU scene renderer against the CPU reference, the labels and itself.

Tolerances (named; SCENES.md):
- PARITY: aliased GPU and reference images agree on at least this share of pixels (no channel
  off by more than pixels.CHANNEL_TOLERANCE), every image, every object, at 64 and 224 px.
- SILHOUETTE_IOU: the rendered mask against the object projected with the written K, R, t.
- SAME_IMAGE: two renders that must show the same picture (symmetries, visual equivalents).
"""

from __future__ import annotations

import moderngl
import numpy as np
import pytest
import trimesh
from scipy.spatial import ConvexHull

from gpu_render.dataset.mesh_files import load_mesh_file
from gpu_render.render.scene_reference import render_scene
from gpu_render.render.scene_renderer import SceneRenderer, scene_instances
from gpu_render.rotations.quaternion import quaternion_to_matrix
from gpu_render.rotations.sources import random_quaternions
from gpu_render.scene.camera import Pinhole, project
from gpu_render.scene.look import Look
from gpu_render.scene.object_labels import scene_labels, visual_equivalents
from gpu_render.scene.objects import SceneObject
from gpu_render.scene.solids import BUILTIN_OBJECTS, builtin_object
from tests.pixels import agreement, assert_agree, save_diff

PARITY = 0.995
SILHOUETTE_IOU = 0.97
SAME_IMAGE = 0.995
ALIASED = Look(antialias=False)
CAMERA = Pinhole()


def rotations(n: int, seed: int) -> np.ndarray:
    return quaternion_to_matrix(random_quaternions(n, seed))


@pytest.fixture(scope="module")
def offcentre_mesh(tmp_path_factory: pytest.TempPathFactory) -> SceneObject:
    """An OFF file of a box off the origin with unequal sides: its bounding box is off-centre and not a cube."""
    box = trimesh.creation.box(extents=(3.0, 1.0, 0.5))
    box.apply_translation((5.0, -2.0, 7.0))
    path = tmp_path_factory.mktemp("mesh") / "box.off"
    path.write_bytes(trimesh.exchange.off.export_off(box).encode())
    return load_mesh_file(path)


def _object(name: str, offcentre_mesh: SceneObject) -> SceneObject:
    return offcentre_mesh if name == "mesh" else builtin_object(name)


def _gpu(
    ctx: moderngl.Context,
    obj: SceneObject,
    look: Look,
    r: np.ndarray,
    size: int,
    camera: Pinhole = CAMERA,
    batch: int | None = None,
) -> np.ndarray:
    with SceneRenderer(ctx, obj, camera, look, size, batch=batch) as renderer:
        return renderer.render(r, camera.translation)


@pytest.mark.parametrize("size", [64, 224])
@pytest.mark.parametrize("name", [*BUILTIN_OBJECTS, "mesh"])
def test_gpu_matches_cpu_reference(ctx: moderngl.Context, name: str, size: int, offcentre_mesh: SceneObject) -> None:
    obj = _object(name, offcentre_mesh)
    r = rotations(4, seed=size + len(name))
    got = _gpu(ctx, obj, ALIASED, r, size, batch=3)  # 4 poses over two atlases
    want = render_scene(obj, CAMERA, ALIASED, r, size)
    assert_agree(f"scene-{name}-{size}", got, want, each=PARITY)
    assert (got != np.asarray(ALIASED.background, np.uint8)).any(axis=-1).mean() > 0.05  # something was drawn


def test_layers_match_cpu_reference(ctx: moderngl.Context) -> None:
    obj, r = builtin_object("cylO"), rotations(3, seed=5)
    with SceneRenderer(ctx, obj, CAMERA, ALIASED, 96) as renderer:
        mask, depth = renderer.render_layers(scene_instances(r, CAMERA.translation))
    _, want_mask, want_depth = render_scene(obj, CAMERA, ALIASED, r, 96, layers=True)
    assert mask.dtype == np.uint8 and depth.dtype == np.float32 and mask.shape == (3, 96, 96)
    assert (mask == want_mask).mean() >= PARITY
    both = (mask > 0) & (want_mask > 0)
    assert np.abs(depth[both] - want_depth[both]).max() < 0.05
    d = CAMERA.d
    assert depth[mask > 0].min() >= d - 1.0 - 1e-4 and depth[mask > 0].max() <= d + 1.0
    assert (depth[mask == 0] == 0).all()


def test_grayscale_and_colours_match_reference(ctx: moderngl.Context) -> None:
    look = Look(
        albedo=(40, 180, 90), background=(20, 30, 250), light=(1.0, -2.0, -1.0), antialias=False, grayscale=True
    )
    obj, r = builtin_object("tetX"), rotations(3, seed=9)
    got = _gpu(ctx, obj, look, r, 64)
    assert_agree("scene-grey", got, render_scene(obj, CAMERA, look, r, 64), each=PARITY)
    drawn = (got != np.asarray(look.background, np.uint8)).any(axis=-1)
    assert (got[drawn][:, 0] == got[drawn][:, 1]).all() and (got[drawn][:, 1] == got[drawn][:, 2]).all()


def _hull_mask(uv: np.ndarray, size: int) -> np.ndarray:
    """Pixels whose centre lies inside the convex hull of uv (P, 2): (S, S) bool."""
    hull = ConvexHull(uv)
    c = np.arange(size) + 0.5
    px, py = np.meshgrid(c, c)
    inside = np.ones((size, size), dtype=bool)
    for a, b, off in hull.equations:  # a x + b y + off <= 0 inside
        inside &= a * px + b * py + off <= 1e-9
    return inside


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.mark.parametrize("name", [*BUILTIN_OBJECTS, "mesh"])
def test_silhouette_matches_projection_with_written_labels(
    ctx: moderngl.Context, name: str, offcentre_mesh: SceneObject
) -> None:
    """Project the object with the K, R, t a build writes; compare with the rendered mask at 128 px."""
    size = 128
    obj = _object(name, offcentre_mesh)
    r = rotations(3, seed=17)
    labels = scene_labels(obj, CAMERA, r, (size,))
    k, rot, t = labels[f"intrinsics_{size}"], labels["matrix"], labels["translation"]
    with SceneRenderer(ctx, obj, CAMERA, ALIASED, size) as renderer:
        mask, _ = renderer.render_layers(scene_instances(r, CAMERA.translation))
    for i in range(len(r)):
        if name.startswith("sphere"):
            # Analytic outline: the unit sphere at t on the optical axis is a disc of radius f tan(asin(1/d)).
            radius = k[0, 0] * np.tan(np.arcsin(1.0 / t[i, 2]))
            c = np.arange(size) + 0.5
            px, py = np.meshgrid(c, c)
            want = (px - k[0, 2]) ** 2 + (py - k[1, 2]) ** 2 <= radius**2
        else:
            points = np.unique(obj.positions.reshape(-1, 3).astype(np.float64), axis=0)
            want = _hull_mask(project(points, rot[i : i + 1], t[i], k)[0], size)
        got = mask[i] > 0
        iou = _iou(got, want)
        if iou < SILHOUETTE_IOU:
            save_diff(
                f"silhouette-{name}-{i}",
                np.repeat(got[..., None] * 255, 3, -1).astype(np.uint8),
                np.repeat(want[..., None] * 255, 3, -1).astype(np.uint8),
            )
        assert iou >= SILHOUETTE_IOU, (name, i, iou)


@pytest.mark.parametrize("name", ["tet", "cube", "icosa", "cone", "cyl"])
def test_symmetric_poses_render_the_same(ctx: moderngl.Context, name: str) -> None:
    obj = builtin_object(name)
    r = rotations(2, seed=3)
    group = obj.symmetry
    picks = np.random.default_rng(0).choice(len(group), 4, replace=False)
    poses = np.concatenate([r, (r[:, None] @ group[picks][None]).reshape(-1, 3, 3)])
    images = _gpu(ctx, obj, ALIASED, poses, 64)
    for j in range(len(picks)):
        twins = images[2 + np.arange(2) * len(picks) + j]
        assert agreement(twins, images[:2]).min() >= SAME_IMAGE, (name, picks[j])


@pytest.mark.parametrize("name", ["tetX", "cylO"])
def test_visual_equivalents_render_the_same_and_others_differ(ctx: moderngl.Context, name: str) -> None:
    obj = builtin_object(name)
    r = rotations(6, seed=11)
    flat, offsets = visual_equivalents(obj, r, CAMERA.translation)
    base = _gpu(ctx, obj, ALIASED, r, 64)
    rng = np.random.default_rng(1)
    differs = 0
    for i in range(len(r)):
        eq = flat[offsets[i] : offsets[i + 1]]
        assert np.allclose(eq[0], r[i])
        pick = eq[rng.choice(len(eq), min(3, len(eq)), replace=False)]
        same = _gpu(ctx, obj, ALIASED, pick, 64)
        assert agreement(same, np.repeat(base[i : i + 1], len(pick), 0)).min() >= SAME_IMAGE, (name, i)
        # A group element whose pose is not in the set shows the mark elsewhere.
        others = [g for g in obj.symmetry if not np.isclose(eq, r[i] @ g, atol=1e-6).all(axis=(1, 2)).any()]
        if others:
            other = _gpu(ctx, obj, ALIASED, (r[i] @ others[len(others) // 2])[None], 64)
            differs += int(agreement(other, base[i : i + 1])[0] < SAME_IMAGE)
    assert differs >= 1


def test_each_pose_stays_in_its_tile(ctx: moderngl.Context) -> None:
    """A camera so close that the object overflows its image: neighbours' tiles stay untouched."""
    near = Pinhole(fov_deg=30.0, distance=1.6)
    obj, r = builtin_object("cube"), rotations(3, seed=2)
    together = _gpu(ctx, obj, ALIASED, r, 32, camera=near)
    alone = np.concatenate([_gpu(ctx, obj, ALIASED, r[i : i + 1], 32, camera=near) for i in range(3)])
    assert (together == alone).all()
    assert (together[:, 0, :] != 0).any()  # it does reach the tile's edge


def test_renderer_leaves_gl_state_as_found(ctx: moderngl.Context) -> None:
    fbo_before = ctx.fbo
    with SceneRenderer(ctx, builtin_object("cone"), CAMERA, Look(), 32) as renderer:
        renderer.render(rotations(2, 1), CAMERA.translation)
        renderer.render_layers(scene_instances(rotations(2, 1), CAMERA.translation))
    assert ctx.fbo is fbo_before


def test_builtins_are_closed_and_convex() -> None:
    """The renderer culls back faces of closed objects and skips the depth test of convex ones."""
    for name in BUILTIN_OBJECTS:
        obj = builtin_object(name)
        assert obj.closed and obj.convex, name
        # Outward winding, which culling relies on: every face's geometric normal points away
        # from the centre (all solids hold the origin inside).
        p = obj.positions.astype(np.float64)
        normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
        assert np.all(np.einsum("ti,ti->t", normal, p.mean(axis=1)) > 0), name


def _mesh_file(tmp_path_factory: pytest.TempPathFactory, mesh: trimesh.Trimesh, name: str) -> SceneObject:
    path = tmp_path_factory.mktemp("mesh") / f"{name}.off"
    path.write_bytes(trimesh.exchange.off.export_off(mesh).encode())
    return load_mesh_file(path)


def test_closed_non_convex_mesh_matches_reference(
    ctx: moderngl.Context, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A torus: culled back faces, but front faces hide each other, so the depth test stays on."""
    obj = _mesh_file(tmp_path_factory, trimesh.creation.torus(1.0, 0.35, major_sections=24, minor_sections=12), "torus")
    assert obj.closed and not obj.convex
    r = rotations(6, seed=11)
    got = _gpu(ctx, obj, ALIASED, r, 64, batch=4)
    assert_agree("scene-torus-64", got, render_scene(obj, CAMERA, ALIASED, r, 64), each=PARITY)
    assert (got != 0).any(axis=-1).mean() > 0.05


def test_open_surface_shows_both_sides(ctx: moderngl.Context, tmp_path_factory: pytest.TempPathFactory) -> None:
    """An open mesh is never culled: a square seen from behind is drawn, as the reference draws it."""
    square = trimesh.Trimesh(
        vertices=[[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], faces=[[0, 1, 2], [0, 2, 3]], process=False
    )
    obj = _mesh_file(tmp_path_factory, square, "square")
    assert not obj.closed
    flip = np.diag([1.0, -1.0, -1.0])  # turned about x: the camera (on +z of the object) sees its back
    for r in (np.eye(3), flip):
        got = _gpu(ctx, obj, ALIASED, r[None], 32)
        want = render_scene(obj, CAMERA, ALIASED, r[None], 32)
        assert_agree("scene-square-32", got, want, each=PARITY)
        assert (got != 0).any(axis=-1).mean() > 0.2


@pytest.mark.parametrize("name", ["icosa", "cylO", "sphereX"])
def test_a_tile_renders_the_same_whatever_the_batch(ctx: moderngl.Context, name: str) -> None:
    """Tile k sits at the same place in every atlas, so the first poses of a short batch are the
    same bytes as in a full one (MSAA on): streams and services that draw a build's chunks with
    other batch sizes get the build's pixels."""
    obj, r = builtin_object(name), rotations(9, seed=4)
    full = _gpu(ctx, obj, Look(), r, 64, batch=73)
    for batch in (1, 3):
        with SceneRenderer(ctx, obj, CAMERA, Look(), 64, batch=batch) as renderer:
            short = renderer.render(r[:batch], CAMERA.translation)
        assert np.array_equal(short, full[:batch]), (name, batch)
