"""BOP files from arrays (gpu_render/dataset/bop_files.py, bop_models.py, scene/bop_model.py), read
back the way bop_toolkit reads them (tests/bop_reader.py), the COCO file with pycocotools, the
BOP-webdataset sample with the webdataset library, the models with trimesh and our PLY reader."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import trimesh
import webdataset
from PIL import Image
from pycocotools.coco import COCO

from gpu_render.dataset import bop_files, bop_gt, bop_models, wds
from gpu_render.dataset.mesh_files import load_mesh_file
from gpu_render.errors import UsageError
from gpu_render.rotations.quaternion import quaternion_to_matrix
from gpu_render.scene import bop_model, conventions
from gpu_render.scene.camera import Pinhole, project
from gpu_render.scene.solids import BUILTIN_OBJECTS, builtin_object
from tests import bop_reader
from tests.bop_scene import HEIGHT, OFFSET, WIDTH, make_scene

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

REPO = Path(__file__).resolve().parent.parent
DEPTH_SCALE = 0.1
#: float32 PLY coordinates of models up to ~200 mm: 1e-4 relative is generous.
PLY_MM_TOL = 1e-3
#: cv2.projectPoints goes through a Rodrigues vector; 1e-4 px covers its rounding near half turns.
OPENCV_PIXEL_TOL = 1e-4


def _rotations(n: int, seed: int) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return quaternion_to_matrix(q / np.linalg.norm(q, axis=1, keepdims=True))


def _k() -> np.ndarray:
    k = Pinhole().intrinsics(WIDTH)
    k[1, 2] = HEIGHT / 2
    return k


def _write_scene(root: Path) -> tuple[bop_files.BopScene, dict]:
    """Two images of the synthetic scene (the second with the instances' masks shifted by nothing
    but with other poses), written as the build will: rgb, depth, masks, the four JSON files."""
    s = make_scene()
    scene = bop_files.BopScene(root, scene_id=3)
    scene.make_folders()
    rot = _rotations(10, 1)
    t = np.random.default_rng(2).uniform([-0.5, -0.5, 4.0], [0.5, 0.5, 9.0], (10, 3))
    cams, gts, infos, images, anns = {}, {}, {}, [], []
    masks = bop_gt.in_image(s.amodal, OFFSET, s.instance_ids.shape)
    visib = bop_gt.visible_masks(s.instance_ids, s.amodal, OFFSET)
    for im_id in (0, 1):
        Image.fromarray(np.full((HEIGHT, WIDTH, 3), 40 * im_id, np.uint8)).save(scene.rgb(im_id))
        cams[im_id] = bop_files.camera_entry(_k(), DEPTH_SCALE, np.eye(3), np.zeros(3))
        gts[im_id] = [
            bop_files.gt_entry(o, rot[5 * im_id + g], t[5 * im_id + g], 100.0) for g, o in enumerate(s.obj_ids)
        ]
        infos[im_id] = bop_gt.gt_info(s.instance_ids, s.amodal, OFFSET, s.depth)
        bop_files.write_image_gt(scene, im_id, s.depth, DEPTH_SCALE, masks, visib)
        images.append(bop_gt.coco_image(im_id, scene.rgb_name(im_id), WIDTH, HEIGHT))
        fract = [e["visib_fract"] for e in infos[im_id]]
        anns += bop_gt.coco_annotations(len(anns) + 1, im_id, s.obj_ids, masks, visib, fract)
    bop_files.write_scene_json(scene, "scene_camera", cams)
    bop_files.write_scene_json(scene, "scene_gt", gts)
    bop_files.write_scene_json(scene, "scene_gt_info", infos)
    bop_files.write_scene_coco(scene, bop_gt.coco_document(images, anns, sorted(set(s.obj_ids)), "gpu_render"))
    return scene, {"rot": rot, "t": t, "masks": masks, "visib": visib, "infos": infos, "scene": s}


def test_scene_folder_reads_back_as_bop_toolkit_reads_it(tmp_path: Path) -> None:
    scene, made = _write_scene(tmp_path)
    folder = tmp_path / "train_pbr" / "000003"
    assert scene.folder == folder
    assert not [p for p in folder.rglob("*") if p.name.startswith(".")]  # no temporaries left
    data = bop_reader.load_scene_data(folder)
    assert sorted(data["scene_camera"]) == [0, 1] == sorted(data["scene_gt"]) == sorted(data["scene_gt_info"])
    for im_id in (0, 1):
        cam = data["scene_camera"][im_id]
        np.testing.assert_array_equal(cam["cam_K"], conventions.opencv_intrinsics(_k()))
        assert cam["cam_K"][0, 2] == WIDTH / 2 - 0.5 and cam["depth_scale"] == DEPTH_SCALE
        assert cam["cam_R_w2c"].shape == (3, 3) and cam["cam_t_w2c"].shape == (3, 1)
        for g, gt in enumerate(data["scene_gt"][im_id]):
            np.testing.assert_array_equal(gt["cam_R_m2c"], made["rot"][5 * im_id + g])  # exact: repr round trip
            np.testing.assert_allclose(gt["cam_t_m2c"][:, 0], 100.0 * made["t"][5 * im_id + g], rtol=1e-15)
            assert gt["obj_id"] == made["scene"].obj_ids[g]
        assert data["scene_gt_info"][im_id] == made["infos"][im_id]
        image = bop_reader.load_image_data(folder, im_id, data)
        assert image["rgb"].shape == (HEIGHT, WIDTH, 3)
        np.testing.assert_allclose(image["depth"], made["scene"].depth, atol=DEPTH_SCALE / 2 + 1e-4)
        np.testing.assert_array_equal(image["mask"], made["masks"])
        np.testing.assert_array_equal(image["mask_visib"], made["visib"])
    raw = bop_reader.load_png(scene.mask(1, 2, visible=True))
    assert set(np.unique(raw).tolist()) == {0.0, 255.0}
    depth = cv2.imread(str(scene.depth(0)), cv2.IMREAD_UNCHANGED)  # another reader: 16-bit as uint16
    assert depth.dtype == np.uint16 and depth.max() == round(made["scene"].depth.max() / DEPTH_SCALE) == 8000


def test_coco_file_opens_in_pycocotools(tmp_path: Path) -> None:
    scene, _ = _write_scene(tmp_path)
    coco = COCO(str(scene.json("scene_gt_coco")))
    assert coco.getImgIds() == [0, 1] and coco.getCatIds() == [1, 2, 3, 5]
    assert coco.loadImgs(1)[0]["file_name"] == "rgb/000001.jpg"
    assert (scene.folder / coco.loadImgs(1)[0]["file_name"]).is_file()
    ids = coco.getAnnIds()
    assert ids == list(range(1, len(ids) + 1)) and len(ids) == 8  # 4 of 5 instances visible, twice
    for im_id in (0, 1):
        data = bop_reader.load_scene_data(scene.folder)
        image = bop_reader.load_image_data(scene.folder, im_id, data)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[im_id]))
        for ann, gt_id in zip(anns, (0, 1, 2, 4), strict=True):
            np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), image["mask_visib"][gt_id])
            assert ann["category_id"] == data["scene_gt"][im_id][gt_id]["obj_id"]
            assert ann["ignore"] == (data["scene_gt_info"][im_id][gt_id]["visib_fract"] < 0.1)


def test_bop_json_is_keyed_in_id_order_and_deterministic(tmp_path: Path) -> None:
    content = {i: [{"a": i}] for i in (0, 2, 10, 1)}
    text = bop_files.bop_json_bytes(content)
    assert text == bop_files.bop_json_bytes(dict(content))
    assert [int(k) for k in json.loads(text)] == [0, 2, 10, 1]
    (tmp_path / "x.json").write_bytes(text)
    assert bop_reader.load_json(tmp_path / "x.json", keys_to_int=True) == content


def test_depth_that_does_not_fit_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"depth_scale 0\.1"):
        bop_files.depth_png(np.array([[7000.0]]), 0.1)
    assert bop_files.depth_png(np.array([[7000.0]]), 1.0)[:8] == b"\x89PNG\r\n\x1a\n"


def test_camera_json_and_scene_numbering(tmp_path: Path) -> None:
    bop_files.write_camera_json(tmp_path, _k(), WIDTH, HEIGHT, DEPTH_SCALE)
    cam = bop_reader.load_json(tmp_path / "camera.json")
    assert cam == {
        "cx": WIDTH / 2 - 0.5,
        "cy": HEIGHT / 2 - 0.5,
        "depth_scale": DEPTH_SCALE,
        "fx": _k()[0, 0],
        "fy": _k()[1, 1],
        "height": HEIGHT,
        "width": WIDTH,
    }
    assert bop_files.scene_of(0) == (0, 0) and bop_files.scene_of(2345) == (2, 345)
    assert bop_files.scene_of(7, images_per_scene=3) == (2, 1)


def _group_maps_points_onto_themselves(mats: list[np.ndarray], points: np.ndarray, tol: float) -> bool:
    """Each 4 x 4 maps the point set (P, 3) onto itself within tol (nearest neighbour, both ways)."""
    for m in mats:
        moved = points @ m[:3, :3].T + m[:3, 3]
        d = np.linalg.norm(moved[:, None, :] - points[None, :, :], axis=2)
        if d.min(axis=1).max() > tol or d.min(axis=0).max() > tol:
            return False
    return True


def _expand(info: dict, angles_deg: tuple[float, ...]) -> list[np.ndarray]:
    """bop_toolkit's documented reading of models_info symmetries: the identity and each discrete
    4 x 4, each composed with turns about each continuous axis through its offset."""
    discrete = [np.eye(4)] + [np.array(m).reshape(4, 4) for m in info.get("symmetries_discrete", [])]
    turns = [np.eye(4)]
    for sym in info.get("symmetries_continuous", []):
        axis, offset = np.array(sym["axis"]), np.array(sym["offset"])
        for a in angles_deg:
            r = cv2.Rodrigues(axis * np.radians(a))[0]
            m = np.eye(4)
            m[:3, :3], m[:3, 3] = r, offset - r @ offset
            turns.append(m)
    return [c @ d for c in turns for d in discrete]


@pytest.mark.parametrize("name", BUILTIN_OBJECTS)
def test_models_of_the_solids(tmp_path: Path, name: str) -> None:
    obj = builtin_object(name)
    mm = 50.0
    tri = bop_model.model_triangles(obj, mm)
    bop_models.write_model(tmp_path, 7, tri, obj.normals)
    info = bop_model.object_model_info(obj, mm)
    bop_models.write_models_info(tmp_path, {7: info})
    ply = bop_reader.load_ply(bop_models.model_path(tmp_path, 7))
    np.testing.assert_allclose(ply["pts"][ply["faces"]], tri, atol=PLY_MM_TOL)
    np.testing.assert_allclose(np.linalg.norm(ply["normals"], axis=1), 1.0, atol=1e-6)
    mesh = trimesh.load(bop_models.model_path(tmp_path, 7), process=False)
    np.testing.assert_allclose(mesh.vertices, ply["pts"], atol=0)
    read = bop_reader.load_json(tmp_path / "models_info.json", keys_to_int=True)[7]
    pts = np.unique(ply["pts"], axis=0)
    brute = max(np.max(np.linalg.norm(pts[i : i + 500, None] - pts[None], axis=2)) for i in range(0, len(pts), 500))
    assert read["diameter"] == pytest.approx(brute, abs=PLY_MM_TOL)
    assert read["diameter"] <= 2 * mm + PLY_MM_TOL
    for i, axis in enumerate("xyz"):
        assert read[f"min_{axis}"] == pytest.approx(pts[:, i].min(), abs=PLY_MM_TOL)
        assert read[f"size_{axis}"] == pytest.approx(np.ptp(pts[:, i]), abs=PLY_MM_TOL)
    expected_keys = {
        "tet": ("symmetries_discrete",),
        "cube": ("symmetries_discrete",),
        "icosa": ("symmetries_discrete",),
        "cone": ("symmetries_continuous",),
        "cyl": ("symmetries_continuous", "symmetries_discrete"),
        "tetX": ("symmetries_discrete",),
        "cylO": (),
        "sphereX": (),
    }[name]
    assert tuple(sorted(k for k in read if k.startswith("symmetries"))) == expected_keys
    counts = {"tet": 11, "cube": 23, "icosa": 59, "cyl": 1, "tetX": 2}
    assert len(read.get("symmetries_discrete", [])) == counts.get(name, 0)
    if name in ("sphereX", "cylO"):
        return
    sample = pts
    mats = _expand(read, (1.0, 37.0, 180.0))
    assert _group_maps_points_onto_themselves(mats, sample, tol=PLY_MM_TOL * 10)
    if name == "tetX":  # the two turns keep the red face (its centre) in place
        centre = mm * np.asarray(obj.mark.centre)
        for m in mats:
            np.testing.assert_allclose(m[:3, :3] @ centre + m[:3, 3], centre, atol=1e-9)


def test_symmetries_turn_about_the_model_origin() -> None:
    """A model whose object origin sits at o (mm) in its frame: every symmetry fixes o."""
    obj = builtin_object("cyl")
    origin = np.array([10.0, -5.0, 3.0])
    info = bop_model.object_model_info(obj, 20.0, origin)
    assert info["symmetries_continuous"] == [{"axis": [0.0, 0.0, 1.0], "offset": [10.0, -5.0, 3.0]}]
    pts = np.unique(bop_model.model_triangles(obj, 20.0, origin).reshape(-1, 3), axis=0)
    mats = _expand(info, (90.0, 33.0))
    assert _group_maps_points_onto_themselves(mats, pts, tol=1e-4)  # float32 corners of ~20 mm
    assert not _group_maps_points_onto_themselves(_expand(info, (0.5,)), pts, tol=1e-4)  # half a degree: no
    flip = np.array(info["symmetries_discrete"][0]).reshape(4, 4)
    np.testing.assert_allclose(flip[:3, :3], np.diag([1.0, -1.0, -1.0]), atol=1e-12)
    np.testing.assert_allclose(flip[:3, :3] @ origin + flip[:3, 3], origin, atol=1e-12)


@pytest.mark.parametrize("name", ["tet", "mesh"])
def test_written_pose_k_and_model_project_as_the_render_does(tmp_path: Path, name: str) -> None:
    """cam_K, cam_R_m2c and cam_t_m2c as written, applied to the PLY's points by OpenCV, put each
    point where this project's camera puts the object's point (half a pixel apart, the pixel
    centre convention). The mesh file (in cm) keeps its own frame: its PLY is the file times 10."""
    if name == "mesh":
        obj = load_mesh_file(REPO / "examples" / "duck.ply")
        mm, origin = conventions.model_frame(obj.centre, obj.scale, "cm")
        file_pts = np.unique(np.asarray(trimesh.load(REPO / "examples" / "duck.ply").vertices), axis=0)
    else:
        obj, (mm, origin) = builtin_object(name), (80.0, np.zeros(3))
    tri = bop_model.model_triangles(obj, mm, origin)
    bop_models.write_model(tmp_path, 1, tri, obj.normals)
    ply = bop_reader.load_ply(bop_models.model_path(tmp_path, 1))
    if name == "mesh":
        ours = np.unique(np.round(ply["pts"], 2), axis=0)
        np.testing.assert_allclose(ours, np.unique(np.round(10.0 * file_pts, 2), axis=0), atol=0.02)
    k = Pinhole(fov_deg=40).intrinsics(96)
    r, t = _rotations(1, 9)[0], np.array([0.2, -0.1, 4.5])
    gt = bop_files.gt_entry(1, r, t, mm, origin)
    cam = bop_files.camera_entry(k, DEPTH_SCALE)
    x_obj = (ply["pts"] - origin) / mm
    expected = project(x_obj, r[None], t, k)[0] - 0.5
    rvec = cv2.Rodrigues(np.array(gt["cam_R_m2c"]).reshape(3, 3))[0]
    k_bop = np.array(cam["cam_K"]).reshape(3, 3)
    got = cv2.projectPoints(ply["pts"], rvec, np.array(gt["cam_t_m2c"]), k_bop, None)[0][:, 0]
    np.testing.assert_allclose(got, expected, atol=OPENCV_PIXEL_TOL)


def test_webdataset_sample_reads_back(tmp_path: Path) -> None:
    s = make_scene()
    masks = bop_gt.in_image(s.amodal, OFFSET, s.instance_ids.shape)
    visib = bop_gt.visible_masks(s.instance_ids, s.amodal, OFFSET)
    info = bop_gt.gt_info(s.instance_ids, s.amodal, OFFSET, s.depth)
    camera = bop_files.camera_entry(_k(), DEPTH_SCALE)
    gt = [bop_files.gt_entry(o, np.eye(3), np.array([0.0, 0.0, 5.0]), 10.0) for o in s.obj_ids]
    rgb = io.BytesIO()
    Image.fromarray(np.zeros((HEIGHT, WIDTH, 3), np.uint8)).save(rgb, format="JPEG")
    depth = bop_files.depth_png(s.depth, DEPTH_SCALE)
    key = bop_files.wds_key(3, 17)
    assert key == "000003_000017" and "." not in key
    members = bop_files.wds_members(rgb.getvalue(), "jpg", depth, camera, gt, info, masks, visib)
    shard = tmp_path / bop_files.wds_shard_name(0)
    body = wds.sample_members(key, members)
    shard.write_bytes(body + wds.tar_end(len(body)))
    with tarfile.open(shard) as tar:
        assert tar.getnames() == [
            f"{key}.{ext}"
            for ext in (
                "rgb.jpg",
                "depth.png",
                "camera.json",
                "gt.json",
                "gt_info.json",
                "mask.json",
                "mask_visib.json",
            )
        ]
    (sample,) = list(webdataset.WebDataset(str(shard), shardshuffle=False, empty_check=False))
    assert sample["__key__"] == key
    assert json.loads(sample["camera.json"]) == camera
    assert json.loads(sample["gt.json"]) == gt and json.loads(sample["gt_info.json"]) == info
    read_depth = np.array(Image.open(io.BytesIO(sample["depth.png"]))).astype(np.float64) * DEPTH_SCALE
    np.testing.assert_allclose(read_depth, s.depth, atol=DEPTH_SCALE / 2 + 1e-4)
    from pycocotools import mask as mask_util

    for ext, expected in (("mask.json", masks), ("mask_visib.json", visib)):
        rles = json.loads(sample[ext])
        assert list(rles) == [str(i) for i in range(len(expected))]
        for gt_id, rle in rles.items():
            decoded = mask_util.decode(mask_util.frPyObjects(rle, *rle["size"])).astype(bool)
            np.testing.assert_array_equal(decoded, expected[int(gt_id)])
    keys = [bop_files.wds_key(0, i) for i in range(2500)]
    shards = bop_files.key_to_shard(keys)
    assert shards[keys[999]] == 0 and shards[keys[1000]] == 1 and max(shards.values()) == 2
