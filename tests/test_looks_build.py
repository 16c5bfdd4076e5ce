"""Builds with the richer looks, run as a user runs them: textured meshes, random point lights,
photographs behind the object; what poses.npz records; the same image whatever the batch or
shard; verify's check; and the one-line refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gpu_render.scene.backdrop import crop_box
from gpu_render.scene.lights import RENDER4CNN, draw_lights
from tests.cli import assert_build_refused, run_module
from tests.textured_meshes import gradient_texture, write_glb, write_obj_two_materials, write_photos

POSES = 10


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    write_photos(root / "photos", [(120, 100), (40, 30), (64, 64)])
    (root / "empty" / "sub").mkdir(parents=True)
    (root / "empty" / "notes.txt").write_text("no photographs here")
    return {
        # As ShapeNetCore v2 ships a model: models/model_normalized.{obj,mtl}, textures in ../images.
        "obj": write_obj_two_materials(
            root / "shapenet" / "02958343" / "abc" / "models",
            gradient_texture(seed=2),
            name="model_normalized",
            texture_ref="../images/tex.png",
        ),
        "glb": write_glb(root / "cube.glb", gradient_texture(seed=3)),
        "photos": root / "photos",
        "empty": root / "empty",
        "root": root,
    }


def look_args(inputs: dict[str, Path]) -> list[str | Path]:
    return [
        "--object",
        f"mesh:{inputs['obj']}",
        "--poses",
        f"random:{POSES}",
        "--sizes",
        "32,48",
        "--format",
        "png",
        "--lights",
        "render4cnn",
        "--specular",
        "0.2",
        "--backgrounds",
        inputs["photos"],
        "--look-seed",
        "11",
    ]


def images(out: Path, size: int) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / str(size)).rglob("*.png"))}


@pytest.fixture(scope="module")
def whole(inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("builds") / "whole"
    r = run_module("gpu_render.build", *look_args(inputs), "--batch", "4", "--out", out)
    assert r.code == 0, r.err
    return out


def test_a_build_records_each_images_lights_and_background(whole: Path, inputs: dict[str, Path]) -> None:
    poses = np.load(whole / "poses.npz")
    k = RENDER4CNN.count[1]
    assert poses["light_positions"].shape == (POSES, k, 3)
    assert poses["light_energies"].shape == (POSES, k)
    draw = draw_lights(RENDER4CNN, 11, np.arange(POSES))
    assert np.array_equal(poses["light_count"], draw.count)
    assert np.allclose(poses["light_positions"], draw.positions(poses["translation"]), equal_nan=True)
    for i, c in enumerate(poses["light_count"]):
        assert np.isnan(poses["light_positions"][i, c:]).all() and np.isfinite(poses["light_positions"][i, :c]).all()
    files, grey = poses["background_file"], poses["background_grey"]
    assert ((files == "") == (grey >= 0)).all() and (files != "").any()
    for size in (32, 48):
        crops = poses[f"background_crop_{size}"]
        for name, box in zip(files, crops, strict=True):
            if name:
                w, h = Image.open(inputs["photos"] / name).size
                x0, y0, x1, y1 = box
                assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and x1 - x0 == y1 - y0 == min(size, w, h)
            else:
                assert (box == -1).all()
    # The crop formula is the documented one.
    assert crop_box(40, 30, 48, 0.99, 0.0) == (10, 0, 40, 30)
    assert crop_box(200, 100, 48, 0.5, 1 - 1e-9) == (76, 52, 124, 100)


def test_verify_rerenders_the_look_on_the_cpu(whole: Path) -> None:
    r = run_module("gpu_render.verify", whole)
    assert r.code == 0, r.out + r.err
    assert "reference:" in r.out and "OK" in r.out


def test_the_same_images_whatever_the_batch_or_shard(whole: Path, inputs: dict[str, Path], tmp_path: Path) -> None:
    other = tmp_path / "batch3"
    assert run_module("gpu_render.build", *look_args(inputs), "--batch", "3", "--out", other).code == 0
    shard = tmp_path / "shard"
    r = run_module("gpu_render.build", *look_args(inputs), "--batch", "4", "--shard", "1/2", "--out", shard)
    assert r.code == 0, r.err
    assert (
        np.load(other / "poses.npz")["background_file"].tolist()
        == np.load(whole / "poses.npz")["background_file"].tolist()
    )
    for size in (32, 48):
        want = images(whole, size)
        got_shard = images(shard, size)
        assert got_shard and all(got_shard[name] == want[name] for name in got_shard)  # same tile: same bytes
        got = images(other, size)
        assert got.keys() == want.keys()
        for name in want:  # another tile of the atlas: at most a rounding on a few pixels
            a = np.asarray(Image.open(whole / str(size) / name)).astype(int)
            b = np.asarray(Image.open(other / str(size) / name)).astype(int)
            assert (np.abs(a - b).max(axis=-1) <= 8).mean() >= 0.995, name


def test_a_missing_texture_is_one_line_unless_no_textures(inputs: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "abc"
    shutil.copytree(inputs["obj"].parent.parent, folder)
    obj = folder / "models" / "model_normalized.obj"
    (folder / "images" / "tex.png").unlink()
    args: list[str | Path] = ["--object", f"mesh:{obj}", "--poses", "random:2", "--sizes", "32"]
    missing = f"{folder / 'models' / '..' / 'images' / 'tex.png'}: texture of model_normalized.mtl (no such file)"
    assert_build_refused(args, missing, tmp_path / "a")
    r = run_module("gpu_render.build", *args, "--no-textures", "--out", tmp_path / "b")
    assert r.code == 0, r.err


def test_shapenet_v1_and_v2_paths_load_with_their_textures(tmp_path: Path) -> None:
    """v1: {synset}/{md5}/model.obj with model.mtl and its images beside it; v2:
    {synset}/{md5}/models/model_normalized.obj with the textures in ../images."""
    from gpu_render.dataset.mesh_files import load_mesh_file

    picture = gradient_texture(seed=4)
    v1 = write_obj_two_materials(tmp_path / "v1" / "02691156" / "m1", picture, texture_ref="images/texture0.jpg")
    v2 = write_obj_two_materials(
        tmp_path / "v2" / "02691156" / "m1" / "models",
        picture,
        name="model_normalized",
        texture_ref="../images/texture0.png",
    )
    for path in (v1, v2):
        surface = load_mesh_file(path).surface
        assert surface is not None and len(surface.images) == 1
        assert (surface.texture >= 0).sum() == 8 and (surface.texture < 0).sum() == 4
        error = np.abs(surface.images[0].astype(int) - picture.astype(int))
        assert error.mean() < 3 if path == v1 else error.max() == 0  # v1's texture is a JPEG


def test_a_glb_build_with_lights_only(inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "glb"
    args = ["--object", f"mesh:{inputs['glb']}", "--poses", "random:4", "--sizes", "32", "--format", "png"]
    r = run_module("gpu_render.build", *args, "--light-count", "2", "--ambient", "0.2", "--out", out)
    assert r.code == 0, r.err
    poses = np.load(out / "poses.npz")
    assert (poses["light_count"] == 2).all() and np.allclose(poses["ambient"], 0.2)
    assert "background_file" not in poses
    assert run_module("gpu_render.verify", out).code == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--light-count", "5,2"], "--light-count: the range 5,2 is empty"),
        (["--light-count", "0,40"], "--light-count: must lie in 0..16"),
        (["--light-distance", "0,3"], "--light-distance: must be above 0"),
        (["--light-energy", "normal:2,-1"], "--light-energy: normal:MEAN,STD takes finite numbers with STD >= 0"),
        (["--background-ratio", "1.5", "--backgrounds", "PHOTOS"], "--background-ratio: must be a share in 0..1"),
        (["--background-ratio", "0.5"], "--background-ratio: needs backgrounds"),
        (["--lights", "directional", "--light-count", "2"], "--light-count sets point lights"),
        (["--background", "1,2,3", "--backgrounds", "PHOTOS"], "--background: and backgrounds exclude each other"),
        (["--specular", "-1"], "--specular: must be a number >= 0"),
        (["--backgrounds", "EMPTY"], "no .jpg or .png photographs in it"),
        (["--backgrounds", "MISSING"], "no such folder"),
    ],
)
def test_bad_look_options_are_one_line_errors(
    inputs: dict[str, Path], tmp_path: Path, extra: list[str], message: str
) -> None:
    places = {"PHOTOS": inputs["photos"], "EMPTY": inputs["empty"], "MISSING": inputs["root"] / "nowhere"}
    args: list[str | Path] = ["--object", "tet", "--poses", "random:2", "--sizes", "32"]
    assert_build_refused([*args, *(places.get(e, e) for e in extra)], message, tmp_path / "out")


def test_the_cube_refuses_the_richer_looks(tmp_path: Path) -> None:
    assert_build_refused(["--lights", "render4cnn"], "--lights makes no sense for --object clpr-cube", tmp_path / "o")


def test_the_looks_sheet_tool_draws_every_mesh(tmp_path: Path) -> None:
    """tools/looks_sheet.py (the picture in docs/LOOKS.md) at a tiny scale: one row per mesh."""
    import subprocess
    import sys

    from tests.conftest import REPO

    out = tmp_path / "sheet.png"
    cmd = [sys.executable, str(REPO / "tools" / "looks_sheet.py"), "--out", str(out), "--columns", "2"]
    done = subprocess.run([*cmd, "--size", "32", "--photos", "2"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    sheet = np.asarray(Image.open(out).convert("RGB"))
    assert sheet.shape == (3 * 34 - 2, 2 * 34 - 2, 3)
    for row in range(3):
        tile = sheet[row * 34 : row * 34 + 32, :32].astype(int)
        assert tile.std() > 5  # something drawn over the background, not an empty tile
