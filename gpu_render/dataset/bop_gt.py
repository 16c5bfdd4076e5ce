"""BOP ground truth from a render pass's buffers, on the CPU: ``scene_gt_info.json`` entries, the
``mask/`` and ``mask_visib/`` images and the COCO annotations (FORMATS.md, BOP). Pure numpy.

The buffers of one image of H x W pixels with K instances (gt_id 0..K-1, scene_gt.json's order):

- ``instance_ids``: (H, W) integer, the instance each pixel shows, as ``gt_id + 1``; 0 where no
  instance does (background).
- ``amodal``: (K, He, We) bool, each instance's whole silhouette drawn alone, on a canvas extended
  beyond the image: image pixel (col, row) is canvas pixel (col + ox, row + oy) for the
  ``offset`` (ox, oy). So a truncated object's silhouette is counted whole.
- ``depth``: (H, W) float, the scene's z-depth (any unit); 0 or less where no surface is.

The quantities are bop_toolkit's (``scripts/calc_gt_info.py``, ``scripts/calc_gt_coco.py``):
``px_count_all`` the whole silhouette's pixels, ``px_count_valid`` the in-image silhouette's pixels
with valid depth, ``px_count_visib`` the visible pixels, ``visib_fract = visib / all`` (0 when all
is 0); ``bbox_obj`` from the whole silhouette (it may leave the image) and ``bbox_visib`` from the
visible pixels, both ``(x_min, y_min, x_max - x_min, y_max - y_min)`` in integer pixel indices
(bop_toolkit's ``calc_2d_bbox``), and both ``[-1, -1, -1, -1]`` when nothing is visible. The
visible mask is exact here (the instance buffer, within the instance's silhouette) where
bop_toolkit estimates it from depth with a tolerance. The reductions are in :class:`GtCounts`, so
a GPU pass that reduces the same counts and extents formats its entries with :func:`gt_info_entry`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: COCO annotations of instances less visible than this get ``ignore`` (calc_gt_coco.py).
IGNORE_BELOW = 0.1
NO_BOX = (-1, -1, -1, -1)


@dataclass(frozen=True)
class GtCounts:
    """One instance's reductions. Counts are pixels; extents are (x_min, y_min, x_max, y_max) of
    pixel indices (inclusive), image coordinates (the whole silhouette's may be negative or past
    the image), or None when empty."""

    px_count_all: int
    px_count_valid: int
    px_count_visib: int
    obj_extent: tuple[int, int, int, int] | None
    visib_extent: tuple[int, int, int, int] | None


def _extent(mask: np.ndarray, dx: int = 0, dy: int = 0) -> tuple[int, int, int, int] | None:
    """(x_min, y_min, x_max, y_max) of the True pixels of ``mask`` (H, W) bool, shifted by
    (-dx, -dy); None when there are none."""
    cols, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
    if len(cols) == 0:
        return None
    return int(cols[0]) - dx, int(rows[0]) - dy, int(cols[-1]) - dx, int(rows[-1]) - dy


def _check(instance_ids: np.ndarray, amodal: np.ndarray, offset: tuple[int, int], depth: np.ndarray) -> None:
    h, w = instance_ids.shape
    ox, oy = offset
    if depth.shape != (h, w):
        raise ValueError(f"depth {depth.shape} and instance ids {(h, w)} differ in shape")
    if amodal.ndim != 3 or ox < 0 or oy < 0 or amodal.shape[1] < h + oy or amodal.shape[2] < w + ox:
        raise ValueError(f"amodal masks {amodal.shape} do not hold the {h}x{w} image at offset {offset}")


def in_image(amodal: np.ndarray, offset: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """The image's part of extended-canvas silhouettes (K, He, We) bool: (K, H, W) bool, a view.
    This is what BOP's ``mask/`` images hold."""
    ox, oy = offset
    return amodal[:, oy : oy + shape[0], ox : ox + shape[1]]


