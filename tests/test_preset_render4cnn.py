"""``--preset render4cnn`` on a tiny ShapeNet-like tree made here with trimesh (v1 and v2 paths,
one textured OBJ + MTL) and backgrounds made with numpy: Render for CNN's folder and file
names, the labels of poses.npz, the crop and K, image2sphere's reader, and shards."""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from gpu_render.errors import UsageError
from gpu_render.rotations.quaternion import geodesic, matrix_to_quaternion
from gpu_render.scene.camera import image_boxes, project
from gpu_render.scene.crop import box_extent, crop_boxes
from gpu_render.scene.r4c_names import IMAGES_FOLDER, parse_name
from gpu_render.scene.r4c_views import RENDER_HEIGHT, RENDER_WIDTH, SHAPENET_TO_PASCAL
from tests.cli import run_module
from tests.textured_meshes import gradient_texture, write_obj_two_materials, write_photos

VIEWS = 2
#: The rotation a name gives is off by its three rounded angles, at most 0.5 degrees each.
NAME_ROUNDING_DEG = 1.5
#: image2sphere's Pascal3DSynth: its twelve synsets, as it lists them.
I2S_CLASS_IDS = (
    "02691156",
    "02834778",
    "02858304",
    "02876657",
    "02924116",
    "02958343",
    "03001627",
    "04379243",
    "03790512",
    "04256520",
    "04468005",
    "03211117",
)
MODELS = {"02958343/aaa111": "model.obj", "03001627/bbb222": "models/model_normalized.obj"}
TEXTURED = "03001627/ccc333"


def small_mesh(seed: int) -> trimesh.Trimesh:
    """A box with an off-centre box beside it, about ShapeNet's size (diagonal near 1)."""
    rng = np.random.default_rng(seed)
    return trimesh.util.concatenate(
        [
            trimesh.creation.box(extents=rng.uniform(0.3, 0.6, 3)),
            trimesh.creation.box(extents=rng.uniform(0.1, 0.2, 3)).apply_translation(rng.uniform(0.1, 0.25, 3)),
        ]
    )


def write_tree(root: Path) -> None:
    for seed, (folder, rel) in enumerate(MODELS.items()):
        path = root / folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        small_mesh(seed).export(path)
    obj = write_obj_two_materials(
        root / TEXTURED / "models", gradient_texture(), name="model_normalized", texture_ref="../images/tex.png"
    )
    # The helper's cube has side 2: shrink it to ShapeNet's scale.
    lines = [
        "v " + " ".join(f"{0.25 * float(x):.6f}" for x in line.split()[1:]) if line.startswith("v ") else line
        for line in obj.read_text().splitlines()
    ]
    obj.write_text("\n".join(lines) + "\n")


def build(tree: Path, out: Path, *more: str) -> None:
    run = run_module(
        "gpu_render.build",
        "--preset",
        "render4cnn",
        "--meshes",
        tree,
        "--views-per-model",
        str(VIEWS),
        "--backgrounds",
        tree.parent / "bg",
        "--workers",
        "1",
        "--out",
        out,
        *more,
    )
    assert run.code == 0, run.err


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("r4c")
    write_tree(root / "tree")
    write_photos(root / "bg", [(64, 48), (1000, 1000), (1200, 980)])
    build(root / "tree", root / "out")
    return root


def file_vertices(tree: Path, name: str) -> np.ndarray:
    fields = parse_name(name)
    folder = tree / fields.synset / fields.md5
    path = folder / "models" / "model_normalized.obj"
    mesh = trimesh.load(path if path.is_file() else folder / "model.obj", force="mesh", process=False)
    return np.asarray(mesh.vertices, dtype=np.float64)


def test_folders_names_and_labels(built: Path) -> None:
    out = built / "out"
    labels = np.load(out / "poses.npz")
    names = [str(n) for n in labels["names"]]
    assert len(names) == VIEWS * 3
    on_disk = sorted(Path(p).relative_to(out).as_posix() for p in glob.glob(f"{out}/{IMAGES_FOLDER}/*/*/*.png"))
    assert on_disk == sorted(names)
    for i, name in enumerate(names):
        synset, md5, base = name.split("/")[1:]
        fields = parse_name(base)
        assert (fields.synset, fields.md5) == (synset, md5)
        assert base.startswith(f"{synset}_{md5}_a")
        assert fields.azimuth == round(labels["azimuth"][i])
        assert fields.elevation == round(labels["elevation"][i])
        assert fields.t == round((-labels["theta"][i]) % 360)
        assert fields.distance == round(labels["distance"][i])
        x0, y0, x1, y1 = labels["crop"][i]
        assert 0 <= x0 < x1 <= RENDER_WIDTH and 0 <= y0 < y1 <= RENDER_HEIGHT
        with Image.open(out / name) as im:
            assert im.mode == "RGB" and im.size == (x1 - x0, y1 - y0)
    for key in ("light_positions", "light_count", "ambient", "background_file", "background_crop_960", "truncation"):
        assert len(labels[key]) == len(names), key


