"""Photographs behind the object, chosen per image from (seed, image index) alone
(docs/LOOKS.md, Backgrounds). Pure: the files are read by a :class:`PhotoReader` the caller hands
in (:mod:`gpu_render.dataset.backgrounds`).

Image i draws from ``np.random.default_rng([seed, i, BACKGROUND_STREAM])``, in this order: a
uniform number (a photograph when it is below ``ratio``), the photograph's index, the crop's
place u and v in [0, 1), and a grey level 0..255 (used when no photograph). For an image of S px
and a photograph of W x H px the crop is the square of side ``c = min(S, W, H)`` at
``(floor(u (W - c + 1)), floor(v (H - c + 1)))``: S x S of the photograph's own pixels when it is
at least that large, else the largest square it holds, scaled up to S x S (Pillow's bicubic).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

BACKGROUND_STREAM = 2
#: BT.601 luma, as grey looks write it.
_LUMA = np.array([0.299, 0.587, 0.114])


class PhotoReader(Protocol):
    def crop(self, name: str, box: tuple[int, int, int, int], size: int) -> np.ndarray:
        """Photograph ``name``'s pixels in ``box`` (x0, y0, x1, y1), px, scaled to (size, size, 3) uint8 RGB."""
        ...


@dataclass(frozen=True, eq=False)
class Photos:
    """The photographs of ``--backgrounds``: names relative to ``root`` (sorted, ``/``
    separated), sizes (W, H) px each, ``ratio`` the share of images that get one, ``digest``
    the sha256 of the names and file sizes (part of a build's signature). reader: reads them."""

    root: str
    names: tuple[str, ...]
    sizes: tuple[tuple[int, int], ...]
    ratio: float = 0.8
    digest: str = ""
    reader: PhotoReader | None = field(default=None, repr=False)

    def describe(self) -> dict[str, object]:
        return {"root": self.root, "files": len(self.names), "ratio": self.ratio, "sha256": self.digest}


@dataclass(frozen=True)
class BackgroundDraw:
    """The backgrounds of N images: photo (N,) int64 index into the names, -1 for grey; grey
    (N,) int64 0..255 (-1 where a photograph); u, v (N,) float64 the crop's place."""

    photo: np.ndarray
    grey: np.ndarray
    u: np.ndarray
    v: np.ndarray


def draw_backgrounds(photos: Photos, seed: int, index: np.ndarray) -> BackgroundDraw:
    """The backgrounds of images ``index`` ((N,) int, global image indices) of a look seeded ``seed``."""
    index = np.asarray(index, dtype=np.int64).reshape(-1)
    n = len(index)
    photo, grey = np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64)
    u, v = np.zeros(n), np.zeros(n)
    for row, i in enumerate(index):
        rng = np.random.default_rng([seed, int(i), BACKGROUND_STREAM])
        use = rng.random() < photos.ratio
        which = int(rng.integers(len(photos.names))) if photos.names else -1
        u[row], v[row] = rng.random(2)
        level = int(rng.integers(0, 256))
        if use and which >= 0:
            photo[row] = which
        else:
            grey[row] = level
    return BackgroundDraw(photo, grey, u, v)


def crop_box(width: int, height: int, size: int, u: float, v: float) -> tuple[int, int, int, int]:
    """The crop (x0, y0, x1, y1), photograph px, of an S = ``size`` px image (module docstring)."""
    c = min(size, width, height)
    x0 = min(int(np.floor(u * (width - c + 1))), width - c)
    y0 = min(int(np.floor(v * (height - c + 1))), height - c)
    return (x0, y0, x0 + c, y0 + c)


def crop_boxes(photos: Photos, draw: BackgroundDraw, size: int) -> np.ndarray:
    """(N, 4) int64 crop boxes at ``size`` px, -1 where the image is grey."""
    boxes = np.full((len(draw.photo), 4), -1, dtype=np.int64)
    for row, p in enumerate(draw.photo):
        if p >= 0:
            w, h = photos.sizes[p]
            boxes[row] = crop_box(w, h, size, float(draw.u[row]), float(draw.v[row]))
    return boxes


def background_tiles(photos: Photos, seed: int, index: np.ndarray, size: int, grayscale: bool = False) -> np.ndarray:
    """The backgrounds of images ``index`` at ``size`` px: (N, S, S, 3) uint8 RGB, rows top-down;
    grey looks get each photograph's BT.601 luma, rounded."""
    if photos.reader is None:
        raise ValueError("these backgrounds have no reader")
    draw = draw_backgrounds(photos, seed, index)
    boxes = crop_boxes(photos, draw, size)
    out = np.empty((len(draw.photo), size, size, 3), dtype=np.uint8)
    for row, p in enumerate(draw.photo):
        if p < 0:
            out[row] = draw.grey[row]
            continue
        tile = photos.reader.crop(photos.names[p], tuple(int(b) for b in boxes[row]), size)  # type: ignore[arg-type]
        if grayscale:
            tile = np.repeat(np.floor(tile @ _LUMA + 0.5).clip(0, 255).astype(np.uint8)[..., None], 3, axis=2)
        out[row] = tile
    return out
