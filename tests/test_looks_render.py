"""The richer looks drawn on the GPU against the numpy CPU reference: textured meshes of each
format, random point lights, the Blinn-Phong term and photographs behind the object.

Aliased images must agree on >= 99.5% of their pixels (no channel off by more than
CHANNEL_TOLERANCE), as the reference's other tests ask; antialiased ones away from the
reference's edges. A failure saves a diff image (tests/pixels.py).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import moderngl
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from gpu_render.dataset.backgrounds import photo_catalogue
from gpu_render.dataset.mesh_files import load_mesh_file
from gpu_render.dataset.verify_checks import edge_pixels
from gpu_render.render.backends import backend
from gpu_render.render.look_renderer import LookRenderer
from gpu_render.render.scene_reference import render_scene
from gpu_render.render.scene_renderer import SceneRenderer, scene_instances
from gpu_render.render.textures import mipmaps, sample_trilinear
from gpu_render.scene.backdrop import background_tiles, draw_backgrounds
from gpu_render.scene.camera import Pinhole
from gpu_render.scene.lights import RENDER4CNN, PointLights
from gpu_render.scene.look import Look
from gpu_render.scene.objects import SceneObject
from gpu_render.scene.scene import ObjectScene
from gpu_render.scene.solids import builtin_object
from tests.pixels import CHANNEL_TOLERANCE, assert_agree
from tests.textured_meshes import (
    gradient_texture,
    uniform_texture,
    write_glb,
    write_obj_two_materials,
    write_photos,
    write_ply_colours,
)

CAMERA = Pinhole()
SIZE = 64
#: Share of agreeing pixels per image (the reference's criterion).
AGREEMENT = 0.995
FIRST = 20  # image indices 20.. of a build


@pytest.fixture(scope="module")
def meshes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SceneObject]:
    root = tmp_path_factory.mktemp("meshes")
    return {
        "obj": load_mesh_file(write_obj_two_materials(root / "obj", gradient_texture(seed=0))),
        "glb": load_mesh_file(write_glb(root / "cube.glb", gradient_texture(seed=1))),
        "ply": load_mesh_file(write_ply_colours(root / "sphere.ply")),
    }


@pytest.fixture(scope="module")
def photos_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    write_photos(root, [(200, 150), (50, 40), (300, 300), (64, 90)])
    return root


def rotations(n: int, seed: int) -> np.ndarray:
    return Rotation.random(n, random_state=seed).as_matrix()


def draw(ctx: moderngl.Context, obj: SceneObject, look: Look, r: np.ndarray) -> np.ndarray:
    with LookRenderer(ctx, obj, CAMERA, look, SIZE) as renderer:
        return renderer.render_instances(scene_instances(r, CAMERA.translation, np.arange(FIRST, FIRST + len(r))))


def reference(obj: SceneObject, look: Look, r: np.ndarray) -> np.ndarray:
    images = render_scene(obj, CAMERA, replace(look, antialias=False), r, SIZE, first_index=FIRST)
    assert isinstance(images, np.ndarray)
    return images


def looks(photos_dir: Path) -> dict[str, Look]:
    return {
        "directional": Look(antialias=False),
        "points": Look(antialias=False, points=RENDER4CNN, seed=3),
        "specular": Look(antialias=False, specular=0.5, shininess=16.0),
        "photos": Look(antialias=False, photos=photo_catalogue(photos_dir, 0.7), points=RENDER4CNN, specular=0.3),
        "grey": Look(antialias=False, photos=photo_catalogue(photos_dir, 0.7), points=RENDER4CNN, grayscale=True),
    }


@pytest.mark.parametrize("look_name", ["directional", "points", "specular", "photos", "grey"])
@pytest.mark.parametrize("fmt", ["obj", "glb", "ply"])
def test_textured_meshes_agree_with_the_reference(
    ctx: moderngl.Context, meshes: dict[str, SceneObject], photos_dir: Path, fmt: str, look_name: str
) -> None:
    look = looks(photos_dir)[look_name]
    r = rotations(4, seed=len(fmt) + len(look_name))
    assert_agree(
        f"looks-{fmt}-{look_name}", draw(ctx, meshes[fmt], look, r), reference(meshes[fmt], look, r), AGREEMENT
    )


@pytest.mark.parametrize("name", ["tetX", "cyl", "sphereX"])
def test_solids_with_point_lights_and_photos_agree(ctx: moderngl.Context, photos_dir: Path, name: str) -> None:
    """Marks keep their colours under the richer look (marks.glsl is shared)."""
    look = looks(photos_dir)["photos"]
    obj = builtin_object(name)
    r = rotations(4, seed=5)
    assert_agree(f"looks-{name}", draw(ctx, obj, look, r), reference(obj, look, r), AGREEMENT)


def test_antialiased_edges_blend_into_the_photograph(
    ctx: moderngl.Context, meshes: dict[str, SceneObject], photos_dir: Path
) -> None:
    """MSAA against the aliased reference away from its edges; and on the silhouette some pixels
    lie strictly between the object's colour and the photograph's (a blend, not a pasted mask)."""
    look = replace(looks(photos_dir)["photos"], antialias=True)
    obj = meshes["glb"]
    r = rotations(3, seed=9)
    got = draw(ctx, obj, look, r)
    want = reference(obj, look, r)
    for k in range(len(r)):
        close = (np.abs(got[k].astype(int) - want[k].astype(int)) <= CHANNEL_TOLERANCE).all(axis=-1)
        assert (close | edge_pixels(want[k])).mean() >= AGREEMENT
    with SceneRenderer(ctx, obj, CAMERA, replace(look, photos=None, points=None, specular=0.0), SIZE) as plain:
        mask, _ = plain.render_layers(scene_instances(r, CAMERA.translation))
    tiles = background_tiles(look.photos, look.seed, np.arange(FIRST, FIRST + len(r)), SIZE)  # type: ignore[arg-type]
    outside = mask == 0
    ring = outside & ~np.all(got == tiles, axis=-1)  # background pixels the object's edge reached
    assert ring.sum() > 20
    # Far from the object the photograph is copied exactly.
    assert np.array_equal(got[:, :4, :4], tiles[:, :4, :4]) or not outside[:, :4, :4].all()


def test_a_uniform_texture_draws_as_the_same_colour(ctx: moderngl.Context, tmp_path: Path) -> None:
    """sRGB handling: a texture of one colour c draws exactly as --color c (texels decoded to
    linear for filtering and mipmapping, encoded back for the shading)."""
    colour = (180, 90, 40)
    obj = load_mesh_file(write_glb(tmp_path / "uniform.glb", uniform_texture(colour)))
    plain = load_mesh_file(tmp_path / "uniform.glb", textures=False)
    assert obj.surface is not None and plain.surface is None
    r = rotations(4, seed=2)
    textured = draw(ctx, obj, Look(antialias=False), r)
    with SceneRenderer(ctx, plain, CAMERA, Look(albedo=colour, antialias=False), SIZE) as renderer:
        untextured = renderer.render(r, CAMERA.translation)
    assert np.abs(textured.astype(int) - untextured.astype(int)).max() <= 1


def test_mipmaps_average_in_linear_light() -> None:
    """A black and white checkerboard's 1 x 1 level is the sRGB code of linear 0.5 (188), not 128."""
    board = np.zeros((8, 8, 3), np.uint8)
    board[::2, ::2] = board[1::2, 1::2] = 255
    levels = mipmaps(board)
    assert [lv.shape[:2] for lv in levels] == [(8, 8), (4, 4), (2, 2), (1, 1)]
    assert np.all(levels[-1] == 188)
    # Far minified, the trilinear sample is that grey too.
    got = sample_trilinear(levels, np.array([[0.3, 0.7]]), np.array([64.0]))
    assert abs(got[0, 0] * 255 - 188) < 1


