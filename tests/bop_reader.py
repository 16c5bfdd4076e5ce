"""A minimal BOP reader for the tests, written from bop_toolkit's documented behaviour (FORMATS.md,
BOP; ``bop_toolkit_lib/inout.py`` and ``dataset/bop_scenewise.py``), not from its code:

- JSON files are read with their digit keys made ints (``load_json(path, keys_to_int=True)``);
- ``scene_camera``: cam_K, cam_R_w2c to (3, 3), cam_t_w2c to (3, 1); ``scene_gt``: cam_R_m2c to
  (3, 3), cam_t_m2c to (3, 1);
- a depth PNG is read as its uint16 values, as float, times the image's depth_scale (mm);
- masks are ``{im_id:06d}_{gt_id:06d}.png`` in mask/ and mask_visib/, gt_id running over the
  image's scene_gt list, read as value > 0;
- a PLY is parsed from its header: vertex x, y, z (and normals), faces as vertex_indices lists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

_PLY_TYPES = {"float": "<f4", "double": "<f8", "uchar": "u1", "int": "<i4", "uint": "<u4", "short": "<i2"}


def load_json(path: Path, keys_to_int: bool = False) -> Any:
    def to_int(d: dict[str, Any]) -> dict[Any, Any]:
        return {int(k) if k.lstrip("-").isdigit() else k: v for k, v in d.items()}

    with open(path) as f:
        return json.load(f, object_hook=to_int if keys_to_int else None)


def load_scene_camera(path: Path) -> dict[int, dict[str, Any]]:
    cams = load_json(path, keys_to_int=True)
    for cam in cams.values():
        for key, shape in (("cam_K", (3, 3)), ("cam_R_w2c", (3, 3)), ("cam_t_w2c", (3, 1))):
            if key in cam:
                cam[key] = np.array(cam[key], dtype=np.float64).reshape(shape)
    return cams


def load_scene_gt(path: Path) -> dict[int, list[dict[str, Any]]]:
    gts = load_json(path, keys_to_int=True)
    for gt_list in gts.values():
        for gt in gt_list:
            if "cam_R_m2c" in gt:
                gt["cam_R_m2c"] = np.array(gt["cam_R_m2c"], dtype=np.float64).reshape(3, 3)
            if "cam_t_m2c" in gt:
                gt["cam_t_m2c"] = np.array(gt["cam_t_m2c"], dtype=np.float64).reshape(3, 1)
    return gts


def load_depth(path: Path) -> np.ndarray:
    """The PNG's values as float32 (H, W); the caller multiplies by depth_scale."""
    with Image.open(path) as im:
        values = np.array(im)
    assert values.dtype in (np.uint16, np.int32), values.dtype  # 16-bit grey
    return values.astype(np.float32)


def load_scene_data(scene_dir: Path) -> dict[str, Any]:
    """The three scene files; scene_gt_info goes through the scene_gt reader, as bop_scenewise's does."""
    return {
        "scene_camera": load_scene_camera(scene_dir / "scene_camera.json"),
        "scene_gt": load_scene_gt(scene_dir / "scene_gt.json"),
        "scene_gt_info": load_scene_gt(scene_dir / "scene_gt_info.json"),
    }


def load_masks(scene_dir: Path, im_id: int, kind: str) -> np.ndarray:
    """Every ``{kind}/{im_id:06d}_*.png``, ordered by the number after the underscore: (K, H, W) bool."""
    paths = sorted((scene_dir / kind).glob(f"{im_id:06d}_*.png"), key=lambda p: int(p.stem.split("_")[-1]))
    return np.array([load_png(p) > 0 for p in paths])


def load_image_data(scene_dir: Path, im_id: int, scene_data: dict[str, Any]) -> dict[str, Any]:
    """rgb/{im_id:06d}.jpg, else .png; depth times the image's depth_scale; both mask kinds."""
    cam = scene_data["scene_camera"][im_id]
    rgb_path = scene_dir / "rgb" / f"{im_id:06d}.jpg"
    if not rgb_path.exists():
        rgb_path = rgb_path.with_suffix(".png")
    with Image.open(rgb_path) as im:
        rgb = np.array(im.convert("RGB"))
    depth = load_depth(scene_dir / "depth" / f"{im_id:06d}.png") * cam["depth_scale"]
    return {
        "rgb": rgb,
        "depth": depth,
        "mask": load_masks(scene_dir, im_id, "mask"),
        "mask_visib": load_masks(scene_dir, im_id, "mask_visib"),
    }


def load_png(path: Path) -> np.ndarray:
    """A grey PNG's values as float32 (H, W), whatever its bit depth."""
    with Image.open(path) as im:
        return np.array(im).astype(np.float32)


def load_ply(path: Path) -> dict[str, np.ndarray]:
    data = Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    lines = data[:end].decode("ascii").splitlines()
    assert lines[0] == "ply" and lines[1] == "format binary_little_endian 1.0", lines[:2]
    elements: list[tuple[str, int, list[tuple[str, ...]]]] = []
    for line in lines[2:]:
        words = line.split()
        if words[0] == "element":
            elements.append((words[1], int(words[2]), []))
        elif words[0] == "property":
            elements[-1][2].append(tuple(words[1:]))
    out: dict[str, np.ndarray] = {}
    pos = end
    for name, count, props in elements:
        if name == "vertex":
            dtype = np.dtype([(p[1], _PLY_TYPES[p[0]]) for p in props])
            v = np.frombuffer(data, dtype=dtype, count=count, offset=pos)
            pos += dtype.itemsize * count
            out["pts"] = np.stack([v["x"], v["y"], v["z"]], axis=1).astype(np.float64)
            if "nx" in dtype.names:
                out["normals"] = np.stack([v["nx"], v["ny"], v["nz"]], axis=1).astype(np.float64)
        elif name == "face":
            assert props == [("list", "uchar", "int", "vertex_indices")], props
            dtype = np.dtype([("n", "u1"), ("idx", "<i4", (3,))])
            f = np.frombuffer(data, dtype=dtype, count=count, offset=pos)
            assert np.all(f["n"] == 3)
            pos += dtype.itemsize * count
            out["faces"] = f["idx"].astype(np.int64)
    assert pos == len(data), "bytes after the last element"
    return out
