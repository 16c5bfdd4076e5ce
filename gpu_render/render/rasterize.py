"""A generic aliased z-buffer rasteriser in pure numpy: the geometry half of the CPU reference.

Rules (the GPU scene shaders follow the same; see :mod:`gpu_render.render.scene_reference`):

- Coverage: pixel (col, row) is covered by a triangle when its centre (col + 0.5, row + 0.5)
  lies inside the triangle's projection (u right, v down, pixels). The test is closed: a centre
  exactly on an edge or a corner counts as inside. Both windings are drawn (no culling).
  Triangles of zero projected area (|2A| <= 1e-12 px^2) cover nothing.
- Depth: the fragment with the smallest camera z wins. z at the centre is interpolated
  perspective-correctly (1/z is affine in screen space). Equal depths keep the triangle that
  comes first (lowest index): a later triangle replaces a pixel only when strictly nearer.
- Barycentrics: perspective-correct weights b_i = (l_i / z_i) / sum_j (l_j / z_j), with l_i the
  screen-space (affine) barycentrics at the pixel centre; attributes interpolate as sum b_i a_i.

Work is vectorised over blocks of triangles: each triangle's bounding-box rows are flattened
with repeat/arange, each row is cut to the span of columns its edges allow (widened by a column
either side), and the span's pixels are flattened again into candidates that take the exact
edge test. Many small triangles cost one numpy pass, and long thin ones cost only their spans.
"""

from __future__ import annotations

import numpy as np

#: Triangles whose doubled projected area is at most this (px^2) are dropped as degenerate.
MIN_AREA2 = 1e-12
#: Bounding-box pixels (an upper bound on candidates) handled in one numpy pass.
BLOCK_CANDIDATES = 1 << 21