def test_plain_looks_keep_the_original_renderer(ctx: moderngl.Context, meshes: dict[str, SceneObject]) -> None:
    """The default look of an object without a surface draws with the original shaders, so
    today's builds keep their bytes; a surface or a richer look takes the look renderer."""
    cube = builtin_object("cube")
    for obj, look, kind in (
        (cube, Look(), SceneRenderer),
        (meshes["ply"], Look(), LookRenderer),
        (cube, Look(points=RENDER4CNN), LookRenderer),
        (cube, Look(specular=0.1), LookRenderer),
    ):
        renderer = backend(ObjectScene(obj, CAMERA, look)).renderer(ctx, 32, 4)
        try:
            assert type(renderer) is kind
        finally:
            renderer.close()


def test_lights_come_from_seed_and_index_alone() -> None:
    from gpu_render.scene.lights import draw_lights

    rig = PointLights(count=(1, 4))
    whole = draw_lights(rig, 5, np.arange(100))
    part = draw_lights(rig, 5, np.array([97, 3, 50]))
    for row, i in enumerate((97, 3, 50)):
        assert np.array_equal(part.offset[row], whole.offset[i], equal_nan=True)
        assert part.ambient[row] == whole.ambient[i]
    assert not np.array_equal(draw_lights(rig, 6, np.arange(100)).ambient, whole.ambient)
    # Counts span the range, padding is NaN, distances lie in it.
    assert set(whole.count.tolist()) == {1, 2, 3, 4}
    for row, c in enumerate(whole.count):
        assert np.isnan(whole.energy[row, c:]).all() and not np.isnan(whole.energy[row, :c]).any()
        d = np.linalg.norm(whole.offset[row, :c], axis=1)
        assert np.all((d >= 8 - 1e-9) & (d <= 20 + 1e-9))


