"""CPU reference renderer: pure numpy, vectorised over pixels. The oracle, not the fast path.

It implements the spec's picture directly. A pixel ``(col, row)`` takes a visible face's
colour when its centre ``(col + 0.5, row + 0.5)`` lies inside the projected face, and a
dot's colour when the centre lies within the dot's radius; dots are drawn over faces, in
node order. Like the GPU path, corner positions are first snapped to 1/256 px at the image's
size (GL rasterizers work on such a grid). Centres exactly on an edge follow Mesa's tie rule as seen through the one row
flip that the GPU path does at readback, so the two agree on axis-aligned poses too.
"""

from __future__ import annotations

import numpy as np

from gpu_render.scene.clpr_cube import BACKGROUND, CANVAS, DOT_RADIUS, FACE_COLORS, FACES, NODE_COLORS
from gpu_render.scene.clpr_labels import face_visible, node_visible


def _edge_owns_tie(dx: float, dy: float) -> bool:
    """Whether pixel centres exactly on a directed edge (dx, dy) belong to its polygon.

    (dx, dy) is in image coordinates (y down), for a polygon wound so that its interior
    has positive edge functions. Mesa (llvmpipe) gives such centres to the polygon whose
    edge is a left or a bottom edge in GL window coordinates (y up); the image's bottom
    is the window's bottom, since the rows are flipped once at readback.
    """
    if dy == 0:
        return dx < 0  # horizontal: the interior lies above it, so it is a bottom edge
    return dy < 0  # otherwise: the interior lies to its right, so it is a left edge


#: Vertex positions are snapped to this many subpixels per pixel, as GL rasterizers do.
SUBPIXELS = 256


def snap(xy: np.ndarray) -> np.ndarray:
    """Round positions (any shape, px) to the nearest 1/SUBPIXELS px, halves up, like cube.vert."""
    return np.floor(xy * SUBPIXELS + 0.5) / SUBPIXELS


def render_one(corners: np.ndarray, size: int, dots: bool = True) -> np.ndarray:
    """Render one pose.

    corners: (8, 3) float64, canvas px of the 256 canvas, y down. dots: False draws the faces
    alone (to tell, in tests, which pixels the dots change).
    Returns (size, size, 3) uint8 RGB, rows top-down.
    """
    corners = np.asarray(corners, dtype=np.float64)
    scale = size / CANVAS
    xy = snap(corners[:, :2] * scale)
    centres = np.arange(size, dtype=np.float64) + 0.5
    px, py = np.meshgrid(centres, centres)  # (size, size): [row, col]
    image = np.empty((size, size, 3), dtype=np.uint8)
    image[...] = BACKGROUND

    faces = face_visible(corners[None])[0]
    for face in np.flatnonzero(faces):
        poly = xy[FACES[face]]
        # Visible faces are wound so that -n.z > 0; make the interior positive.
        area2 = np.sum(poly[:, 0] * np.roll(poly[:, 1], -1) - np.roll(poly[:, 0], -1) * poly[:, 1])
        if area2 < 0:
            poly = poly[::-1]
        inside = np.ones((size, size), dtype=bool)
        for k in range(4):
            x0, y0 = poly[k]
            x1, y1 = poly[(k + 1) % 4]
            dx, dy = x1 - x0, y1 - y0
            e = dx * (py - y0) - dy * (px - x0)
            inside &= (e > 0) | ((e == 0) & _edge_owns_tie(dx, dy))
        image[inside] = FACE_COLORS[face]

    radius = DOT_RADIUS * scale
    for node in np.flatnonzero(node_visible(faces[None])[0]) if dots else ():
        cx, cy = xy[node]
        disc = (px - cx) ** 2 + (py - cy) ** 2 <= radius * radius
        image[disc] = NODE_COLORS[node]
    return image


def render(corners: np.ndarray, size: int) -> np.ndarray:
    """Render a batch of poses.

    corners: (N, 8, 3) float64, canvas px of the 256 canvas, y down (the label xyz).
    Returns (N, size, size, 3) uint8 RGB, rows top-down.
    """
    corners = np.asarray(corners, dtype=np.float64)
    out = np.empty((len(corners), size, size, 3), dtype=np.uint8)
    for i, c in enumerate(corners):
        out[i] = render_one(c, size)
    return out
