"""BOP ground truth from buffers (gpu_render/dataset/bop_gt.py) on a synthetic scene of occluding,
truncated and hidden instances (tests/bop_scene.py): every gt_info field against its definition
worked out by hand or by plain loops, the RLE and boxes against pycocotools."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pycocotools import mask as mask_util
from pycocotools.coco import COCO

from gpu_render.dataset import bop_check, bop_gt
from tests.bop_scene import HEIGHT, HOLE_COLUMN, OFFSET, WIDTH, make_scene

#: pycocotools 2.0 decodes through a numpy 1 interface that numpy 2 warns about.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _expected_entry(
    full_canvas: np.ndarray, visible: np.ndarray, depth: np.ndarray, offset: tuple[int, int] = OFFSET
) -> dict:
    """calc_gt_info.py's definitions, with plain nonzero() and sums."""
    h, w = depth.shape
    inside = full_canvas[offset[1] : offset[1] + h, offset[0] : offset[0] + w]
    n_all, n_visib = int(full_canvas.sum()), int(visible.sum())
    entry = {
        "px_count_all": n_all,
        "px_count_valid": int(np.sum(depth[inside] > 0)),
        "px_count_visib": n_visib,
        "visib_fract": n_visib / n_all if n_all else 0.0,
        "bbox_obj": [-1, -1, -1, -1],
        "bbox_visib": [-1, -1, -1, -1],
    }
    if n_visib:
        ys, xs = full_canvas.nonzero()
        xs, ys = xs - offset[0], ys - offset[1]
        entry["bbox_obj"] = [xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()]
        ys, xs = visible.nonzero()
        entry["bbox_visib"] = [xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()]
    return entry


def test_gt_info_matches_the_definitions() -> None:
    s = make_scene()
    info = bop_gt.gt_info(s.instance_ids, s.amodal, OFFSET, s.depth)
    assert len(info) == 5
    for k, entry in enumerate(info):
        visible = s.instance_ids == k + 1
        assert entry == _expected_entry(s.amodal[k], visible, s.depth), k
        assert json.loads(json.dumps(entry)) == entry  # plain ints and floats
    # By hand: the rectangle 1 is whole in the image (30 x 20 px), its box [10, 15, 29, 19].
    assert info[1]["px_count_all"] == 600 and info[1]["bbox_obj"] == [10, 15, 29, 19]
    # The truncated disc: its whole silhouette runs past the right and bottom borders.
    x, y, w, h = info[2]["bbox_obj"]
    assert x + w > WIDTH - 1 and y + h > HEIGHT - 1
    assert x + w == 67 and y + h == 51  # centre 58, 42 radius 10: last pixels 67, 51
    assert info[2]["px_count_all"] > info[2]["px_count_visib"] == int(np.sum(s.instance_ids == 3))
    vx, vy, vw, vh = info[2]["bbox_visib"]
    assert vx + vw == WIDTH - 1 and vy + vh == HEIGHT - 1
    # The sensor hole: valid counts fewer pixels than the in-image silhouette.
    assert info[1]["px_count_valid"] == 600 - 20  # column 30 crosses rows 15..34
    assert HOLE_COLUMN in range(10, 40)
    # Hidden instance 3: nothing visible, so no boxes, and visib_fract 0.
    assert info[3]["px_count_visib"] == 0 and info[3]["visib_fract"] == 0.0
    assert info[3]["bbox_obj"] == [-1, -1, -1, -1] == info[3]["bbox_visib"]
    assert 0 < info[4]["visib_fract"] < bop_gt.IGNORE_BELOW
    assert 0.5 < info[0]["visib_fract"] == 1.0


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(4, 24),
    w=st.integers(4, 24),
    ox=st.integers(0, 6),
    oy=st.integers(0, 6),
    boxes=st.lists(st.tuples(*(st.integers(-8, 30),) * 4, st.floats(100.0, 900.0)), min_size=1, max_size=4),
    holes=st.integers(0, 2**16),
)
def test_gt_info_of_random_scenes(
    h: int, w: int, ox: int, oy: int, boxes: list[tuple[int, int, int, int, float]], holes: int
) -> None:
    """Rectangles anywhere (inside, truncated, wholly outside, hidden), z-buffered by depth."""
    rows, cols = np.mgrid[-oy : h + oy, -ox : w + ox]
    amodal = np.stack(
        [
            (cols >= min(a, c)) & (cols <= max(a, c)) & (rows >= min(b, d)) & (rows <= max(b, d))
            for a, b, c, d, _ in boxes
        ]
    )
    z = np.where(amodal[:, oy : oy + h, ox : ox + w], np.array([b[4] for b in boxes])[:, None, None], np.inf)
    covered = np.isfinite(z.min(axis=0))
    ids = np.where(covered, np.argmin(z, axis=0) + 1, 0)
    depth = np.where(covered, z.min(axis=0), 0.0)
    depth[np.random.default_rng(holes).random((h, w)) < 0.1] = 0.0
    info = bop_gt.gt_info(ids, amodal, (ox, oy), depth)
    for k, entry in enumerate(info):
        assert entry == _expected_entry(amodal[k], ids == k + 1, depth, (ox, oy)), k


def test_visible_masks_stay_inside_the_silhouette() -> None:
    s = make_scene()
    ids = s.instance_ids.copy()
    ids[0, 0] = 2  # a stray pixel of instance 1 outside its silhouette
    visib = bop_gt.visible_masks(ids, s.amodal, OFFSET)
    assert not visib[1, 0, 0]
    full = bop_gt.in_image(s.amodal, OFFSET, ids.shape)
    assert full.shape == (5, HEIGHT, WIDTH) and not np.any(visib & ~full)


