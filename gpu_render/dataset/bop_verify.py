"""``gpu_render.verify`` of ``--layout bop`` builds: every image's files exist and decode, and
``scene_gt_info`` is recomputed from the written masks and depth and compared with the JSON
(:func:`gpu_render.dataset.bop_check.gt_info_problems`); visible masks must not overlap and must
cover exactly the pixels with depth. BOP-webdataset shards are checked the same way from their
samples' members.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gpu_render.dataset.bop_check import gt_info_problems
from gpu_render.dataset.bop_files import DEFAULT_SPLIT, IMAGES_PER_SCENE, scene_of, wds_key, wds_shard_name
from gpu_render.dataset.bop_gt import rle_decode
from gpu_render.dataset.layouts.bop import SIGNATURE_FILE
from gpu_render.dataset.verify_checks import Report
from gpu_render.errors import UsageError
from gpu_render.rotations.sources import parse_source


def bop_signature(out: Path) -> dict[str, Any] | None:
    """The options a ``--layout bop`` build of ``out`` recorded, or None when it is not one."""
    path = Path(out) / SIGNATURE_FILE
    if not path.is_file():
        return None
    try:
        sig = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: unreadable ({exc})") from None
    if not isinstance(sig, dict) or "poses" not in sig:
        raise UsageError(f"{path} is not a --layout bop build record")
    return sig


def _png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


def _check_image(
    report: Report, where: str, entries: list[dict[str, Any]], masks: np.ndarray, visib: np.ndarray, depth: np.ndarray
) -> None:
    """One image's checks: masks (K, H, W) and visib (K, H, W) bool, depth (H, W) any unit."""
    if len(masks) != len(entries) or len(visib) != len(entries):
        report.problem(f"{where}: {len(entries)} instances, {len(masks)} masks, {len(visib)} visible masks")
        return
    if len(visib) and np.any(visib.sum(axis=0) > 1):
        report.problem(f"{where}: visible masks overlap")
    if len(visib) and np.any(visib.any(axis=0) != (depth > 0)):
        report.problem(f"{where}: visible masks do not cover exactly the pixels with depth")
    for gt_id, entry in enumerate(entries):
        for line in gt_info_problems(entry, masks[gt_id], visib[gt_id], depth):
            report.problem(f"{where} gt {gt_id}: {line}")


def verify_bop(out: Path) -> Report:
    """Check a ``--layout bop`` build in ``out`` (see the module docstring)."""
    sig = bop_signature(out)
    if sig is None:
        raise UsageError(f"{out} holds no {SIGNATURE_FILE}: not a --layout bop build")
    try:
        count = parse_source(str(sig["poses"]), None).size()
    except ValueError as exc:
        raise UsageError(f"{out}/{SIGNATURE_FILE}: {exc}") from None
    per_scene = int(sig.get("images_per_scene", IMAGES_PER_SCENE))
    split, ext = str(sig.get("split", DEFAULT_SPLIT)), str(sig.get("image_format", "jpg"))
    wds = sig.get("format") == "wds"
    report = Report()
    report.say(f"{out}: {count} images of --layout bop{' (BOP-webdataset)' if wds else ''}, {per_scene} per scene")
    for name in ("camera.json", "models/models_info.json"):
        if not (out / name).is_file():
            report.problem(f"{out / name}: missing")
    scenes = sorted({scene_of(i, per_scene)[0] for i in range(count)})
    for scene_id in scenes:
        ims = [scene_of(i, per_scene)[1] for i in range(count) if scene_of(i, per_scene)[0] == scene_id]
        if wds:
            _verify_shard(report, out / split / wds_shard_name(scene_id), scene_id, ims, ext)
        else:
            _verify_scene(report, out / split / f"{scene_id:06d}", ims, ext)
    report.say(f"checked {count} images in {len(scenes)} {'shards' if wds else 'scenes'}")
    return report


def _verify_scene(report: Report, folder: Path, ims: list[int], ext: str) -> None:
    try:
        info = {int(k): v for k, v in json.loads((folder / "scene_gt_info.json").read_text()).items()}
        gt = {int(k): v for k, v in json.loads((folder / "scene_gt.json").read_text()).items()}
        camera = {int(k): v for k, v in json.loads((folder / "scene_camera.json").read_text()).items()}
        json.loads((folder / "scene_gt_coco.json").read_text())
    except (OSError, ValueError) as exc:
        report.problem(f"{folder}: scene JSON files missing or unreadable ({exc})")
        return
    for im_id in ims:
        where = f"{folder}/{im_id:06d}"
        if im_id not in info or im_id not in gt or im_id not in camera or len(info[im_id]) != len(gt[im_id]):
            report.problem(f"{where}: missing from the scene JSON files")
            continue
        try:
            _png((folder / "rgb" / f"{im_id:06d}.{ext}").read_bytes())
            depth = _png((folder / "depth" / f"{im_id:06d}.png").read_bytes()).astype(np.float64)
            k = len(gt[im_id])
            masks = np.array([_png((folder / "mask" / f"{im_id:06d}_{g:06d}.png").read_bytes()) > 0 for g in range(k)])
            visib = np.array(
                [_png((folder / "mask_visib" / f"{im_id:06d}_{g:06d}.png").read_bytes()) > 0 for g in range(k)]
            )
        except (OSError, ValueError, SyntaxError) as exc:
            report.problem(f"{where}: a file is missing or does not decode ({exc})")
            continue
        _check_image(report, where, info[im_id], masks, visib, depth)


def _verify_shard(report: Report, path: Path, scene_id: int, ims: list[int], ext: str) -> None:
    try:
        with tarfile.open(path) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    except (OSError, tarfile.TarError) as exc:
        report.problem(f"{path}: missing or unreadable ({exc})")
        return
    for im_id in ims:
        key = wds_key(scene_id, im_id)
        where = f"{path}:{key}"
        try:
            _png(members[f"{key}.rgb.{ext}"])
            depth = _png(members[f"{key}.depth.png"]).astype(np.float64)
            entries = json.loads(members[f"{key}.gt_info.json"])
            masks_rle = json.loads(members[f"{key}.mask.json"])
            visib_rle = json.loads(members[f"{key}.mask_visib.json"])
            json.loads(members[f"{key}.gt.json"])
            json.loads(members[f"{key}.camera.json"])
        except (KeyError, OSError, ValueError, SyntaxError) as exc:
            report.problem(f"{where}: a member is missing or does not decode ({exc})")
            continue
        masks = np.array([rle_decode(masks_rle[str(g)]) for g in range(len(masks_rle))])
        visib = np.array([rle_decode(visib_rle[str(g)]) for g in range(len(visib_rle))])
        _check_image(report, where, entries, masks, visib, depth)
