"""The numpy CPU reference for scene objects (gpu_render.render.scene_reference, rasterize).

Objects are built here from vertex lists so the tests stand without gpu_render.scene.solids;
the tests at the end use the built-in solids.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy.spatial import ConvexHull
from scipy.spatial.transform import Rotation

from gpu_render.render import rasterize as rasterize_module
from gpu_render.render.rasterize import rasterize
from gpu_render.render.scene_reference import project_triangles, render_scene
from gpu_render.scene.camera import Pinhole, project
from gpu_render.scene.look import LUMA, Look
from gpu_render.scene.marks import FaceMark
from gpu_render.scene.objects import SceneObject
from gpu_render.scene.solids import BUILTIN_OBJECTS, builtin_object

CAMERA = Pinhole()
INV_SQRT3 = 1 / math.sqrt(3)


def flat_object(
    name: str, vertices: np.ndarray, faces: list[tuple[int, ...]], mark: FaceMark | None = None
) -> SceneObject:
    """Polyhedron from (V, 3) vertices and convex faces listed counter-clockwise from outside;
    faces are fanned into triangles, each corner carrying the face normal."""
    tris, normals = [], []
    for face in faces:
        p = vertices[list(face)]
        n = np.cross(p[1] - p[0], p[2] - p[0])
        n /= np.linalg.norm(n)
        assert n @ p.mean(axis=0) > 0, f"face {face} is not counter-clockwise from outside"
        for k in range(1, len(face) - 1):
            tris.append([p[0], p[k], p[k + 1]])
            normals.append([n, n, n])
    return SceneObject(name, np.array(tris, np.float32), np.array(normals, np.float32), mark=mark)


def cube() -> SceneObject:
    v = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float) * INV_SQRT3
    # index = 4 * (x > 0) + 2 * (y > 0) + (z > 0); each face counter-clockwise seen from outside
    faces = [(4, 6, 7, 5), (0, 1, 3, 2), (2, 3, 7, 6), (0, 4, 5, 1), (1, 5, 7, 3), (0, 2, 6, 4)]
    return flat_object("cube", v, faces)


TET = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float) * INV_SQRT3


def tet_x() -> SceneObject:
    """tetX: the face opposite (1, 1, 1) is red."""
    faces = [(1, 3, 2), (0, 2, 3), (0, 3, 1), (0, 1, 2)]
    centre = TET[1:].mean(axis=0)
    return flat_object("tetX", TET, faces, mark=FaceMark(centre=centre, normal=centre / np.linalg.norm(centre)))


def octahedron() -> SceneObject:
    v = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
    faces = [(0, 2, 4), (2, 1, 4), (1, 3, 4), (3, 0, 4), (2, 0, 5), (1, 2, 5), (3, 1, 5), (0, 3, 5)]
    return flat_object("octa", v, faces)


def icosphere(levels: int) -> SceneObject:
    """Unit sphere, 20 * 4**levels triangles, smooth normals (= positions)."""
    p = (1 + 5**0.5) / 2
    v = np.array(
        [
            (-1, p, 0),
            (1, p, 0),
            (-1, -p, 0),
            (1, -p, 0),
            (0, -1, p),
            (0, 1, p),
            (0, -1, -p),
            (0, 1, -p),
            (p, 0, -1),
            (p, 0, 1),
            (-p, 0, -1),
            (-p, 0, 1),
        ],
        float,
    )
    f = [
        (0, 11, 5),
        (0, 5, 1),
        (0, 1, 7),
        (0, 7, 10),
        (0, 10, 11),
        (1, 5, 9),
        (5, 11, 4),
        (11, 10, 2),
        (10, 7, 6),
        (7, 1, 8),
        (3, 9, 4),
        (3, 4, 2),
        (3, 2, 6),
        (3, 6, 8),
        (3, 8, 9),
        (4, 9, 5),
        (2, 4, 11),
        (6, 2, 10),
        (8, 6, 7),
        (9, 8, 1),
    ]
    tri = v[np.array(f)]
    tri /= np.linalg.norm(tri, axis=-1, keepdims=True)
    for _ in range(levels):
        a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
        ab, bc, ca = ((x + y) / np.linalg.norm(x + y, axis=-1, keepdims=True) for x, y in ((a, b), (b, c), (c, a)))
        tri = np.concatenate([np.stack(t, 1) for t in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))])
    return SceneObject("sphere", tri.astype(np.float32), tri.astype(np.float32))


def rotations(n: int, seed: int) -> np.ndarray:
    return Rotation.random(n, random_state=seed).as_matrix()


def centres(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(S, S) u and v of the pixel centres, [row, col]."""
    c = np.arange(size) + 0.5
    u, v = np.meshgrid(c, c)
    return u, v


