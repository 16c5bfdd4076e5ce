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

The richer looks (``shaders/scene_look.*``, docs/LOOKS.md), image ``index`` of the build:

7. Surface: albedo = the corner colours (perspective-correct) times, on textured triangles, the
   texture sampled trilinearly from :func:`gpu_render.render.textures.mipmaps`' levels
   (:func:`~gpu_render.render.textures.sample_trilinear`), its level of detail from the uv
   change across the pixel's 2 x 2 quad of window pixels (as the GPU derives it; quads line up
   with the image for even S), extrapolated on the same triangle.
8. Lights: :func:`~gpu_render.scene.look.shade_points` with the image's
   :func:`~gpu_render.scene.lights.draw_lights`, or :func:`~gpu_render.scene.look.shade_specular`
   for the directional light with a Blinn-Phong term; points are the camera-frame positions.
9. Background: the image's :func:`~gpu_render.scene.backdrop.background_tiles` on every
   uncovered pixel.
"""

from __future__ import annotations

import numpy as np

from gpu_render.render.rasterize import rasterize
from gpu_render.render.textures import mipmaps, sample_trilinear
from gpu_render.scene.backdrop import background_tiles
from gpu_render.scene.camera import Pinhole
from gpu_render.scene.lights import draw_lights
from gpu_render.scene.look import Look, shade, shade_points, shade_specular, to_uint8
from gpu_render.scene.objects import SceneObject, Surface


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


def _bary_at(corners: np.ndarray, z: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Perspective-correct barycentrics at ``points`` (P, 2) px of triangles with projected
    ``corners`` (P, 3, 2) and camera z (P, 3), extrapolated outside them: (P, 3) float64."""
    u, v = corners[..., 0], corners[..., 1]
    px, py = points[:, 0], points[:, 1]
    area2 = (u[:, 1] - u[:, 0]) * (v[:, 2] - v[:, 0]) - (v[:, 1] - v[:, 0]) * (u[:, 2] - u[:, 0])
    lam = (
        np.stack(
            [
                (u[:, 2] - u[:, 1]) * (py - v[:, 1]) - (v[:, 2] - v[:, 1]) * (px - u[:, 1]),
                (u[:, 0] - u[:, 2]) * (py - v[:, 2]) - (v[:, 0] - v[:, 2]) * (px - u[:, 2]),
                (u[:, 1] - u[:, 0]) * (py - v[:, 0]) - (v[:, 1] - v[:, 0]) * (px - u[:, 0]),
            ],
            axis=1,
        )
        / area2[:, None]
    )
    w = lam / z
    return w / w.sum(axis=1, keepdims=True)


def surface_albedo(
    surface: Surface, t: np.ndarray, b: np.ndarray, pixels: np.ndarray, corners: np.ndarray, z: np.ndarray
) -> np.ndarray:
    """The albedo of hit pixels (rule 7): (P, 3) float64 sRGB in [0, 1].

    t: (P,) triangle of each pixel; b: (P, 3) its barycentrics at the pixel centre; pixels:
    (P, 2) the centres (u, v) px; corners, z: every triangle's projected corners (T, 3, 2) and
    camera z (T, 3).
    """
    albedo = np.einsum("pc,pcj->pj", b, surface.colour[t].astype(np.float64))
    textured = surface.texture[t] >= 0
    for k, image in enumerate(surface.images):
        which = np.flatnonzero(textured & (surface.texture[t] == k))
        if not len(which):
            continue
        tuv = surface.uv[t[which]].astype(np.float64)  # (P, 3, 2)
        uv = np.einsum("pc,pcj->pj", b[which], tuv)
        h, w = image.shape[:2]
        scale = np.array([w, h], dtype=np.float64)
        c, zz, p = corners[t[which]], z[t[which]], pixels[which]
        # As the GPU does: per 2 x 2 quad of window pixels (GL rows up: an image row pair's
        # lower, odd row first), the uv change to the quad's right and upper pixel centres,
        # extrapolated on the same triangle.
        base = np.stack([np.floor(p[:, 0] / 2) * 2 + 0.5, np.floor(p[:, 1] / 2) * 2 + 1.5], axis=1)
        at = np.einsum("pc,pcj->pj", _bary_at(c, zz, base), tuv)
        steps = [np.einsum("pc,pcj->pj", _bary_at(c, zz, base + d), tuv) - at for d in ((1.0, 0.0), (0.0, -1.0))]
        footprint = np.maximum(*(np.linalg.norm(step * scale, axis=1) for step in steps))
        albedo[which] *= sample_trilinear(mipmaps(image), uv, footprint)
    return albedo


def render_one(
    obj: SceneObject, camera: Pinhole, look: Look, rotation: np.ndarray, size: int, index: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one pose, image ``index`` of the build (for the per-image looks).

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

    if obj.surface is not None:
        rows, cols = np.nonzero(hit)
        pixels = np.stack([cols + 0.5, rows + 0.5], axis=1)
        albedo = surface_albedo(obj.surface, t, b, pixels, uv, z)
    else:
        albedo = np.broadcast_to(np.asarray(look.albedo, dtype=np.float64) / 255.0, (len(t), 3)).copy()
        if obj.mark is not None and len(t):
            marked, colour = obj.mark.paint(positions, normals)
            albedo[marked] = np.asarray(colour, dtype=np.float64)[marked]

    image = np.empty((size, size, 3), dtype=np.uint8)
    if look.photos is not None:
        image[...] = background_tiles(look.photos, look.seed, np.array([index]), size, look.grayscale)[0]
    else:
        image[...] = np.asarray(look.background, dtype=np.uint8)
    t_cam = camera.translation
    image[hit] = to_uint8(_shade(albedo, normals @ rotation.T, positions @ rotation.T + t_cam, t_cam, look, index))
    mask = np.where(hit, 255, 0).astype(np.uint8)
    return image, mask, depth.astype(np.float32)


def _shade(
    albedo: np.ndarray, normals: np.ndarray, points: np.ndarray, translation: np.ndarray, look: Look, index: int
) -> np.ndarray:
    """Rules 5 and 8: (P, 3) float64 colours of albedo (P, 3) with camera-frame unit normals and
    points (P, 3) of image ``index`` whose object centre is at ``translation`` (3,)."""
    if look.points is not None:
        draw = draw_lights(look.points, look.seed, np.array([index]))
        c = int(draw.count[0])
        lights = draw.positions(translation)[0, :c]
        return shade_points(albedo, normals, points, lights, draw.energy[0, :c], float(draw.ambient[0]), look)
    if look.specular:
        return shade_specular(albedo, normals, points, look)
    return shade(albedo, normals, look)


def render_scene(
    obj: SceneObject,
    camera: Pinhole,
    look: Look,
    rotation: np.ndarray,
    size: int,
    layers: bool = False,
    first_index: int = 0,
) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render a batch of poses of ``obj``: pose k is image ``first_index + k`` of the build.

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
        images[i], masks[i], depths[i] = render_one(obj, camera, look, rotation[i], size, first_index + i)
    return (images, masks, depths) if layers else images