def visible_masks(instance_ids: np.ndarray, amodal: np.ndarray, offset: tuple[int, int]) -> np.ndarray:
    """BOP's ``mask_visib/``: (K, H, W) bool, pixel shows instance k and lies in its silhouette."""
    ids = np.asarray(instance_ids)
    k = np.arange(1, len(amodal) + 1).reshape(-1, 1, 1)
    return (ids[None] == k) & in_image(amodal, offset, ids.shape)


def reduce_buffers(
    instance_ids: np.ndarray, amodal: np.ndarray, offset: tuple[int, int], depth: np.ndarray
) -> list[GtCounts]:
    """Every instance's :class:`GtCounts` from one image's buffers (module docstring)."""
    ids, full, d = np.asarray(instance_ids), np.asarray(amodal, dtype=bool), np.asarray(depth)
    _check(ids, full, offset, d)
    inside = in_image(full, offset, ids.shape)
    visib = visible_masks(ids, full, offset)
    valid = d > 0
    out = []
    for k in range(len(full)):
        out.append(
            GtCounts(
                px_count_all=int(np.count_nonzero(full[k])),
                px_count_valid=int(np.count_nonzero(inside[k] & valid)),
                px_count_visib=int(np.count_nonzero(visib[k])),
                obj_extent=_extent(full[k], offset[0], offset[1]),
                visib_extent=_extent(visib[k]),
            )
        )
    return out


def _box(extent: tuple[int, int, int, int] | None) -> list[int]:
    if extent is None:
        return list(NO_BOX)
    x0, y0, x1, y1 = extent
    return [x0, y0, x1 - x0, y1 - y0]


def gt_info_entry(counts: GtCounts) -> dict[str, Any]:
    """One ``scene_gt_info.json`` entry: bbox_obj, bbox_visib ([x, y, w, h] ints, w = x_max -
    x_min as bop_toolkit writes them; [-1, -1, -1, -1] when nothing is visible), px_count_all,
    px_count_valid, px_count_visib (ints) and visib_fract (float)."""
    seen = counts.px_count_visib > 0
    fract = counts.px_count_visib / counts.px_count_all if counts.px_count_all > 0 else 0.0
    return {
        "bbox_obj": _box(counts.obj_extent) if seen else list(NO_BOX),
        "bbox_visib": _box(counts.visib_extent) if seen else list(NO_BOX),
        "px_count_all": int(counts.px_count_all),
        "px_count_valid": int(counts.px_count_valid),
        "px_count_visib": int(counts.px_count_visib),
        "visib_fract": float(fract),
    }


def gt_info(
    instance_ids: np.ndarray, amodal: np.ndarray, offset: tuple[int, int], depth: np.ndarray
) -> list[dict[str, Any]]:
    """One image's ``scene_gt_info.json`` list (gt_id order) from its buffers."""
    return [gt_info_entry(c) for c in reduce_buffers(instance_ids, amodal, offset, depth)]


def rle_encode(mask: np.ndarray) -> dict[str, list[int]]:
    """Uncompressed COCO RLE of a (H, W) mask: ``{"counts": [...], "size": [H, W]}``, runs of the
    column-major (Fortran order) pixels, the first run counting zeros (0 when the first pixel is
    set; no runs for an empty image). pycocotools' ``frPyObjects`` reads it; bop_toolkit's
    ``binary_mask_to_rle`` writes the same lists."""
    m = np.asarray(mask).astype(bool)
    flat = m.ravel(order="F")
    h, w = m.shape
    if flat.size == 0:
        return {"counts": [], "size": [int(h), int(w)]}
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(edges)
    counts = ([0] if flat[0] else []) + runs.tolist()
    return {"counts": [int(c) for c in counts], "size": [int(h), int(w)]}


