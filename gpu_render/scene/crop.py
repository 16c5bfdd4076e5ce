"""Truncation and crop of a render, as Render for CNN crops (its ``crop_gray.m``), and the
intrinsics of the cropped image. Pure functions.

Pixel convention (SCENES.md, :mod:`gpu_render.scene.camera`): pixel (col, row) covers
``[col, col+1) x [row, row+1)``, so a W x H render is the continuous window ``[0, W] x [0, H]``.

- An **extent** is the object's pixels: (left, top, right, bottom), int64, 0-based and
  inclusive (the first and last column and row that hold the object). :func:`alpha_extent`
  reads it from a render's alpha as ``crop_gray.m`` does; :func:`box_extent` gives the pixels
  a continuous box touches (e.g. a box of :func:`gpu_render.scene.camera.projected_boxes`).
- **Truncation fractions** are (left, right, top, bottom), float64, in Render for CNN's order:
  each side of the extent moves along +x (left, right) or +y (top, bottom) by its fraction
  times the extent's width or height in pixels. So a positive left or top fraction, or a
  negative right or bottom fraction, cuts into the object; the opposite signs add margin.
- A **crop box** is (x0, y0, x1, y1), int64, in render pixels: the crop is
  ``render[y0:y1, x0:x1]``, which is exactly the continuous window ``[x0, x1] x [y0, y1]``.

The crop keeps the image's scale, so its intrinsics are K with the principal point shifted by
(-x0, -y0); a crop resized to W' x H' scales K's first two rows by (W' / w, H' / h)
(:func:`crop_intrinsics`). Both are exact: projecting a point with the new K gives its pixel in
the render minus (x0, y0), times the scale.
"""

from __future__ import annotations

import numpy as np


def alpha_extent(alpha: np.ndarray, background: float = 0.0) -> np.ndarray:
    """The object's extent in one render, as ``crop_gray.m`` finds it from the alpha channel:
    the first and last column and row holding any value other than ``background``.

    alpha: (H, W) any numeric dtype. Returns (4,) int64 (left, top, right, bottom), 0-based,
    inclusive. Raises ValueError when every value is ``background`` (there is no object).
    """
    a = np.asarray(alpha)
    if a.ndim != 2:
        raise ValueError(f"alpha must be (H, W), got shape {a.shape}")
    object_pixels = a != background
    cols = np.flatnonzero(object_pixels.any(axis=0))
    rows = np.flatnonzero(object_pixels.any(axis=1))
    if len(cols) == 0:
        raise ValueError("the render holds no object: every alpha value is the background")
    return np.array([cols[0], rows[0], cols[-1], rows[-1]], dtype=np.int64)


def box_extent(box: np.ndarray, width: int, height: int) -> np.ndarray:
    """The pixels that continuous boxes touch: columns ``floor(x1)`` to ``ceil(x2) - 1`` and
    rows ``floor(y1)`` to ``ceil(y2) - 1`` (at least one each), clipped to the image.

    box: (4,) or (N, 4) float64 (x1, y1, x2, y2), pixels, the project's convention, e.g.
    :func:`gpu_render.scene.camera.projected_boxes`. Returns (N, 4) int64 (left, top, right,
    bottom), 0-based, inclusive. This is the extent of the silhouette's alpha when every pixel
    the silhouette touches is drawn (conservative coverage); a rasteriser that samples points
    may leave an edge pixel empty, so use :func:`alpha_extent` of the render to crop exactly as
    Render for CNN does. Raises ValueError for a box outside the image (all -1) or reversed.
    """
    b = np.asarray(box, dtype=np.float64).reshape(-1, 4)
    if np.any(~np.isfinite(b)) or np.any(b[:, 2] < b[:, 0]) or np.any(b[:, 3] < b[:, 1]):
        raise ValueError("boxes must be finite (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2")
    if np.any(b[:, 2] < 0) or np.any(b[:, 3] < 0) or np.any(b[:, 0] > width) or np.any(b[:, 1] > height):
        raise ValueError(f"a box lies outside the {width} x {height} image")
    first = np.floor(b[:, :2])
    last = np.maximum(np.ceil(b[:, 2:]) - 1.0, first)
    hi = np.array([width - 1, height - 1], dtype=np.float64)
    return np.concatenate([np.clip(first, 0, hi), np.clip(last, 0, hi)], axis=1).astype(np.int64)


def matlab_round(x: np.ndarray) -> np.ndarray:
    """MATLAB's ``round``: to the nearest integer, halves away from zero, exactly (no
    ``x + 0.5`` rounding error). x: float64 array. Returns float64 of the same shape."""
    v = np.asarray(x, dtype=np.float64)
    mag = np.abs(v)
    whole = np.floor(mag)
    return np.copysign(whole + (mag - whole >= 0.5), v)


def _side_pair(low: np.ndarray, high: np.ndarray, d_low: np.ndarray, d_high: np.ndarray, n: int) -> np.ndarray:
    """One axis of ``crop_gray.m``, in its 1-based pixel indices: each side moved and clipped to
    [1, n]; both kept as they were if they cross; then MATLAB-rounded. Returns (N, 2) float64."""
    new_low = np.minimum(np.maximum(1.0, low + d_low), float(n))
    new_high = np.minimum(np.maximum(1.0, high + d_high), float(n))
    crossed = new_low > new_high
    new_low = np.where(crossed, low, new_low)
    new_high = np.where(crossed, high, new_high)
    return np.stack([matlab_round(new_low), matlab_round(new_high)], axis=1)


