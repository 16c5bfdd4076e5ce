"""CPU reference renderer for scene objects (SCENES.md): pure numpy, the oracle for the GPU path.

Frames: object frame as in :class:`~gpu_render.scene.objects.SceneObject`; camera frame x right,
y down, z forward; pose ``x_cam = R @ x_obj + t`` with ``t = camera.translation``.

The picture, rule by rule (``shaders/scene.*`` implement the same):

1. Projection: corners go through K = ``camera.intrinsics(S)``: u = fx x/z + cx,
   v = fy y/z + cy (pixels, v down). Pixel (col, row) covers [col, col+1) x [row, row+1).
2. Coverage, aliased: a pixel is covered by a triangle when its centre (col + 0.5, row + 0.5)
   is inside the projected triangle, edges and corners included (closed test). Both windings
   are drawn; there is no back-face culling (the depth test decides). Triangles of zero
   projected area draw nothing. ``look.antialias`` is ignored: the reference is always
   aliased, one sample at the pixel centre (compare it with an aliased GPU image).
3. Depth: the nearest camera z wins, z interpolated perspective-correctly (1/z is affine in
   screen space). On equal depth the triangle listed first keeps the pixel (a later triangle
   needs a strictly smaller z).
4. Attributes: the object-frame position and normal are interpolated at the pixel centre with
   perspective-correct barycentrics; the normal is then normalised.
5. Colour: albedo = ``look.albedo / 255``, replaced by the mark's colour where
   ``obj.mark.paint(position, normal)`` marks the point; ``n_cam = R @ n_obj``;
   colour = :func:`~gpu_render.scene.look.shade` (ambient + Lambert, luma if grayscale), then
   :func:`~gpu_render.scene.look.to_uint8` (round(c * 255)).
6. Background: ``look.background`` as given, on every uncovered pixel (also when grayscale).

The geometry (rules 2 and 3) lives in :func:`gpu_render.render.rasterize.rasterize`.
"""

from __future__ import annotations

import numpy as np

from gpu_render.render.rasterize import rasterize
from gpu_render.scene.camera import Pinhole
from gpu_render.scene.look import Look, shade, to_uint8
from gpu_render.scene.objects import SceneObject


def project_triangles(
    positions: np.ndarray, rotation: np.ndarray, translation: np.ndarray, k: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Corners to the image for one pose.

    positions: (T, 3, 3) object frame; rotation: (3, 3) R; translation: (3,) t; k: (3, 3) K.
    Returns (uv (T, 3, 2) float64 pixels, u right / v down; z (T, 3) float64 camera z, object units).
    """
    cam = np.asarray(positions, dtype=np.float64) @ np.asarray(rotation, dtype=np.float64).T + translation
    z = cam[..., 2]
    uv = cam[..., :2] / z[..., None] * np.array([k[0, 0], k[1, 1]]) + np.array([k[0, 2], k[1, 2]])
    return uv, z


def render_one(
    obj: SceneObject, camera: Pinhole, look: Look, rotation: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one pose.

    rotation: (3, 3) float64 R. Returns (image (S, S, 3) uint8 RGB rows top-down,
    mask (S, S) uint8 255 on the object and 0 elsewhere, depth (S, S) float32 camera z,
    object units, 0 on background).
    """
    rotation = np.asarray(rotation, dtype=np.float64)
    uv, z = project_triangles(obj.positions, rotation, camera.translation, camera.intrinsics(size))
    tri, bary, depth = rasterize(uv, z, size)
    hit = tri >= 0
    t = tri[hit]
    b = bary[hit]  # (P, 3)

    positions = np.einsum("pc,pcj->pj", b, obj.positions[t].astype(np.float64))
    normals = np.einsum("pc,pcj->pj", b, obj.normals[t].astype(np.float64))
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-300)

    albedo = np.broadcast_to(np.asarray(look.albedo, dtype=np.float64) / 255.0, (len(t), 3)).copy()
    if obj.mark is not None and len(t):
        marked, colour = obj.mark.paint(positions, normals)
        albedo[marked] = np.asarray(colour, dtype=np.float64)[marked]

    image = np.empty((size, size, 3), dtype=np.uint8)
    image[...] = np.asarray(look.background, dtype=np.uint8)
    image[hit] = to_uint8(shade(albedo, normals @ rotation.T, look))
    mask = np.where(hit, 255, 0).astype(np.uint8)
    return image, mask, depth.astype(np.float32)


def render_scene(
    obj: SceneObject,
    camera: Pinhole,
    look: Look,
    rotation: np.ndarray,
    size: int,
    layers: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render a batch of poses of ``obj``.

    rotation: (N, 3, 3) float64 R (column vectors, ``x_cam = R @ x_obj + camera.translation``).
    size: S, image side in pixels.
    Returns images (N, S, S, 3) uint8 RGB, rows top-down. With ``layers=True`` returns
    (images, mask, depth): mask (N, S, S) uint8, 255 on the object, 0 elsewhere; depth
    (N, S, S) float32, camera z at the pixel centre, object units, 0 on background.
    """
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.ndim != 3 or rotation.shape[1:] != (3, 3):
        raise ValueError(f"rotation must be (N, 3, 3); got {rotation.shape}")
    n = len(rotation)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    masks = np.empty((n, size, size), dtype=np.uint8)
    depths = np.empty((n, size, size), dtype=np.float32)
    for i in range(n):
        images[i], masks[i], depths[i] = render_one(obj, camera, look, rotation[i], size)
    return (images, masks, depths) if layers else images