def test_intrinsics_put_the_vertices_where_the_crop_says(built: Path) -> None:
    """K of each written image, with the exact pose, projects the mesh's vertices so that
    crop_gray's rule, applied again to them in the 960 x 540 image, gives the recorded crop."""
    labels = np.load(built / "out" / "poses.npz")
    for i, name in enumerate(labels["names"]):
        x0, y0 = labels["crop"][i][:2]
        k_render = labels["intrinsics"][i].copy()
        k_render[0, 2] += x0
        k_render[1, 2] += y0
        np.testing.assert_allclose(k_render, [[1050, 0, 480], [0, 1050, 270], [0, 0, 1]], atol=1e-12)
        v = file_vertices(built / "tree", str(name))
        uv = project(v, labels["matrix"][i][None], labels["translation"][i], labels["intrinsics"][i])
        box = image_boxes(uv + np.array([x0, y0]), RENDER_WIDTH, RENDER_HEIGHT)
        crop = crop_boxes(box_extent(box, RENDER_WIDTH, RENDER_HEIGHT), labels["truncation"][i], 960, 540)
        np.testing.assert_array_equal(crop[0], labels["crop"][i])


def _i2s_rotation(a: int, e: int, t: int) -> np.ndarray:
    """The rotation Pascal3DSynth derives for angle (a, e, -t): PASCAL3D+'s camera matrix,
    split by an RQ decomposition whose upper-triangular part keeps a positive diagonal."""
    az, el, th = np.radians([a, e, -t])
    c = 4.0 * np.array([np.cos(el) * np.sin(az), -np.cos(el) * np.cos(az), np.sin(el)])
    rz = np.array([[np.cos(-az), -np.sin(-az), 0], [np.sin(-az), np.cos(-az), 0], [0, 0, 1]])
    x = el - np.pi / 2
    rx = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
    r = rx @ rz
    rot2d = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]])
    k = np.array([[1, 0, 60.0], [0, 1, 40.0], [0, 0, 1]]) @ np.diag([1, -1, 1]) @ rot2d @ np.diag([3000, 3000, -1])
    p = k @ np.hstack([r, -(r @ c)[:, None]])
    q_hat, r_hat = np.linalg.qr(p[:, :3].T[:, ::-1])
    upper, q = r_hat[::-1, ::-1].T, q_hat[:, ::-1].T
    signs = np.where(np.diag(upper) < 0, -1.0, 1.0)
    q = signs[:, None] * q
    assert np.linalg.det(q) > 0
    return q


@pytest.mark.filterwarnings("ignore:Image.Image.getdata:DeprecationWarning")
def test_image2sphere_pascal3dsynth_reads_the_set(built: Path) -> None:
    """Read OUT as image2sphere's Pascal3DSynth does: glob its twelve synsets' folders, take the
    class from the path, (a, e, t) from the name and the rotation of (a, e, -t); it agrees with
    the exact label (for PASCAL3D+'s model axes) to within the names' rounding."""
    out = built / "out"
    labels = np.load(out / "poses.npz")
    by_name = {str(n): i for i, n in enumerate(labels["names"])}
    files = []
    for num in I2S_CLASS_IDS:
        files.extend(glob.glob(os.path.join(str(out), f"syn_images_cropped_bkg_overlaid/{num}/*/*.png")))
    assert len(files) == len(by_name)
    for fname in files:
        class_idx = I2S_CLASS_IDS.index(fname.split("/")[-3])
        assert I2S_CLASS_IDS[class_idx] in ("02958343", "03001627")
        img = Image.open(fname)
        pixels = np.array(img.getdata()).reshape(img.size[1], img.size[0], 3)
        assert pixels.shape[2] == 3
        base_name = os.path.split(fname)[1]
        a, e, t = (int(x[1:]) for x in base_name.split("_")[-4:-1])
        got = _i2s_rotation(a, e, t)
        i = by_name[Path(fname).relative_to(out).as_posix()]
        exact = labels["matrix"][i] @ SHAPENET_TO_PASCAL.T  # the file's axes -> PASCAL3D+'s
        err = np.degrees(geodesic(matrix_to_quaternion(got[None]), matrix_to_quaternion(exact[None])))
        assert err.max() < NAME_ROUNDING_DEG, (fname, err)


