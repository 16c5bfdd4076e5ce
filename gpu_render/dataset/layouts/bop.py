"""``--layout bop``: BOP-scenewise folders of images of several objects (FORMATS.md, BOP).

``OUT/{split}/{scene_id:06d}/`` holds ``images_per_scene`` consecutive images of the build (image
index i is scene i // images_per_scene, im_id i % images_per_scene): ``rgb/`` (jpg or png),
``depth/`` (uint16, value x depth_scale = mm), ``mask/`` and ``mask_visib/`` per instance, and
``scene_camera``, ``scene_gt``, ``scene_gt_info``, ``scene_gt_coco`` JSON files; ``OUT/camera.json``
and ``OUT/models/`` (PLY in mm, ``models_info.json``) describe the camera and the objects.

Units: every object is drawn in its own normalised frame (unit ball, SCENES.md) and the whole
scene is scaled by one ``mm_per_unit``: a model's mm are ``mm_per_unit * x_obj``, poses'
translations and depth are the scene's object units times ``mm_per_unit``.

The ground truth comes from the render pass's buffers (:mod:`gpu_render.dataset.bop_gt`): the
instance-id image, the whole silhouettes on the extended canvas, and the depth.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gpu_render.dataset.atomic import atomic_write_bytes
from gpu_render.dataset.bop_files import (
    DEFAULT_SPLIT,
    IMAGES_PER_SCENE,
    BopScene,
    camera_entry,
    gt_entry,
    scene_of,
    write_camera_json,
    write_image_gt,
    write_scene_coco,
    write_scene_json,
)
from gpu_render.dataset.bop_gt import coco_annotations, coco_document, coco_image, gt_info, in_image, visible_masks
from gpu_render.dataset.bop_models import write_model, write_models_info
from gpu_render.dataset.encode import ENCODERS
from gpu_render.errors import UsageError
from gpu_render.scene.bop_model import model_triangles, object_model_info
from gpu_render.scene.objects import SceneObject

#: Millimetres per object unit: the built-in solids (circumradius 1) are 200 mm across.
DEFAULT_MM_PER_UNIT = 100.0
#: What a build of OUT is (its options), to resume it and to refuse another into the same OUT.
SIGNATURE_FILE = "bop_build.json"
#: Depth PNG units per mm is 1 / depth_scale: 0.1 mm steps reach 6.5 m.
DEFAULT_DEPTH_SCALE = 0.1


@dataclass(frozen=True)
class BopOptions:
    """split: the split folder's name. images_per_scene: images per scene folder. rgb_ext: 'jpg' or
    'png'. mm_per_unit: millimetres per object unit. depth_scale: mm per depth PNG unit.
    dataset_name: COCO's supercategory and description. wds: BOP-webdataset shards instead of
    scene folders (:mod:`gpu_render.dataset.layouts.bop_wds`)."""

    split: str = DEFAULT_SPLIT
    images_per_scene: int = IMAGES_PER_SCENE
    rgb_ext: str = "jpg"
    mm_per_unit: float = DEFAULT_MM_PER_UNIT
    depth_scale: float = DEFAULT_DEPTH_SCALE
    dataset_name: str = "gpu_render"
    wds: bool = False


@dataclass
class _SceneFiles:
    """What a scene's JSON files hold so far (im_id order)."""

    scene: BopScene
    camera: dict[int, Any] = field(default_factory=dict)
    gt: dict[int, Any] = field(default_factory=dict)
    info: dict[int, Any] = field(default_factory=dict)
    coco_images: list[dict[str, Any]] = field(default_factory=list)
    coco_annotations: list[dict[str, Any]] = field(default_factory=list)