def _edge(ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Edge function of the directed edge a -> b at p: (b - a) x (p - a), z component."""
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


def rasterize(uv: np.ndarray, z: np.ndarray, size: int | tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rasterise triangles into an S x S (or W x H) z-buffer.

    uv: (T, 3, 2) float64, projected corners in pixels (u right, v down, image frame where pixel
        (col, row) covers [col, col+1) x [row, row+1)).
    z: (T, 3) float64, camera z of each corner (object units); all must be > 0 (in front of
        the camera; there is no near-plane clipping).
    size: S, the image side in pixels, or (W, H), its width and height.

    Returns (triangle_id, bary, depth), each (H, W, ...) for a (W, H) size:
        triangle_id: (S, S) int64, index into T of the visible triangle, -1 on background;
        bary: (S, S, 3) float64, perspective-correct barycentrics of that triangle at the pixel
            centre (sum 1), 0 on background;
        depth: (S, S) float64, camera z at the pixel centre, object units, 0 on background.
    Rows are top-down (row index = v).
    """
    uv = np.asarray(uv, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    if uv.ndim != 3 or uv.shape[1:] != (3, 2) or z.shape != uv.shape[:2]:
        raise ValueError(f"uv must be (T, 3, 2) and z (T, 3); got {uv.shape} and {z.shape}")
    if z.size and not np.all(z > 0):
        raise ValueError("every corner must lie in front of the camera (z > 0)")

    cols, rows = (int(size[0]), int(size[1])) if isinstance(size, tuple) else (int(size), int(size))
    n_pix = cols * rows
    best_z = np.full(n_pix, np.inf)
    best_tri = np.full(n_pix, -1, dtype=np.int64)
    best_l = np.zeros((n_pix, 3))  # screen-space (affine) barycentrics of the winner

    u, v = uv[..., 0], uv[..., 1]
    area2 = _edge(u[:, 0], v[:, 0], u[:, 1], v[:, 1], u[:, 2], v[:, 2])
    # Pixel centres c + 0.5 inside [min, max]  <=>  ceil(min - 0.5) <= c <= floor(max - 0.5).
    # (Clipped in floats first: corners near z = 0 can project arbitrarily far.)
    c0 = np.clip(np.ceil(u.min(axis=1) - 0.5), 0, cols).astype(np.int64)
    c1 = np.clip(np.floor(u.max(axis=1) - 0.5), -1, cols - 1).astype(np.int64)
    r0 = np.clip(np.ceil(v.min(axis=1) - 0.5), 0, rows).astype(np.int64)
    r1 = np.clip(np.floor(v.max(axis=1) - 0.5), -1, rows - 1).astype(np.int64)
    width = c1 - c0 + 1
    height = r1 - r0 + 1
    keep = np.flatnonzero((width > 0) & (height > 0) & (np.abs(area2) > MIN_AREA2))
    counts = width[keep] * height[keep]

    start = 0
    while start < len(keep):
        # The largest run of triangles whose candidates fit in one block (at least one).
        ends = np.cumsum(counts[start:])
        stop = start + max(1, int(np.searchsorted(ends, BLOCK_CANDIDATES, side="right")))
        _block(keep[start:stop], u, v, z, area2, (c0, c1, r0, r1), (cols, rows), best_z, best_tri, best_l)
        start = stop

    hit = best_tri >= 0
    inv_z = best_l / np.where(hit[:, None], z[np.maximum(best_tri, 0)], 1.0)
    total = inv_z.sum(axis=1)
    bary = np.where(hit[:, None], inv_z / np.where(hit, total, 1.0)[:, None], 0.0)
    depth = np.where(hit, best_z, 0.0)
    return best_tri.reshape(rows, cols), bary.reshape(rows, cols, 3), depth.reshape(rows, cols)


def _expand(owners: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten ``counts[i]`` items for each ``owners[i]``: returns (owner, k) per item, k = 0..count-1."""
    owner = np.repeat(owners, counts)
    k = np.arange(len(owner), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, k


def _spans(
    tri: np.ndarray,
    py: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    sign: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Columns [lo, hi] (int64) of row centre ``py`` that may lie inside triangle ``tri``.

    A superset: each edge's crossing of the row is widened by one column, and an edge so close
    to horizontal that rounding could move its crossing by that much is not used (the exact
    edge test in :func:`_block` decides). lo, hi: (P,) the triangle's bounding-box columns.
    """
    lo, hi = lo.astype(np.float64), hi.astype(np.float64)
    reach = (np.maximum(np.abs(u[tri]).max(axis=1), np.abs(v[tri]).max(axis=1)) + size + 1) ** 2
    for i, j in ((1, 2), (2, 0), (0, 1)):
        ax, ay, bx, by = u[tri, i], v[tri, i], u[tri, j], v[tri, j]
        # s * edge(a, b, (px, py)) = slope * px + offset; inside needs it >= 0.
        slope = (ay - by) * sign
        offset = ((bx - ax) * (py - ay) + (by - ay) * ax) * sign
        trusted = np.abs(slope) > 1e-12 * reach
        with np.errstate(divide="ignore", invalid="ignore"):
            col = -offset / np.where(trusted, slope, 1.0) - 0.5  # the edge's crossing, in columns
        lo = np.where(trusted & (slope > 0), np.maximum(lo, np.ceil(col) - 1), lo)
        hi = np.where(trusted & (slope < 0), np.minimum(hi, np.floor(col) + 1), hi)
    return lo.astype(np.int64), np.maximum(hi, lo - 1).astype(np.int64)


def _block(
    tris: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    z: np.ndarray,
    area2: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    shape: tuple[int, int],
    best_z: np.ndarray,
    best_tri: np.ndarray,
    best_l: np.ndarray,
) -> None:
    """Rasterise triangles ``tris`` (ascending indices) into the flat buffers, in place.

    bounds: (c0, c1, r0, r1), each (T,) int64, the bounding box of pixel indices per triangle.
    shape: the buffers' (W, H), px.
    """
    c0, c1, r0, r1 = bounds
    # One item per (triangle, bounding-box row), then one candidate per column of its span.
    tri, k = _expand(tris, r1[tris] - r0[tris] + 1)
    row = r0[tri] + k
    sign = np.sign(area2)
    lo, hi = _spans(tri, row + 0.5, u, v, sign[tri], c0[tri], c1[tri], max(shape))
    item, k = _expand(np.arange(len(tri)), hi - lo + 1)
    tri, row = tri[item], row[item]
    col = lo[item] + k
    px = col + 0.5
    py = row + 0.5

    ut, vt = u[tri], v[tri]
    e0 = _edge(ut[:, 1], vt[:, 1], ut[:, 2], vt[:, 2], px, py)  # opposite corner 0
    e1 = _edge(ut[:, 2], vt[:, 2], ut[:, 0], vt[:, 0], px, py)  # opposite corner 1
    e2 = _edge(ut[:, 0], vt[:, 0], ut[:, 1], vt[:, 1], px, py)  # opposite corner 2
    s = sign[tri]
    inside = (e0 * s >= 0) & (e1 * s >= 0) & (e2 * s >= 0)  # closed: edges count

    tri = tri[inside]
    pix = (row * shape[0] + col)[inside]
    a2 = area2[tri]
    lam = np.stack([e0[inside] / a2, e1[inside] / a2, e2[inside] / a2], axis=1)
    frag_z = 1.0 / np.sum(lam / z[tri], axis=1)

    # Per pixel: nearest fragment, ties to the lowest triangle index. Fragments are generated in
    # ascending triangle order and lexsort is stable, so equal (pix, z) keep that order.
    order = np.lexsort((frag_z, pix))
    pix_sorted = pix[order]
    lead = np.ones(len(order), dtype=bool)
    lead[1:] = pix_sorted[1:] != pix_sorted[:-1]
    win = order[lead]
    pix_w = pix[win]
    # Earlier blocks hold lower triangle indices: replace only when strictly nearer.
    nearer = frag_z[win] < best_z[pix_w]
    win, pix_w = win[nearer], pix_w[nearer]
    best_z[pix_w] = frag_z[win]
    best_tri[pix_w] = tri[win]
    best_l[pix_w] = lam[win]
