"""``--layout bop`` end to end: a tiny build of several objects per image, read back the way
bop_toolkit reads it (tests/bop_reader.py), its COCO file with pycocotools; masks, depth and
gt_info checked against each other and against the written K, R, t and models.

Tolerances (named):
- CORNER_PX: a model's projected vertex extent against the whole silhouette's box, px.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import webdataset
from pycocotools import mask as mask_util
from pycocotools.coco import COCO

from gpu_render.cli.build import main
from gpu_render.cli.verify import main as verify_main
from gpu_render.dataset.bop_check import gt_info_problems
from tests import bop_reader

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
REPO = Path(__file__).resolve().parents[1]
CORNER_PX = 1.5
W, H = 96, 72


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bop") / "OUT"
    argv = ["--layout", "bop", "--objects", f"tet,cylO,mesh:{REPO / 'examples' / 'duck.ply'}", "--per-image", "3"]
    argv += ["--sizes", f"{W}x{H}", "--poses", "random:3:5", "--images-per-scene", "2", "--out", str(out)]
    assert main(argv) == 0
    return out


def test_layout_reads_back_and_agrees_with_k_r_t(built: Path) -> None:
    scenes = sorted((built / "train_pbr").iterdir())
    assert [s.name for s in scenes] == ["000000", "000001"]
    models = {i: bop_reader.load_ply(built / "models" / f"obj_{i:06d}.ply")["pts"] for i in (1, 2, 3)}
    info = bop_reader.load_json(built / "models" / "models_info.json", keys_to_int=True)
    assert sorted(info) == [1, 2, 3] and "symmetries_discrete" in info[1]
    camera = bop_reader.load_json(built / "camera.json")
    assert (camera["width"], camera["height"]) == (W, H)
    images = 0
    for scene in scenes:
        data = bop_reader.load_scene_data(scene)
        for im_id in sorted(data["scene_gt"]):
            images += 1
            image = bop_reader.load_image_data(scene, im_id, data)
            k = data["scene_camera"][im_id]["cam_K"]
            gts, infos = data["scene_gt"][im_id], data["scene_gt_info"][im_id]
            assert image["rgb"].shape == (H, W, 3) and len(gts) == 3
            assert image["mask"].shape == image["mask_visib"].shape == (3, H, W)
            # Every drawn pixel shows exactly one instance.
            np.testing.assert_array_equal(image["mask_visib"].sum(axis=0), image["depth"] > 0)
            for gt_id, (gt, entry) in enumerate(zip(gts, infos, strict=True)):
                problems = gt_info_problems(entry, image["mask"][gt_id], image["mask_visib"][gt_id], image["depth"])
                assert problems == [], (scene.name, im_id, gt_id, problems)
                cam = models[gt["obj_id"]] @ gt["cam_R_m2c"].T + gt["cam_t_m2c"].T  # mm, camera frame
                uv = cam @ k.T
                uv = uv[:, :2] / uv[:, 2:]  # BOP pixel centres are integers
                if entry["px_count_visib"] > 0:
                    x, y, bw, bh = entry["bbox_obj"]
                    assert abs(x - uv[:, 0].min()) <= CORNER_PX and abs(x + bw - uv[:, 0].max()) <= CORNER_PX
                    assert abs(y - uv[:, 1].min()) <= CORNER_PX and abs(y + bh - uv[:, 1].max()) <= CORNER_PX
                    z = image["depth"][image["mask_visib"][gt_id]]
                    step = data["scene_camera"][im_id]["depth_scale"]
                    assert z.min() >= cam[:, 2].min() - step and z.max() <= cam[:, 2].max() + step
    assert images == 3


def test_coco_file_opens_in_pycocotools(built: Path) -> None:
    for scene in sorted((built / "train_pbr").iterdir()):
        coco = COCO(str(scene / "scene_gt_coco.json"))
        data = bop_reader.load_scene_data(scene)
        for im_id in coco.getImgIds():
            image = bop_reader.load_image_data(scene, im_id, data)
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[im_id]))
            seen = [g for g in range(3) if image["mask_visib"][g].any()]
            assert len(anns) == len(seen)
            for ann, gt_id in zip(anns, seen, strict=True):
                np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), image["mask_visib"][gt_id])
                assert ann["category_id"] == data["scene_gt"][im_id][gt_id]["obj_id"]


def test_bad_size_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--layout", "bop", "--objects", "tet", "--sizes", "64y48", "--out", str(tmp_path / "o")])
    assert status == 2
    err = capsys.readouterr().err
    assert "64y48" in err and len(err.strip().splitlines()) == 1


def test_an_image_does_not_depend_on_its_scene_folder(built: Path, tmp_path: Path) -> None:
    """Image 2 is scene 1's im 0 in the module's build and scene 0's im 2 here: the same bytes."""
    out = tmp_path / "OUT"
    argv = ["--layout", "bop", "--objects", f"tet,cylO,mesh:{REPO / 'examples' / 'duck.ply'}", "--per-image", "3"]
    argv += ["--sizes", f"{W}x{H}", "--poses", "random:3:5", "--images-per-scene", "3", "--out", str(out)]
    assert main(argv) == 0
    here, there = out / "train_pbr" / "000000", built / "train_pbr" / "000001"
    assert (here / "rgb" / "000002.jpg").read_bytes() == (there / "rgb" / "000000.jpg").read_bytes()
    assert (here / "depth" / "000002.png").read_bytes() == (there / "depth" / "000000.png").read_bytes()
    for gt_id in range(3):
        name = f"{gt_id:06d}.png"
        assert (here / "mask" / f"000002_{name}").read_bytes() == (there / "mask" / f"000000_{name}").read_bytes()
    gt_here = bop_reader.load_json(here / "scene_gt.json", keys_to_int=True)[2]
    assert gt_here == bop_reader.load_json(there / "scene_gt.json", keys_to_int=True)[0]