def crop_boxes(extent: np.ndarray, truncation: np.ndarray, width: int, height: int) -> np.ndarray:
    """The crop box of each render, exactly as Render for CNN's ``crop_gray.m`` takes it.

    extent: (4,) or (N, 4) int (left, top, right, bottom), 0-based inclusive, the object's pixels
    (:func:`alpha_extent`). truncation: (4,) or (N, 4) float64 (left, right, top, bottom)
    fractions. width, height: the render's size W x H, pixels. In crop_gray's 1-based indices,
    with ``w = right - left + 1`` and ``h = bottom - top + 1``: ``left + w * t_left`` and
    ``right + w * t_right`` are each clipped to [1, W]; if the new left passes the new right,
    both stay at the extent's; each is then rounded half away from zero (MATLAB's round), and
    likewise top and bottom with h and [1, H]. The crop keeps columns left..right and rows
    top..bottom inclusive. Returns (N, 4) int64 (x0, y0, x1, y1): ``render[y0:y1, x0:x1]``,
    at least 1 x 1 and inside the render.
    """
    e = np.asarray(extent).reshape(-1, 4)
    t = np.asarray(truncation, dtype=np.float64).reshape(-1, 4)
    if width < 1 or height < 1:
        raise ValueError(f"the render must be at least 1 x 1, got {width} x {height}")
    if not np.all(np.isfinite(t)):
        raise ValueError("truncation fractions must be finite")
    if np.any(e[:, 0] < 0) or np.any(e[:, 1] < 0) or np.any(e[:, 2] >= width) or np.any(e[:, 3] >= height):
        raise ValueError(f"an extent lies outside the {width} x {height} render")
    if np.any(e[:, 2] < e[:, 0]) or np.any(e[:, 3] < e[:, 1]):
        raise ValueError("an extent is reversed: need left <= right and top <= bottom")
    e, t = np.broadcast_arrays(e.astype(np.float64) + 1.0, t)  # 1-based, as MATLAB indexes
    w = e[:, 2] - e[:, 0] + 1.0
    h = e[:, 3] - e[:, 1] + 1.0
    cols = _side_pair(e[:, 0], e[:, 2], w * t[:, 0], w * t[:, 1], width)
    rows = _side_pair(e[:, 1], e[:, 3], h * t[:, 2], h * t[:, 3], height)
    return np.stack([cols[:, 0] - 1.0, rows[:, 0] - 1.0, cols[:, 1], rows[:, 1]], axis=1).astype(np.int64)


def crop_intrinsics(k: np.ndarray, crop: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Intrinsics of cropped (and optionally resized) images.

    k: (3, 3) or (N, 3, 3) float64 K of the render, pixels. crop: (4,) or (N, 4) (x0, y0, x1, y1)
    crop boxes in render pixels (:func:`crop_boxes`). size: (W', H') the crop is resized to, or
    None to keep the crop's own size. Returns (N, 3, 3) float64: ``K' = S @ T @ K`` with
    ``T`` the shift of the origin to (x0, y0) and ``S = diag(W' / (x1 - x0), H' / (y1 - y0), 1)``,
    so a point at pixel (u, v) of the render lies at ``((u - x0) W' / w, (v - y0) H' / h)`` of
    the written image (continuous pixels, the same convention, as a resize that maps the image's
    window onto the new window, like ``cv2.resize`` and Pillow's ``resize``, keeps it).
    """
    c = np.asarray(crop, dtype=np.float64).reshape(-1, 4)
    kk = np.asarray(k, dtype=np.float64).reshape(-1, 3, 3)
    kk, _ = np.broadcast_arrays(kk, np.empty((len(c), 1, 1)))
    w, h = c[:, 2] - c[:, 0], c[:, 3] - c[:, 1]
    if np.any(w <= 0) or np.any(h <= 0):
        raise ValueError("crop boxes must have x1 > x0 and y1 > y0")
    out = kk.copy()
    out[:, 0, :] -= c[:, 0, None] * kk[:, 2, :]
    out[:, 1, :] -= c[:, 1, None] * kk[:, 2, :]
    if size is not None:
        out[:, 0, :] *= (float(size[0]) / w)[:, None]
        out[:, 1, :] *= (float(size[1]) / h)[:, None]
    return out


def crop_image(image: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """The crop of one render: ``image[y0:y1, x0:x1]`` (a view). image: (H, W) or (H, W, C) any
    dtype; crop: (4,) int (x0, y0, x1, y1) inside the image."""
    x0, y0, x1, y1 = (int(v) for v in np.asarray(crop).reshape(4))
    if not (0 <= x0 < x1 <= image.shape[1] and 0 <= y0 < y1 <= image.shape[0]):
        raise ValueError(f"crop box {(x0, y0, x1, y1)} is not inside the {image.shape[1]} x {image.shape[0]} image")
    return image[y0:y1, x0:x1]
