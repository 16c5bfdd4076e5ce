"""``--layout bop --format wds``: the BOP-webdataset variant of :class:`~gpu_render.dataset.layouts.bop.BopLayout`.

``OUT/{split}/shard-{k:06d}.tar`` holds images ``k * images_per_scene ..`` (one shard per scene),
each a sample ``KEY.rgb.jpg|png``, ``KEY.depth.png``, ``KEY.camera.json``, ``KEY.gt.json``,
``KEY.gt_info.json``, ``KEY.mask.json``, ``KEY.mask_visib.json`` with KEY =
``{scene_id:06d}_{im_id:06d}`` (:func:`gpu_render.dataset.bop_files.wds_members`), and
``OUT/{split}/key_to_shard.json`` maps every key to its shard. ``camera.json`` and ``models/`` are
as in the scenewise layout. A shard is written under a temporary name and renamed when whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from gpu_render.dataset.atomic import atomic_write_bytes, temporary_name
from gpu_render.dataset.bop_files import (
    camera_entry,
    depth_png,
    gt_entry,
    key_to_shard,
    scene_of,
    wds_key,
    wds_members,
    wds_shard_name,
)
from gpu_render.dataset.bop_gt import gt_info, in_image, visible_masks
from gpu_render.dataset.encode import ENCODERS
from gpu_render.dataset.layouts.bop import BopLayout, BopOptions
from gpu_render.dataset.wds import sample_members, tar_end
from gpu_render.scene.objects import SceneObject


class BopWdsLayout(BopLayout):
    """Writes BOP-webdataset shards under ``out``; count: images in the build (for
    ``key_to_shard.json``). Otherwise as :class:`BopLayout`."""

    def __init__(
        self,
        out: Path,
        obj_ids: Sequence[int],
        k: np.ndarray,
        width: int,
        height: int,
        options: BopOptions,
        count: int,
    ) -> None:
        super().__init__(out, obj_ids, k, width, height, options)
        self.count = count
        self._shard: tuple[int, str, BinaryIO, int] | None = None  # (index, temporary name, file, bytes)

    def shard_path(self, shard: int) -> Path:
        return self.out / self.options.split / wds_shard_name(shard)

    def scene_complete(self, scene_id: int) -> bool:
        return self.shard_path(scene_id).is_file()

    def write_models(self, objects: Sequence[SceneObject]) -> None:
        super().write_models(objects)
        keys = [wds_key(*scene_of(i, self.options.images_per_scene)) for i in range(self.count)]
        folder = self.out / self.options.split
        folder.mkdir(parents=True, exist_ok=True)
        mapping = key_to_shard(keys, self.options.images_per_scene)
        atomic_write_bytes(folder / "key_to_shard.json", (json.dumps(mapping) + "\n").encode())

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
        scene_id, im_id = scene_of(index, self.options.images_per_scene)
        if self._shard is not None and self._shard[0] != scene_id:
            self._flush()
        if self._shard is None:
            tmp = temporary_name(str(self.shard_path(scene_id)))
            self._shard = (scene_id, tmp, open(tmp, "wb"), 0)  # closed by _flush
        o, mm = self.options, self.options.mm_per_unit
        ids = [self.obj_ids[int(i)] for i in objects]
        members = wds_members(
            ENCODERS[o.rgb_ext](np.ascontiguousarray(image)),
            o.rgb_ext,
            depth_png(depth.astype(np.float64) * mm, o.depth_scale),
            camera_entry(self.k, o.depth_scale, np.eye(3), np.zeros(3)),
            [gt_entry(ids[g], rotation[g], translation[g], mm) for g in range(len(ids))],
            gt_info(instance_ids, amodal, offset, depth),
            in_image(amodal, offset, instance_ids.shape),
            visible_masks(instance_ids, amodal, offset),
        )
        data = sample_members(wds_key(scene_id, im_id), members)
        shard, tmp, f, length = self._shard
        f.write(data)
        self._shard = (shard, tmp, f, length + len(data))

    def _flush(self) -> None:
        if self._shard is None:
            return
        shard, tmp, f, length = self._shard
        self._shard = None
        f.write(tar_end(length))
        f.close()
        os.replace(tmp, self.shard_path(shard))