def test_shards_give_the_same_bytes(built: Path) -> None:
    sharded = built / "sharded"
    build(built / "tree", sharded, "--shard", "0/2")
    build(built / "tree", sharded, "--shard", "1/2")
    build(built / "tree", sharded)  # seals what the shards built
    whole = built / "out"
    names = [str(n) for n in np.load(whole / "poses.npz")["names"]]
    for rel in [*names, "poses.npz"]:
        assert (sharded / rel).read_bytes() == (whole / rel).read_bytes(), rel


@pytest.mark.parametrize(
    ("more", "message"),
    [
        (("--batch", "4"), "--batch makes no sense for --preset render4cnn"),
        (("--synsets", "cat"), "unknown synset 'cat'"),
        (("--views-per-model", "0"), "--views-per-model"),
        (("--truncation", "gamma"), "--truncation: unknown source"),
    ],
)
def test_bad_options_are_one_line(built: Path, more: tuple[str, ...], message: str) -> None:
    run = run_module(
        "gpu_render.build", "--preset", "render4cnn", "--meshes", built / "tree", "--out", built / "bad", *more
    )
    assert run.code == 2 and message in run.err and len(run.err.strip().splitlines()) == 1, run.err
    assert not (built / "bad").exists()


def test_other_presets_refuse_its_options(tmp_path: Path) -> None:
    run = run_module("gpu_render.build", "--preset", "symsol", "--synsets", "car", "--out", tmp_path / "s")
    assert run.code == 2 and "--synsets applies to --preset render4cnn only" in run.err, run.err


def test_verify_passes_the_set_and_names_a_wrong_label(built: Path) -> None:
    ok = run_module("gpu_render.verify", built / "out")
    assert ok.code == 0 and "6 images and their labels checked" in ok.out, ok.out + ok.err
    broken = built / "broken"
    shutil.copytree(built / "out", broken)
    labels = dict(np.load(broken / "poses.npz"))
    labels["theta"] = labels["theta"].copy()
    labels["theta"][1] += 3.0
    labels["crop"] = labels["crop"].copy()
    labels["crop"][2, 0] += 1
    np.savez(broken / "poses.npz", **labels)
    bad = run_module("gpu_render.verify", broken)
    assert bad.code != 0
    assert "the name does not round the labels" in bad.out + bad.err
    assert "is not the mesh's crop" in bad.out + bad.err


def test_ray_engine_writes_the_same_bytes(built: Path) -> None:
    on_ray = built / "ray"
    build(built / "tree", on_ray, "--engine", "ray", "--worker-cpus", "1")
    whole = built / "out"
    names = [str(n) for n in np.load(whole / "poses.npz")["names"]]
    for rel in [*names, "poses.npz"]:
        assert (on_ray / rel).read_bytes() == (whole / rel).read_bytes(), rel


def test_load_names_what_to_read_instead(built: Path) -> None:
    import gpu_render

    with pytest.raises(ValueError, match="Render for CNN set"):
        gpu_render.load(built / "out")


def test_python_build_writes_the_same_bytes(built: Path) -> None:
    import gpu_render

    here = built / "api"
    gpu_render.build(
        here, preset="render4cnn", meshes=built / "tree", views_per_model=VIEWS, backgrounds=built / "bg", workers=1
    )
    whole = built / "out"
    names = [str(n) for n in np.load(whole / "poses.npz")["names"]]
    for rel in [*names, "poses.npz"]:
        assert (here / rel).read_bytes() == (whole / rel).read_bytes(), rel
    with pytest.raises(UsageError, match="categories"):
        gpu_render.build(built / "api2", preset="render4cnn", meshes=built / "tree", categories=("chair",))


def test_each_image_is_drawn_over_its_own_recorded_background(built: Path) -> None:
    """With a margin on every side (truncation rows that move each side outwards) the crop's
    corners show the background: the grey level poses.npz records for that very image."""
    rows = built / "margins.txt"
    rows.write_text("-0.3 0.3 -0.3 0.3\n")
    out = built / "grey"
    build(built / "tree", out, "--background-ratio", "0", "--truncation", f"file:{rows}", "--lights", "directional")
    labels = np.load(out / "poses.npz")
    greys = labels["background_grey"]
    assert len(set(greys.tolist())) > 1  # the images draw different greys
    for i, name in enumerate(labels["names"]):
        with Image.open(out / str(name)) as im:
            pixels = np.asarray(im)
        x0, y0, x1, y1 = labels["crop"][i]
        corners = [pixels[0, 0], pixels[0, -1], pixels[-1, 0], pixels[-1, -1]]
        inside = [x0 > 0 and y0 > 0, x1 < 960 and y0 > 0, x0 > 0 and y1 < 540, x1 < 960 and y1 < 540]
        for corner, seen in zip(corners, inside, strict=True):
            if seen:
                np.testing.assert_array_equal(corner, [greys[i]] * 3, err_msg=str(name))
