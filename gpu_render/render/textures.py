"""Textures of the richer looks: sRGB mipmaps made here (so the GPU and the CPU reference sample
the very same levels), their upload, and the reference's trilinear sampler. numpy, and moderngl
for the upload.

Colour: texels are sRGB. Each mipmap level halves the previous one (floor of each side, an odd
last row or column dropped) by averaging 2 x 2 texels in linear light, then encodes back to
8-bit sRGB. Sampling (``shaders/scene_look.frag`` and :func:`sample_trilinear`) decodes the
texels to linear light, filters trilinearly with repeat wrapping, and encodes the result to
sRGB again: the albedo the shading multiplies is an sRGB value, as ``--color`` is.
"""

from __future__ import annotations

import math

import moderngl
import numpy as np

#: GL_SRGB8: textures the GPU decodes to linear light before filtering.
GL_SRGB8 = 0x8C41
#: The 256 linear values of the 8-bit sRGB codes, float64.
DECODE = np.where(
    np.arange(256) / 255.0 <= 0.04045, np.arange(256) / 255.0 / 12.92, ((np.arange(256) / 255.0 + 0.055) / 1.055) ** 2.4
)


def encode(linear: np.ndarray) -> np.ndarray:
    """Linear [0, 1] floats to sRGB-encoded [0, 1] floats, any shape."""
    c = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def mipmaps(image: np.ndarray) -> list[np.ndarray]:
    """The levels of an (H, W, 3) uint8 sRGB texture, level 0 first, down to 1 x 1: each
    (max(1, H >> i), max(1, W >> i), 3) uint8 sRGB, rows top-down."""
    levels = [np.ascontiguousarray(image, dtype=np.uint8)]
    linear = DECODE[levels[0]]
    while linear.shape[0] > 1 or linear.shape[1] > 1:
        h, w = linear.shape[:2]
        if h > 1:
            linear = (linear[0 : h // 2 * 2 : 2] + linear[1 : h // 2 * 2 : 2]) / 2
        if w > 1:
            linear = (linear[:, 0 : w // 2 * 2 : 2] + linear[:, 1 : w // 2 * 2 : 2]) / 2
        levels.append(np.floor(encode(linear) * 255 + 0.5).astype(np.uint8))
    return levels


def upload(ctx: moderngl.Context, image: np.ndarray) -> moderngl.Texture:
    """An sRGB texture of ``image`` ((H, W, 3) uint8, rows top-down) with :func:`mipmaps`'
    levels, trilinear filtering and repeat wrapping; GL row 0 is the image's bottom row."""
    levels = mipmaps(image)
    h, w = levels[0].shape[:2]
    texture = ctx.texture((w, h), 3, np.flipud(levels[0]).tobytes(), alignment=1, internal_format=GL_SRGB8)
    texture.build_mipmaps()  # allocates every level; each is then replaced by ours
    for i, level in enumerate(levels[1:], start=1):
        texture.write(np.ascontiguousarray(np.flipud(level)).tobytes(), level=i, alignment=1)
    texture.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
    texture.repeat_x = texture.repeat_y = True
    return texture


def _bilinear(level: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Linear-light bilinear samples of one level (h, w, 3) uint8 sRGB at uv (P, 2), v up,
    repeating. Returns (P, 3) float64 linear."""
    h, w = level.shape[:2]
    s = uv[:, 0] * w - 0.5
    t = uv[:, 1] * h - 0.5
    i0, j0 = np.floor(s).astype(np.int64), np.floor(t).astype(np.int64)
    a, b = (s - i0)[:, None], (t - j0)[:, None]
    linear = DECODE[level]

    def texel(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        return linear[h - 1 - np.mod(j, h), np.mod(i, w)]  # row j counts up from the bottom

    top = texel(i0, j0) * (1 - a) + texel(i0 + 1, j0) * a
    bottom = texel(i0, j0 + 1) * (1 - a) + texel(i0 + 1, j0 + 1) * a
    return top * (1 - b) + bottom * b


def _per_level(levels: list[np.ndarray], uv: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Bilinear samples of uv (P, 2), each from its own ``level`` (P,) int: (P, 3) float64 linear."""
    out = np.empty((len(uv), 3))
    for d in np.unique(level):
        which = level == d
        out[which] = _bilinear(levels[int(d)], uv[which])
    return out


def sample_trilinear(levels: list[np.ndarray], uv: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """The texture at uv (P, 2) float64 (v up), as GL's LINEAR_MIPMAP_LINEAR / LINEAR filters do.

    footprint: (P,) float64, how many level-0 texels one pixel step spans (rho); lod = log2(rho),
    magnified (level 0, bilinear) at lod <= 0. Returns (P, 3) float64 sRGB-encoded [0, 1].
    """
    uv = np.asarray(uv, dtype=np.float64)
    with np.errstate(divide="ignore"):
        lod = np.log2(np.maximum(np.asarray(footprint, dtype=np.float64), 1e-300))
    top = len(levels) - 1
    out = np.empty((len(uv), 3))
    near = lod <= 0
    if near.any():
        out[near] = _bilinear(levels[0], uv[near])
    far = ~near
    if far.any():
        lo = np.clip(lod[far], 0, top)
        d0 = np.floor(lo).astype(np.int64)
        f = (lo - d0)[:, None]
        d1 = np.minimum(d0 + 1, top)
        out[far] = _per_level(levels, uv[far], d0) * (1 - f) + _per_level(levels, uv[far], d1) * f
    return encode(out)


def level_count(width: int, height: int) -> int:
    """Levels of a full mipmap chain of a W x H texture."""
    return math.floor(math.log2(max(width, height))) + 1
