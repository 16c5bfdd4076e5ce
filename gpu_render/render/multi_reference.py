"""CPU reference for scenes of several objects: the oracle of
:class:`~gpu_render.render.instance_renderer.InstanceRenderer`. Pure numpy.

The rules are :mod:`gpu_render.render.scene_reference`'s (rules 1-6: projection through K,
aliased closed coverage at pixel centres, nearest perspective-correct z, the default look's
shading and marks), applied to every instance at once in a W x H image:

- Occlusion: all instances' triangles are rasterised together, instance 0's first; the nearest
  fragment wins, and on equal depth the earlier instance (the earlier triangle) keeps the pixel.
- Instance ids: gt_id + 1 of the winning triangle's instance, 0 on the background.
- Whole silhouettes: each instance rasterised alone on the canvas extended by ``border`` px on
  every side (corners shifted by (b, b)).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gpu_render.render.rasterize import rasterize
from gpu_render.render.scene_reference import project_triangles
from gpu_render.scene.look import Look, shade, to_uint8
from gpu_render.scene.multi_plan import ImagePlan
from gpu_render.scene.objects import SceneObject


def render_instances_reference(
    objects: Sequence[SceneObject],
    look: Look,
    plan: ImagePlan,
    k: np.ndarray,
    width: int,
    height: int,
    border: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One image of ``plan``'s instances of ``objects``.

    k: (3, 3) float64 intrinsics, px. Returns (image (H, W, 3) uint8 RGB; instance_ids (H, W)
    int32, gt_id + 1, 0 on the background; depth (H, W) float32 camera z, object units, 0 on the
    background; amodal (K, H + 2 b, W + 2 b) bool whole silhouettes), rows top-down.
    """
    uvs, zs, owner = [], [], []
    for i, index in enumerate(plan.objects):
        uv, z = project_triangles(objects[int(index)].positions, plan.rotation[i], plan.translation[i], k)
        uvs.append(uv)
        zs.append(z)
        owner.append(np.full(len(uv), i, dtype=np.int64))
    uv_all, z_all, owner_all = np.concatenate(uvs), np.concatenate(zs), np.concatenate(owner)
    tri, bary, depth = rasterize(uv_all, z_all, (width, height))
    hit = tri >= 0
    ids = np.where(hit, owner_all[np.maximum(tri, 0)] + 1, 0).astype(np.int32)

    image = np.empty((height, width, 3), dtype=np.uint8)
    image[...] = np.asarray(look.background, dtype=np.uint8)
    first = np.cumsum([0] + [len(u) for u in uvs])
    for i, index in enumerate(plan.objects):
        obj = objects[int(index)]
        sel = hit & (ids == i + 1)
        t = tri[sel] - first[i]
        b = bary[sel]
        positions = np.einsum("pc,pcj->pj", b, obj.positions[t].astype(np.float64))
        normals = np.einsum("pc,pcj->pj", b, obj.normals[t].astype(np.float64))
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-300)
        albedo = np.broadcast_to(np.asarray(look.albedo, dtype=np.float64) / 255.0, (len(t), 3)).copy()
        if obj.mark is not None and len(t):
            marked, colour = obj.mark.paint(positions, normals)
            albedo[marked] = np.asarray(colour, dtype=np.float64)[marked]
        image[sel] = to_uint8(shade(albedo, normals @ plan.rotation[i].T, look))

    amodal = np.zeros((len(plan), height + 2 * border, width + 2 * border), dtype=bool)
    for i, (uv, z) in enumerate(zip(uvs, zs, strict=True)):
        alone, _, _ = rasterize(uv + border, z, (width + 2 * border, height + 2 * border))
        amodal[i] = alone >= 0
    return image, ids, depth.astype(np.float32), amodal