def test_buffers_of_the_wrong_shape_are_refused() -> None:
    s = make_scene()
    with pytest.raises(ValueError, match="depth"):
        bop_gt.gt_info(s.instance_ids, s.amodal, OFFSET, s.depth[:-1])
    with pytest.raises(ValueError, match="offset"):
        bop_gt.gt_info(s.instance_ids, s.amodal, (2 * WIDTH + 1, 0), s.depth)


@settings(max_examples=80, deadline=None)
@given(mask=arrays(np.bool_, st.tuples(st.integers(1, 12), st.integers(1, 12))))
def test_rle_against_pycocotools(mask: np.ndarray) -> None:
    rle = bop_gt.rle_encode(mask)
    assert rle["size"] == list(mask.shape)
    np.testing.assert_array_equal(bop_gt.rle_decode(rle), mask)
    coco = mask_util.frPyObjects(rle, *mask.shape)
    np.testing.assert_array_equal(mask_util.decode(coco).astype(bool), mask)
    assert mask_util.area(coco) == mask.sum()
    # The same runs as pycocotools' own encoding of the mask.
    ours = mask_util.frPyObjects(rle, *mask.shape)["counts"]
    theirs = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"]
    assert ours == theirs
    if mask.any():
        assert (
            bop_gt.coco_bbox(mask)
            == mask_util.toBbox(mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))).tolist()
        )


def test_rle_of_an_empty_image_has_no_runs() -> None:
    assert bop_gt.rle_encode(np.zeros((0, 3), bool)) == {"counts": [], "size": [0, 3]}
    assert bop_gt.rle_decode({"counts": [], "size": [0, 3]}).shape == (0, 3)


def test_rle_decode_refuses_counts_of_the_wrong_total() -> None:
    with pytest.raises(ValueError, match="sum"):
        bop_gt.rle_decode({"counts": [3, 2], "size": [2, 2]})


def test_coco_annotations_as_calc_gt_coco_makes_them(tmp_path: Path) -> None:
    s = make_scene()
    info = bop_gt.gt_info(s.instance_ids, s.amodal, OFFSET, s.depth)
    masks = bop_gt.in_image(s.amodal, OFFSET, s.instance_ids.shape)
    visib = bop_gt.visible_masks(s.instance_ids, s.amodal, OFFSET)
    fract = [e["visib_fract"] for e in info]
    anns = bop_gt.coco_annotations(1, 7, s.obj_ids, masks, visib, fract)
    # Instance 3 shows nothing: no annotation, and no id spent on it.
    assert [a["id"] for a in anns] == [1, 2, 3, 4]
    assert [a["category_id"] for a in anns] == [3, 1, 3, 5]
    assert [a["ignore"] for a in anns] == [False, False, False, True]
    image = bop_gt.coco_image(7, "rgb/000007.jpg", WIDTH, HEIGHT)
    doc = bop_gt.coco_document([image], anns, sorted(set(s.obj_ids)), "gpu_render")
    path = tmp_path / "scene_gt_coco.json"
    path.write_text(json.dumps(doc))
    coco = COCO(str(path))
    assert coco.getCatIds() == [1, 2, 3, 5] and coco.getImgIds() == [7]
    for ann, k in zip(coco.loadAnns(coco.getAnnIds(imgIds=[7])), (0, 1, 2, 4), strict=True):
        np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), visib[k])
        assert ann["area"] == int(visib[k].sum())
        x, y, w, h = ann["bbox"]  # the amodal box, clipped to the image: from mask/
        ys, xs = masks[k].nonzero()
        assert [x, y, x + w - 1, y + h - 1] == [xs.min(), ys.min(), xs.max(), ys.max()]
    truncated = anns[2]["bbox"]
    assert truncated[0] + truncated[2] == WIDTH and truncated[1] + truncated[3] == HEIGHT


def test_written_files_agree_with_gt_info_and_tampering_is_named() -> None:
    s = make_scene()
    info = bop_gt.gt_info(s.instance_ids, s.amodal, OFFSET, s.depth)
    masks = bop_gt.in_image(s.amodal, OFFSET, s.instance_ids.shape)
    visib = bop_gt.visible_masks(s.instance_ids, s.amodal, OFFSET)
    for k, entry in enumerate(info):
        as_png = np.where(masks[k], 255, 0).astype(np.uint8)
        assert bop_check.gt_info_problems(entry, bop_check.mask_from_png(as_png, "m"), visib[k], s.depth) == []
    tampered = [
        (1, "px_count_visib", 1, "px_count_visib is"),
        (1, "px_count_valid", 600, "px_count_valid is"),
        (1, "px_count_all", 601, "inside the image"),  # rectangle 1 lies inside: all = mask
        (2, "px_count_all", 10, "fewer than"),
        (0, "visib_fract", 0.5, "visib_fract is"),
        (0, "bbox_visib", [8, 8, 23, 24], "bbox_visib is"),
        (2, "bbox_obj", [48, 32, 10, 10], "does not contain"),
        (3, "bbox_obj", [16, 16, 7, 7], "nothing visible"),
    ]
    for k, key, value, message in tampered:
        entry = {**info[k], key: value}
        problems = bop_check.gt_info_problems(entry, masks[k], visib[k], s.depth)
        assert any(message in p for p in problems), (key, problems)
    # The truncated disc's whole silhouette is larger than its mask: allowed, it leaves the image.
    assert info[2]["px_count_all"] > masks[2].sum()
    problems = bop_check.gt_info_problems(info[1], masks[1], visib[1] | ~masks[1], s.depth)
    assert any("outside mask" in p for p in problems)
    with pytest.raises(ValueError, match="0 and 255"):
        bop_check.mask_from_png(np.array([[0, 1]], np.uint8), "mask/000000_000000.png")