class BopLayout:
    """Writes a BOP-scenewise set under ``out`` image by image; :meth:`close` writes the last
    scene's JSON files. obj_ids: (M,) the BOP id of each object index. k: (3, 3) float64 K, px,
    of the W x H images."""

    def __init__(
        self, out: Path, obj_ids: Sequence[int], k: np.ndarray, width: int, height: int, options: BopOptions
    ) -> None:
        if options.rgb_ext not in ("jpg", "png"):
            raise ValueError(f"rgb images are jpg or png, not {options.rgb_ext!r}")
        self.out, self.obj_ids, self.options = Path(out), [int(i) for i in obj_ids], options
        self.k, self.width, self.height = np.asarray(k, dtype=np.float64), width, height
        self._current: _SceneFiles | None = None

    def scene_complete(self, scene_id: int) -> bool:
        """Whether scene ``scene_id``'s files were all written (its COCO file is written last)."""
        return BopScene(self.out, scene_id, self.options.split, self.options.rgb_ext).json("scene_gt_coco").is_file()

    def claim(self, signature: dict[str, Any]) -> bool:
        """Record what this build is in ``OUT/bop_build.json``; True when OUT already holds (part
        of) the same build, to resume. Raises UsageError when OUT holds another."""
        path = self.out / SIGNATURE_FILE
        text = json.dumps(signature, sort_keys=True) + "\n"
        if path.is_file():
            if path.read_text(encoding="utf-8") != text:
                raise UsageError(
                    f"{self.out} holds another --layout bop build ({SIGNATURE_FILE} differs); use a new --out"
                )
            return True
        if self.out.is_dir() and any(self.out.iterdir()):
            raise UsageError(f"{self.out} is not empty and holds no --layout bop build; use a new --out")
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, text.encode())
        return False

    def write_models(self, objects: Sequence[SceneObject]) -> None:
        """``camera.json`` and ``models/``: each object's PLY in mm and ``models_info.json``."""
        self.out.mkdir(parents=True, exist_ok=True)
        write_camera_json(self.out, self.k, self.width, self.height, self.options.depth_scale)
        models = self.out / "models"
        models.mkdir(exist_ok=True)
        mm = self.options.mm_per_unit
        for obj_id, obj in zip(self.obj_ids, objects, strict=True):
            write_model(models, obj_id, model_triangles(obj, mm), np.asarray(obj.normals, dtype=np.float64))
        write_models_info(models, {i: object_model_info(o, mm) for i, o in zip(self.obj_ids, objects, strict=True)})

    def write_image(
        self,
        index: int,
        objects: np.ndarray,
        rotation: np.ndarray,
        translation: np.ndarray,
        image: np.ndarray,
        instance_ids: np.ndarray,
        amodal: np.ndarray,
        offset: tuple[int, int],
        depth: np.ndarray,
    ) -> None:
        """Write image ``index`` of the build: objects (K,) object indices; rotation (K, 3, 3) R and
        translation (K, 3) t (object units, camera frame); image (H, W, 3) uint8; instance_ids,
        amodal, offset, depth as :mod:`gpu_render.dataset.bop_gt` takes them (depth in object units)."""
        scene_id, im_id = scene_of(index, self.options.images_per_scene)
        files = self._scene(scene_id)
        o, mm = self.options, self.options.mm_per_unit
        atomic_write_bytes(files.scene.rgb(im_id), ENCODERS[o.rgb_ext](np.ascontiguousarray(image)))
        masks = np.ascontiguousarray(in_image(amodal, offset, instance_ids.shape))
        masks_visib = visible_masks(instance_ids, amodal, offset)
        write_image_gt(files.scene, im_id, depth.astype(np.float64) * mm, o.depth_scale, masks, masks_visib)
        ids = [self.obj_ids[int(i)] for i in objects]
        info = gt_info(instance_ids, amodal, offset, depth)
        files.camera[im_id] = camera_entry(self.k, o.depth_scale, np.eye(3), np.zeros(3))
        files.gt[im_id] = [gt_entry(ids[g], rotation[g], translation[g], mm) for g in range(len(ids))]
        files.info[im_id] = info
        files.coco_images.append(coco_image(im_id, files.scene.rgb_name(im_id), self.width, self.height))
        first = len(files.coco_annotations) + 1  # COCO ids start at 1
        fract = [entry["visib_fract"] for entry in info]
        files.coco_annotations += coco_annotations(first, im_id, ids, masks, masks_visib, fract)

    def _scene(self, scene_id: int) -> _SceneFiles:
        if self._current is not None and self._current.scene.scene_id != scene_id:
            self._flush()
        if self._current is None:
            scene = BopScene(self.out, scene_id, self.options.split, self.options.rgb_ext)
            scene.make_folders()
            self._current = _SceneFiles(scene)
        return self._current

    def _flush(self) -> None:
        files, self._current = self._current, None
        if files is None:
            return
        write_scene_json(files.scene, "scene_camera", files.camera)
        write_scene_json(files.scene, "scene_gt", files.gt)
        write_scene_json(files.scene, "scene_gt_info", files.info)
        document = coco_document(
            files.coco_images, files.coco_annotations, self.obj_ids, self.options.dataset_name, self.options.split
        )
        write_scene_coco(files.scene, document)

    def close(self) -> None:
        """Write the JSON files of the scene being written."""
        self._flush()