def test_backgrounds_come_from_seed_and_index_alone(photos_dir: Path) -> None:
    photos = photo_catalogue(photos_dir, 0.5)
    whole = draw_backgrounds(photos, 1, np.arange(400))
    part = draw_backgrounds(photos, 1, np.array([399, 7]))
    assert part.photo.tolist() == [whole.photo[399], whole.photo[7]]
    share = float((whole.photo >= 0).mean())
    assert 0.4 < share < 0.6  # the ratio
    assert set(whole.photo[whole.photo >= 0].tolist()) == set(range(len(photos.names)))
    assert np.all((whole.grey[whole.photo < 0] >= 0) & (whole.grey[whole.photo < 0] <= 255))


def test_the_python_renderer_takes_the_look_options(tmp_path: Path, photos_dir: Path) -> None:
    """gpu_render.Renderer accepts the same look keywords; its labels carry the per-image choices."""
    from gpu_render import Renderer
    from gpu_render.scene.lights import draw_lights

    mesh = write_glb(tmp_path / "cube.glb", gradient_texture(seed=5))
    r = rotations(3, seed=4)
    options = {"lights": {"count": (2, 3)}, "backgrounds": str(photos_dir), "look_seed": 4}
    with Renderer(object=f"mesh:{mesh}", size=32, **options) as renderer:
        images, labels = renderer.render(r)
    assert np.array_equal(labels["light_count"], draw_lights(PointLights(count=(2, 3)), 4, np.arange(3)).count)
    assert labels["background_crop_32"].shape == (3, 4) and labels["background_file"].shape == (3,)
    with Renderer(object=f"mesh:{mesh}", size=32, textures=False, **options) as renderer:
        plain, _ = renderer.render(r)
    assert not np.array_equal(images, plain)  # the texture is drawn only with textures on


def test_shader_includes_keep_the_including_files_line_numbers(ctx: moderngl.Context, tmp_path: Path) -> None:
    from gpu_render.render.shaders import ShaderError, load_program

    (tmp_path / "a.vert").write_text("#version 330 core\nvoid main() { gl_Position = vec4(0.0); }\n")
    (tmp_path / "helper.glsl").write_text("// two lines\nfloat one() { return 1.0; }\n")
    (tmp_path / "a.frag").write_text(
        '#version 330 core\n#include "helper.glsl"\nout vec4 f;\nvoid main() {\n    f = vec4(undeclared);\n}\n'
    )
    with pytest.raises(ShaderError, match=r"a\.frag:5: "):
        load_program(ctx, "a", tmp_path)
    (tmp_path / "a.frag").write_text(
        '#version 330 core\n#include "helper.glsl"\nout vec4 f;\nvoid main() { f = vec4(one()); }\n'
    )
    load_program(ctx, "a", tmp_path).release()
    (tmp_path / "helper.glsl").unlink()
    with pytest.raises(ShaderError, match=r"helper\.glsl"):
        load_program(ctx, "a", tmp_path)


def test_a_plan_of_part_of_a_dataset_draws_its_images_own_choices() -> None:
    """A plan whose pose 0 is image ``first`` of the dataset (one model of many) draws and
    records the choices of images first, first + 1, ..."""
    from gpu_render.scene.lights import draw_lights
    from gpu_render.scene.object_plan import ObjectPlan

    look = Look(points=RENDER4CNN, seed=2)
    obj = builtin_object("cube")
    rows = rotations(4, seed=1).transpose(0, 2, 1)
    plan = replace(ObjectPlan.from_rows(rows, obj, CAMERA, look), first=50)
    instances = backend(ObjectScene(obj, CAMERA, look)).instances(plan, 1, 3)
    assert instances["index"].tolist() == [51, 52]
    labels = plan.rich_labels(())
    assert np.array_equal(labels["light_count"], draw_lights(RENDER4CNN, 2, np.arange(50, 54)).count)