def inside_polygon(poly: np.ndarray, size: int) -> np.ndarray:
    """(S, S) bool: pixel centres inside the convex polygon (K, 2) (either winding), edges included."""
    u, v = centres(size)
    sign = np.sign(np.sum(poly[:, 0] * np.roll(poly[:, 1], -1) - np.roll(poly[:, 0], -1) * poly[:, 1]))
    inside = np.ones((size, size), bool)
    for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=False):
        inside &= sign * ((b[0] - a[0]) * (v - a[1]) - (b[1] - a[1]) * (u - a[0])) >= 0
    return inside


def hull_silhouette(obj: SceneObject, rotation: np.ndarray, size: int) -> np.ndarray:
    """(S, S) bool: pixel centres inside the convex hull of the projected vertices."""
    points = obj.positions.reshape(-1, 3).astype(float)
    uv = project(points, rotation[None], CAMERA.translation, CAMERA.intrinsics(size))[0]
    return inside_polygon(uv[ConvexHull(uv).vertices], size)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sum(a & b) / np.sum(a | b))


def brute_force(uv: np.ndarray, z: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The z-buffer rules, one triangle at a time over the whole image: (triangle id, depth)."""
    u, v = centres(size)
    best_z = np.full((size, size), np.inf)
    best = np.full((size, size), -1)
    for t in range(len(uv)):
        (u0, v0), (u1, v1), (u2, v2) = uv[t]
        area2 = (u1 - u0) * (v2 - v0) - (v1 - v0) * (u2 - u0)
        if abs(area2) <= 1e-12:
            continue
        lam = [
            ((u2 - u1) * (v - v1) - (v2 - v1) * (u - u1)) / area2,
            ((u0 - u2) * (v - v2) - (v0 - v2) * (u - u2)) / area2,
            ((u1 - u0) * (v - v0) - (v1 - v0) * (u - u0)) / area2,
        ]
        inside = (lam[0] >= 0) & (lam[1] >= 0) & (lam[2] >= 0)
        depth = 1 / (lam[0] / z[t, 0] + lam[1] / z[t, 1] + lam[2] / z[t, 2])
        win = inside & (depth < best_z)
        best[win], best_z[win] = t, depth[win]
    return best, np.where(best >= 0, best_z, 0.0)


# --- rasterize ---------------------------------------------------------------------------------


@pytest.mark.parametrize("block", [1 << 21, 50])
def test_rasterize_matches_brute_force_on_a_triangle_soup(monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    """Random interpenetrating triangles, partly off-image, in blocks of any size."""
    monkeypatch.setattr(rasterize_module, "BLOCK_CANDIDATES", block)
    rng = np.random.default_rng(3)
    size = 40
    uv = rng.uniform(-10, size + 10, (60, 3, 2))
    z = rng.uniform(2, 5, (60, 3))
    tri, bary, depth = rasterize(uv, z, size)
    want_tri, want_depth = brute_force(uv, z, size)
    assert np.array_equal(tri, want_tri)
    np.testing.assert_allclose(depth, want_depth, rtol=1e-12)
    hit = tri >= 0
    assert 0.3 < hit.mean() < 1
    np.testing.assert_allclose(bary[hit].sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(bary[hit] >= 0) and np.all(bary[~hit] == 0) and np.all(depth[~hit] == 0)


def test_rasterize_matches_brute_force_on_slivers_and_grid_corners() -> None:
    """Corners on the half-pixel grid (centres exactly on edges), near-horizontal slivers and
    corners far off-image: the span cutting must never lose a pixel the edge test accepts."""
    rng = np.random.default_rng(5)
    size = 32
    grid = rng.integers(-4, 2 * size + 8, (40, 3, 2)) / 2
    sliver = rng.uniform(0, size, (40, 3, 2))
    sliver[:, 1, 1] = sliver[:, 0, 1] + rng.choice([0.0, 1e-13, 1e-9, 1e-4], 40)
    sliver[:, 2, 1] = sliver[:, 0, 1] + rng.uniform(-3, 3, 40)
    far = rng.uniform(-1e4, 1e4, (20, 3, 2))
    uv = np.concatenate([grid, sliver, far])
    z = rng.uniform(2, 5, (len(uv), 3))
    tri, _, depth = rasterize(uv, z, size)
    want_tri, want_depth = brute_force(uv, z, size)
    assert np.array_equal(tri, want_tri)
    np.testing.assert_allclose(depth, want_depth, rtol=1e-12)


def test_rasterize_barycentrics_are_perspective_correct() -> None:
    """The interpolated camera-frame point projects back onto the pixel centre at the depth."""
    rng = np.random.default_rng(4)
    size, f = 32, 40.0
    cam = np.stack([rng.uniform(-1, 1, (8, 3)), rng.uniform(-1, 1, (8, 3)), rng.uniform(2, 6, (8, 3))], axis=-1)
    uv = f * cam[..., :2] / cam[..., 2:] + size / 2
    tri, bary, depth = rasterize(uv, cam[..., 2], size)
    hit = tri >= 0
    point = np.einsum("pc,pcj->pj", bary[hit], cam[tri[hit]])
    u, v = centres(size)
    np.testing.assert_allclose(f * point[:, 0] / point[:, 2] + size / 2, u[hit], atol=1e-9)
    np.testing.assert_allclose(f * point[:, 1] / point[:, 2] + size / 2, v[hit], atol=1e-9)
    np.testing.assert_allclose(point[:, 2], depth[hit], rtol=1e-12)


@pytest.mark.parametrize("block", [1 << 21, 1])
def test_nearer_triangle_wins_in_either_order_and_ties_keep_the_first(
    monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(rasterize_module, "BLOCK_CANDIDATES", block)
    a = np.array([[2.0, 2.0], [30.0, 4.0], [6.0, 28.0]])
    b = np.array([[28.0, 28.0], [3.0, 26.0], [26.0, 3.0]])
    overlap = inside_polygon(a, 32) & inside_polygon(b, 32)
    assert overlap.sum() > 50
    near, far = np.full(3, 2.0), np.full(3, 3.0)
    for order in ((0, 1), (1, 0)):
        uv = np.stack([a, b])[list(order)]
        z = np.stack([near, far])[list(order)]
        tri, _, depth = rasterize(uv, z, 32)
        assert np.all(tri[overlap] == order.index(0))  # triangle a, wherever it is listed
        np.testing.assert_allclose(depth[overlap], 2.0)
    # Equal depth (the same triangle twice, so the same arithmetic): the first listed keeps it.
    tri, _, _ = rasterize(np.stack([a, b, a, b]), np.stack([near, far, near, far]), 32)
    assert np.all(tri[overlap] == 0) and set(np.unique(tri)) == {-1, 0, 1}


def test_rasterize_rules_at_the_edges() -> None:
    """Centres exactly on an edge are inside; zero-area triangles draw nothing; z <= 0 is refused."""
    # A right triangle whose legs run through pixel centres 0.5 and 3.5.
    uv = np.array([[[0.5, 0.5], [3.5, 0.5], [0.5, 3.5]]])
    tri, _, _ = rasterize(uv, np.full((1, 3), 2.0), 5)
    want = np.zeros((5, 5), bool)
    for row in range(4):
        want[row, : 4 - row] = True  # col + row <= 3, all on or inside the closed triangle
    assert np.array_equal(tri >= 0, want)
    line = np.array([[[0.5, 0.5], [2.5, 2.5], [4.5, 4.5]]])
    assert np.all(rasterize(line, np.full((1, 3), 2.0), 5)[0] == -1)
    with pytest.raises(ValueError, match="in front of the camera"):
        rasterize(uv, np.array([[2.0, 0.0, 2.0]]), 5)


# --- render_scene ------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [cube, octahedron, lambda: icosphere(2)])
def test_silhouette_is_the_hull_of_the_projected_vertices(make: Callable[[], SceneObject]) -> None:
    obj = make()
    size = 96
    rs = rotations(4, seed=1)
    _, mask, _ = render_scene(obj, CAMERA, Look(), rs, size, layers=True)
    for r, m in zip(rs, mask, strict=False):
        want = hull_silhouette(obj, r, size)
        assert iou(m == 255, want) >= 0.99
        assert np.sum((m == 255) != want) <= 2  # only centres exactly on an edge can differ


def test_layers_depth_and_background() -> None:
    """Face-on cube: depth is d - 1/sqrt(3) over the face; octahedron vertex on the axis: d - 1."""
    look = Look(background=(10, 20, 30))
    size = 64
    d = CAMERA.d
    images, mask, depth = render_scene(cube(), CAMERA, look, np.eye(3)[None], size, layers=True)
    assert images.dtype == np.uint8 and images.shape == (1, size, size, 3)
    assert mask.dtype == np.uint8 and depth.dtype == np.float32
    on = mask[0] == 255
    assert set(np.unique(mask)) == {0, 255}
    np.testing.assert_allclose(depth[0][on], d - INV_SQRT3, rtol=1e-6)
    assert np.all(depth[0][~on] == 0)
    assert np.all(images[0][~on] == (10, 20, 30))
    assert not np.any(np.all(images[0][on] == (10, 20, 30), axis=-1))

    _, mask, depth = render_scene(octahedron(), CAMERA, look, np.eye(3)[None], size, layers=True)
    centre = depth[0, size // 2 - 1 : size // 2 + 1, size // 2 - 1 : size // 2 + 1]
    # Half a pixel off the axis the face has risen by about 0.5 px * d / f.
    np.testing.assert_allclose(centre, d - 1, atol=2 * 0.5 * d / CAMERA.focal(size))
    assert depth[0][mask[0] == 255].min() == centre.min()


def test_face_on_cube_is_shaded_exactly() -> None:
    size = 48
    albedo = (200, 120, 40)
    light = np.array([-1.0, -1.0, -2.0])
    n_dot_l = float(np.array([0.0, 0.0, -1.0]) @ (light / np.linalg.norm(light)))  # 2 / sqrt(6)
    want = np.floor(np.array(albedo) * (0.35 + 0.65 * n_dot_l) + 0.5)
    images, mask, _ = render_scene(cube(), CAMERA, Look(albedo=albedo), np.eye(3)[None], size, layers=True)
    on = mask[0] == 255
    # The front face alone: a square of half-width f s / (d - s) around the centre.
    half = CAMERA.focal(size) * INV_SQRT3 / (CAMERA.d - INV_SQRT3)
    u, v = centres(size)
    assert np.array_equal(on, (np.abs(u - size / 2) <= half) & (np.abs(v - size / 2) <= half))
    assert np.all(images[0][on] == want)


def test_grayscale_writes_the_luma_in_every_channel() -> None:
    obj = cube()
    rs = rotations(3, seed=2)
    colour = render_scene(obj, CAMERA, Look(albedo=(220, 90, 30)), rs, 64).astype(float)
    grey, mask, _ = render_scene(obj, CAMERA, Look(albedo=(220, 90, 30), grayscale=True), rs, 64, layers=True)
    on = mask == 255
    assert np.all(grey[..., 0] == grey[..., 1]) and np.all(grey[..., 1] == grey[..., 2])
    # The luma of the (unrounded) colour, so within one level of the luma of the rounded one.
    assert np.abs(grey[..., 0][on] - colour[on] @ np.array(LUMA)).max() <= 1.0
    assert len(np.unique(grey[..., 0][on])) >= 3  # several faces, several shades


def test_face_mark_colours_exactly_its_face() -> None:
    obj = tet_x()
    size = 96
    red_normal = -TET[0] / np.linalg.norm(TET[0])
    # Poses in which the red face faces the camera and in which it faces away.
    rs = rotations(40, seed=5)
    facing = np.array([(r @ red_normal) @ (r @ (-TET[0] / 3) + CAMERA.translation) < 0 for r in rs])
    assert facing.any() and not facing.all()
    images, mask, _ = render_scene(obj, CAMERA, Look(), rs, size, layers=True)
    for r, image, m, seen in zip(rs, images, mask, facing, strict=False):
        red = (image[..., 0] > 0) & (image[..., 1] == 0) & (image[..., 2] == 0)
        if not seen:
            assert not red.any()
            continue
        uv = project(TET[1:], r[None], CAMERA.translation, CAMERA.intrinsics(size))[0]
        assert np.array_equal(red, inside_polygon(uv, size))
        grey = (m == 255) & ~red
        assert np.all(image[grey][:, 0] == image[grey][:, 1]) and np.all(image[grey][:, 1] == image[grey][:, 2])


def test_smooth_sphere_normals_follow_the_surface() -> None:
    """Interpolated normals: with the light towards the camera, the sphere is brightest at the
    centre and darkens monotonically towards the rim along a row."""
    look = Look(light=(0.0, 0.0, -1.0))
    image = render_scene(icosphere(3), CAMERA, look, np.eye(3)[None], 128)[0, :, :, 0].astype(int)
    row = image[64, 64:]
    on = row[row > 0]
    assert on[0] == 200 and on[-1] < 120
    assert np.all(np.diff(on) <= 0)


def test_project_triangles_agrees_with_camera_project() -> None:
    obj = cube()
    r = rotations(1, seed=7)[0]
    uv, z = project_triangles(obj.positions, r, CAMERA.translation, CAMERA.intrinsics(100))
    want = project(obj.positions.reshape(-1, 3).astype(float), r[None], CAMERA.translation, CAMERA.intrinsics(100))[0]
    np.testing.assert_allclose(uv.reshape(-1, 2), want, rtol=1e-12)
    np.testing.assert_allclose(z, (obj.positions.astype(float) @ r.T)[..., 2] + CAMERA.d)


def test_render_scene_shapes_and_refusals() -> None:
    out = render_scene(cube(), CAMERA, Look(), rotations(2, seed=0), 20)
    assert out.shape == (2, 20, 20, 3) and out.dtype == np.uint8
    assert render_scene(cube(), CAMERA, Look(), np.zeros((0, 3, 3)), 20).shape == (0, 20, 20, 3)
    with pytest.raises(ValueError, match="rotation must be"):
        render_scene(cube(), CAMERA, Look(), np.eye(3), 20)


# --- the built-in solids -----------------------------------------------------------------------

RX180 = np.diag([1.0, -1.0, -1.0])  # turns the object's +z towards the camera


@pytest.mark.parametrize("name", BUILTIN_OBJECTS)
def test_builtin_silhouettes_are_the_hulls_of_their_vertices(name: str) -> None:
    obj = builtin_object(name)
    size = 96
    rs = rotations(2, seed=8)
    _, mask, _ = render_scene(obj, CAMERA, Look(), rs, size, layers=True)
    for r, m in zip(rs, mask, strict=False):
        want = hull_silhouette(obj, r, size)
        assert iou(m == 255, want) >= 0.99
        assert np.sum((m == 255) != want) <= 3


@pytest.mark.parametrize("name", ["tet", "cube", "icosa", "cone", "cyl"])
def test_symmetric_poses_render_the_same_image(name: str) -> None:
    """R and R G_k show the same picture (up to ties on edges shared by two faces)."""
    obj = builtin_object(name)
    r = rotations(1, seed=9)[0]
    ks = np.random.default_rng(9).choice(np.arange(1, len(obj.symmetry)), size=3, replace=False)
    images = render_scene(obj, CAMERA, Look(), np.concatenate([r[None], r @ obj.symmetry[ks]]), 96)
    for image in images[1:]:
        assert np.sum(np.any(image != images[0], axis=-1)) <= 10


def test_cylo_disc_is_the_projected_circle() -> None:
    """Top cap facing the camera straight on: the red disc projects to a circle."""
    size = 128
    image = render_scene(builtin_object("cylO"), CAMERA, Look(), RX180[None], size)[0]
    red = (image[..., 0] > 0) & (image[..., 1] == 0) & (image[..., 2] == 0)
    depth = CAMERA.d - 0.8
    f = CAMERA.focal(size)
    u, v = centres(size)
    dist2 = (u - (size / 2 + f * 0.3 / depth)) ** 2 + (v - size / 2) ** 2
    radius = f * 0.15 / depth
    assert np.all(red[dist2 <= (radius - 0.01) ** 2]) and not np.any(red[dist2 >= (radius + 0.01) ** 2])
    assert red.sum() > 50


def test_spherex_mark_shows_only_when_it_faces_the_camera() -> None:
    size = 96
    front, back = render_scene(builtin_object("sphereX"), CAMERA, Look(), np.stack([RX180, np.eye(3)]), size)
    centre = front[size // 2, size // 2]
    assert centre[2] > 0 and centre[0] == 0 and centre[1] == 0  # the blue dot
    assert np.any((front[..., 0] > 0) & (front[..., 1] == 0) & (front[..., 2] == 0))  # the red X
    assert np.all(back == back[..., :1])  # grey everywhere: the mark is on the far side


def test_builtin_tetx_red_face_matches_the_test_tetrahedron() -> None:
    rs = rotations(6, seed=10)
    np.testing.assert_array_equal(
        render_scene(builtin_object("tetX"), CAMERA, Look(), rs, 64), render_scene(tet_x(), CAMERA, Look(), rs, 64)
    )