def rle_decode(rle: dict[str, Any]) -> np.ndarray:
    """The (H, W) bool mask of an uncompressed RLE from :func:`rle_encode`."""
    h, w = (int(x) for x in rle["size"])
    counts = np.asarray(rle["counts"], dtype=np.int64)
    if counts.sum() != h * w or np.any(counts < 0):
        raise ValueError(f"RLE counts sum to {int(counts.sum())}, not {h}x{w} = {h * w}")
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape((w, h)).T.copy()


def coco_bbox(mask: np.ndarray) -> list[int]:
    """COCO box [x, y, w, h] of a (H, W) mask's pixels with w = x_max - x_min + 1 (bop_toolkit's
    ``bbox_from_binary_mask``); the mask must have a set pixel."""
    extent = _extent(np.asarray(mask, dtype=bool))
    if extent is None:
        raise ValueError("an empty mask has no box")
    x0, y0, x1, y1 = extent
    return [x0, y0, x1 - x0 + 1, y1 - y0 + 1]


def coco_image(im_id: int, file_name: str, width: int, height: int) -> dict[str, Any]:
    """A COCO ``images`` entry: id = im_id, file_name relative to the scene folder, width, height,
    and bop_toolkit's license 1 and empty URLs (no capture date: the same build, the same bytes)."""
    return {
        "id": int(im_id),
        "file_name": file_name,
        "width": int(width),
        "height": int(height),
        "license": 1,
        "coco_url": "",
        "flickr_url": "",
    }


def coco_annotations(
    first_id: int,
    im_id: int,
    obj_ids: Sequence[int],
    masks: np.ndarray,
    masks_visib: np.ndarray,
    visib_fract: Sequence[float],
) -> list[dict[str, Any]]:
    """One image's COCO annotations, as calc_gt_coco.py makes them with amodal boxes.

    obj_ids: (K,) per gt_id; masks, masks_visib: (K, H, W) bool, BOP's ``mask/`` and
    ``mask_visib/``; visib_fract: (K,) from gt_info. An instance with no visible or no in-image
    pixel gets no annotation and uses no id; the others take ids first_id, first_id + 1, ... in
    gt_id order. Each has category_id = obj_id, segmentation = :func:`rle_encode` of the visible
    mask, area = its pixel count, bbox = :func:`coco_bbox` of ``mask`` (the whole silhouette
    clipped to the image), iscrowd 0, ignore = visib_fract < 0.1, and the mask's width, height.
    """
    out: list[dict[str, Any]] = []
    for k, obj_id in enumerate(obj_ids):
        visib, full = np.asarray(masks_visib[k], dtype=bool), np.asarray(masks[k], dtype=bool)
        if not visib.any() or not full.any():
            continue
        out.append(
            {
                "id": first_id + len(out),
                "image_id": int(im_id),
                "category_id": int(obj_id),
                "iscrowd": 0,
                "area": int(np.count_nonzero(visib)),
                "bbox": coco_bbox(full),
                "segmentation": rle_encode(visib),
                "width": int(visib.shape[1]),
                "height": int(visib.shape[0]),
                "ignore": bool(visib_fract[k] < IGNORE_BELOW),
            }
        )
    return out


def coco_document(
    images: Sequence[dict[str, Any]],
    annotations: Sequence[dict[str, Any]],
    obj_ids: Sequence[int],
    dataset_name: str,
    split: str = "train_pbr",
) -> dict[str, Any]:
    """A scene's ``scene_gt_coco.json``: info (description ``{dataset_name}_{split}``, no dates:
    the same build, the same bytes), licenses (empty, as calc_gt_coco.py writes), categories (id =
    obj_id, name str(obj_id), supercategory the dataset's name, for every obj_id of the dataset),
    images, annotations."""
    return {
        "info": {"description": f"{dataset_name}_{split}", "url": "", "version": "1.0", "contributor": ""},
        "licenses": [],
        "categories": [{"id": int(i), "name": str(int(i)), "supercategory": dataset_name} for i in sorted(obj_ids)],
        "images": list(images),
        "annotations": list(annotations),
    }