def test_look_options_reach_the_images(tmp_path: Path) -> None:
    """--background and --color: the background pixels and an aliased object's colours."""
    out = tmp_path / "OUT"
    argv = ["--layout", "bop", "--objects", "cube", "--per-image", "1", "--sizes", "48x40", "--poses", "random:1"]
    argv += ["--background", "0,0,255", "--color", "255,0,0", "--no-antialias", "--image-format", "png"]
    assert main([*argv, "--out", str(out)]) == 0
    scene = out / "train_pbr" / "000000"
    image = bop_reader.load_image_data(scene, 0, bop_reader.load_scene_data(scene))
    off, on = image["depth"] == 0, image["mask_visib"][0]
    assert off.any() and on.any()
    assert np.all(image["rgb"][off] == (0, 0, 255))
    assert np.all(image["rgb"][on][:, 1:] == 0) and np.all(image["rgb"][on][:, 0] > 0)


def test_resume_redraws_unfinished_scenes_and_refuses_another_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "OUT"
    argv = ["--layout", "bop", "--objects", "tet,cube", "--per-image", "1-2", "--sizes", "40x32", "--poses", "random:3"]
    argv += ["--images-per-scene", "2", "--out", str(out)]
    assert main(argv) == 0
    files = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    scene1 = out / "train_pbr" / "000001"
    (scene1 / "scene_gt_coco.json").unlink()  # as a build killed in scene 1 leaves it
    (scene1 / "rgb" / "000000.jpg").unlink()
    kept = out / "train_pbr" / "000000" / "rgb" / "000000.jpg"
    kept.write_bytes(b"left alone")  # a finished scene is not drawn again
    capsys.readouterr()
    assert main(argv) == 0
    assert "wrote 1 images" in capsys.readouterr().out
    assert kept.read_bytes() == b"left alone"
    for path, data in files.items():
        if path != kept:
            assert path.read_bytes() == data, path
    assert main([*argv, "--seed", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "another --layout bop build" in err and len(err.splitlines()) == 1
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    assert main([*argv[:-1], str(tmp_path / "other")]) == 2
    assert "not empty" in capsys.readouterr().err


def test_webdataset_shards_hold_the_scene_folders_samples(built: Path, tmp_path: Path) -> None:
    """The same build as BOP-webdataset: every sample's members are the scene folders' files."""
    out = tmp_path / "OUT"
    argv = ["--layout", "bop", "--objects", f"tet,cylO,mesh:{REPO / 'examples' / 'duck.ply'}", "--per-image", "3"]
    argv += ["--sizes", f"{W}x{H}", "--poses", "random:3:5", "--images-per-scene", "2", "--format", "wds"]
    assert main([*argv, "--out", str(out)]) == 0
    split = out / "train_pbr"
    mapping = json.loads((split / "key_to_shard.json").read_text())
    assert mapping == {"000000_000000": 0, "000000_000001": 0, "000001_000000": 1}
    samples = 0
    for shard in (0, 1):
        path = split / f"shard-{shard:06d}.tar"
        for sample in webdataset.WebDataset(str(path), shardshuffle=False, empty_check=False):
            samples += 1
            scene_id, im_id = (int(x) for x in sample["__key__"].split("_"))
            assert mapping[sample["__key__"]] == shard == scene_id
            scene = built / "train_pbr" / f"{scene_id:06d}"
            data = bop_reader.load_scene_data(scene)
            assert sample["rgb.jpg"] == (scene / "rgb" / f"{im_id:06d}.jpg").read_bytes()
            assert sample["depth.png"] == (scene / "depth" / f"{im_id:06d}.png").read_bytes()
            gt_json = bop_reader.load_json(scene / "scene_gt.json", keys_to_int=True)[im_id]
            assert json.loads(sample["gt.json"]) == gt_json
            assert json.loads(sample["gt_info.json"]) == data["scene_gt_info"][im_id]
            image = bop_reader.load_image_data(scene, im_id, data)
            for ext, kind in (("mask.json", "mask"), ("mask_visib.json", "mask_visib")):
                rles = json.loads(sample[ext])
                for gt_id, rle in rles.items():
                    coded = mask_util.frPyObjects(rle, *rle["size"])
                    np.testing.assert_array_equal(mask_util.decode(coded).astype(bool), image[kind][int(gt_id)])
    assert samples == 3
    assert verify_main([str(out)]) == 0


def test_verify_recomputes_gt_info_from_the_files(
    built: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert verify_main([str(built)]) == 0
    assert "OK" in capsys.readouterr().out
    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    path = copy / "train_pbr" / "000000" / "scene_gt_info.json"
    info = bop_reader.load_json(path, keys_to_int=True)
    info[1][2]["px_count_visib"] += 1
    path.write_text(json.dumps({str(k): v for k, v in info.items()}))
    (copy / "train_pbr" / "000001" / "mask_visib" / "000000_000001.png").unlink()
    assert verify_main([str(copy)]) == 1
    out = capsys.readouterr().out
    assert "000000/000001 gt 2: px_count_visib" in out and "000001/000000: a file is missing" in out


def test_objects_take_given_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "OUT"
    argv = ["--layout", "bop", "--objects", "tet=5,cube", "--sizes", "32x24", "--poses", "random:2", "--out", str(out)]
    assert main(argv) == 0
    info = bop_reader.load_json(out / "models" / "models_info.json", keys_to_int=True)
    assert sorted(info) == [2, 5] and (out / "models" / "obj_000005.ply").is_file()
    gt = bop_reader.load_scene_gt(out / "train_pbr" / "000000" / "scene_gt.json")
    assert {g["obj_id"] for im in gt.values() for g in im} <= {2, 5}
    assert main([*argv[:3], "tet=2,cube", *argv[4:-1], str(tmp_path / "o2")]) == 2
    assert "ids repeat" in capsys.readouterr().err
