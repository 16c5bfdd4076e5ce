"""BOP files from arrays (FORMATS.md, BOP): the scenewise folders, their JSON and PNG files, and the
members of one BOP-webdataset sample. No GL and no options: the build hands over arrays.

Arguments are in this project's conventions (SCENES.md) and converted here: K with pixel centres
at ``col + 0.5`` becomes BOP's (and OpenCV's) ``cx - 0.5``; poses ``x_cam = R @ x_obj + t`` in
object units become ``cam_R_m2c``, ``cam_t_m2c`` in mm of the model frame ``x_model_mm =
mm_per_unit * x_obj + origin_mm`` (:mod:`gpu_render.scene.conventions`). Every file is written
under a temporary name and renamed (:mod:`gpu_render.dataset.atomic`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gpu_render.dataset.atomic import atomic_write_bytes
from gpu_render.dataset.bop_gt import rle_encode
from gpu_render.errors import UsageError
from gpu_render.scene.conventions import bop_pose_from_scene, bop_rows, depth_png_units, opencv_intrinsics

#: BlenderProc's and this layout's split of rendered training scenes.
DEFAULT_SPLIT = "train_pbr"
#: Images per scene folder (BlenderProc's train_pbr chunks) and per BOP-webdataset shard.
IMAGES_PER_SCENE = 1000
PNG_COMPRESS_LEVEL = 3


@dataclass(frozen=True)
class BopScene:
    """The files of one scene: ``{root}/{split}/{scene_id:06d}/`` with ``rgb/``, ``depth/``,
    ``mask/``, ``mask_visib/`` and the four scene JSON files; rgb_ext 'jpg' or 'png'."""

    root: Path
    scene_id: int
    split: str = DEFAULT_SPLIT
    rgb_ext: str = "jpg"

    @property
    def folder(self) -> Path:
        return Path(self.root) / self.split / f"{self.scene_id:06d}"

    def rgb_name(self, im_id: int) -> str:
        """The rgb file relative to the scene folder (COCO's file_name)."""
        return f"rgb/{im_id:06d}.{self.rgb_ext}"

    def rgb(self, im_id: int) -> Path:
        return self.folder / self.rgb_name(im_id)

    def depth(self, im_id: int) -> Path:
        return self.folder / "depth" / f"{im_id:06d}.png"

    def mask(self, im_id: int, gt_id: int, visible: bool = False) -> Path:
        """``mask/`` (whole silhouette in the image) or ``mask_visib/`` (visible part) of one instance."""
        return self.folder / ("mask_visib" if visible else "mask") / f"{im_id:06d}_{gt_id:06d}.png"

    def json(self, name: str) -> Path:
        """``scene_camera``, ``scene_gt``, ``scene_gt_info`` or ``scene_gt_coco`` (.json added)."""
        return self.folder / f"{name}.json"

    def make_folders(self) -> None:
        for sub in ("rgb", "depth", "mask", "mask_visib"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)


def scene_of(im_index: int, images_per_scene: int = IMAGES_PER_SCENE) -> tuple[int, int]:
    """(scene_id, im_id) of the 0-based image ``im_index`` of a build."""
    return im_index // images_per_scene, im_index % images_per_scene


def camera_entry(
    k: np.ndarray, depth_scale: float, r_w2c: np.ndarray | None = None, t_w2c_mm: np.ndarray | None = None
) -> dict[str, Any]:
    """One ``scene_camera.json`` entry: cam_K (9 floats row-wise, BOP's pixel centres) from this
    project's K (3, 3), depth_scale, and cam_R_w2c (9) and cam_t_w2c (3, mm) when given."""
    entry: dict[str, Any] = {"cam_K": bop_rows(opencv_intrinsics(k)), "depth_scale": float(depth_scale)}
    if r_w2c is not None:
        entry["cam_R_w2c"] = bop_rows(r_w2c)
    if t_w2c_mm is not None:
        entry["cam_t_w2c"] = [float(x) for x in np.asarray(t_w2c_mm, dtype=np.float64).reshape(3)]
    return entry


def gt_entry(
    obj_id: int, rotation: np.ndarray, translation: np.ndarray, mm_per_unit: float, origin_mm: np.ndarray | None = None
) -> dict[str, Any]:
    """One ``scene_gt.json`` entry (cam_R_m2c 9 floats row-wise, cam_t_m2c 3 floats mm, obj_id)
    from R (3, 3) and t (3,) object units (:func:`~gpu_render.scene.conventions.bop_pose_from_scene`)."""
    r, t = bop_pose_from_scene(rotation, translation, mm_per_unit, origin_mm)
    return {"cam_R_m2c": bop_rows(r[0]), "cam_t_m2c": [float(x) for x in t[0]], "obj_id": int(obj_id)}


def camera_json(k: np.ndarray, width: int, height: int, depth_scale: float) -> dict[str, Any]:
    """The dataset's ``camera.json``: cx, cy, fx, fy (BOP's pixel centres) of this project's K, the
    image's width and height, depth_scale."""
    kk = opencv_intrinsics(k)
    return {
        "cx": float(kk[0, 2]),
        "cy": float(kk[1, 2]),
        "depth_scale": float(depth_scale),
        "fx": float(kk[0, 0]),
        "fy": float(kk[1, 1]),
        "height": int(height),
        "width": int(width),
    }


def bop_json_bytes(content: Mapping[int, Any] | Mapping[str, Any]) -> bytes:
    """A BOP JSON file keyed by id, laid out as bop_toolkit's ``save_json`` does: keys as strings in
    the mapping's order, one line per key, each value's own keys sorted (``scene_*.json``,
    ``models_info.json``). Deterministic: the same content gives the same bytes."""
    lines = [f"  {json.dumps(str(key))}: {json.dumps(value, sort_keys=True)}" for key, value in content.items()]
    return ("{\n" + ",\n".join(lines) + "\n}\n").encode()


def write_scene_json(scene: BopScene, name: str, content: Mapping[int, Any]) -> None:
    """Write ``scene_camera``, ``scene_gt`` or ``scene_gt_info`` (a mapping im_id -> entry or list)."""
    atomic_write_bytes(scene.json(name), bop_json_bytes(content))


def write_scene_coco(scene: BopScene, document: Mapping[str, Any]) -> None:
    """Write ``scene_gt_coco.json`` (:func:`gpu_render.dataset.bop_gt.coco_document`)."""
    atomic_write_bytes(scene.json("scene_gt_coco"), (json.dumps(document) + "\n").encode())


def write_camera_json(root: Path, k: np.ndarray, width: int, height: int, depth_scale: float) -> None:
    """Write ``{root}/camera.json`` (:func:`camera_json`)."""
    atomic_write_bytes(
        Path(root) / "camera.json", (json.dumps(camera_json(k, width, height, depth_scale)) + "\n").encode()
    )


def _png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def depth_png(depth_mm: np.ndarray, depth_scale: float) -> bytes:
    """A BOP depth PNG: (H, W) z-depth in mm (0 = no surface) as 16-bit grey, value x depth_scale
    = mm. Raises UsageError when the depth does not fit (a larger depth_scale does)."""
    try:
        units = depth_png_units(depth_mm, depth_scale)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return _png(units)


def mask_png(mask: np.ndarray) -> bytes:
    """A BOP mask PNG: (H, W) bool as 8-bit grey, 255 where set, 0 elsewhere."""
    return _png(np.where(np.asarray(mask, dtype=bool), np.uint8(255), np.uint8(0)))


def write_image_gt(
    scene: BopScene, im_id: int, depth_mm: np.ndarray, depth_scale: float, masks: np.ndarray, masks_visib: np.ndarray
) -> None:
    """Write one image's ``depth/`` PNG and each instance's ``mask/`` and ``mask_visib/`` PNG.
    depth_mm: (H, W) float mm; masks, masks_visib: (K, H, W) bool, gt_id order. Folders must exist
    (:meth:`BopScene.make_folders`)."""
    atomic_write_bytes(scene.depth(im_id), depth_png(depth_mm, depth_scale))
    for gt_id in range(len(masks)):
        atomic_write_bytes(scene.mask(im_id, gt_id), mask_png(masks[gt_id]))
        atomic_write_bytes(scene.mask(im_id, gt_id, visible=True), mask_png(masks_visib[gt_id]))


def wds_key(scene_id: int, im_id: int) -> str:
    """The BOP-webdataset key of an image: ``{scene_id:06d}_{im_id:06d}`` (no dot)."""
    return f"{scene_id:06d}_{im_id:06d}"


def wds_shard_name(shard: int) -> str:
    """``shard-{shard:06d}.tar``."""
    return f"shard-{shard:06d}.tar"


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


def wds_members(
    rgb: bytes,
    rgb_ext: str,
    depth_png_bytes: bytes,
    camera: Mapping[str, Any],
    gt: Sequence[Mapping[str, Any]],
    gt_info: Sequence[Mapping[str, Any]],
    masks: np.ndarray,
    masks_visib: np.ndarray,
) -> list[tuple[str, bytes]]:
    """The (extension, bytes) members of one BOP-webdataset sample, in tar order; the tar names
    them ``KEY.{extension}``: rgb.jpg|png, depth.png, camera.json (the image's scene_camera entry),
    gt.json and gt_info.json (its lists), mask.json and mask_visib.json ({str(gt_id): uncompressed
    RLE}). masks, masks_visib: (K, H, W) bool."""
    if rgb_ext not in ("jpg", "png"):
        raise ValueError(f"rgb must be jpg or png, got {rgb_ext!r}")
    return [
        (f"rgb.{rgb_ext}", rgb),
        ("depth.png", depth_png_bytes),
        ("camera.json", _json_bytes(camera)),
        ("gt.json", _json_bytes(list(gt))),
        ("gt_info.json", _json_bytes(list(gt_info))),
        ("mask.json", _json_bytes({str(i): rle_encode(m) for i, m in enumerate(masks)})),
        ("mask_visib.json", _json_bytes({str(i): rle_encode(m) for i, m in enumerate(masks_visib)})),
    ]


def key_to_shard(keys: Sequence[str], images_per_shard: int = IMAGES_PER_SCENE) -> dict[str, int]:
    """``key_to_shard.json``: each key (in build order) to its shard index, ``images_per_shard``
    to a shard."""
    return {key: i // images_per_shard for i, key in enumerate(keys)}
