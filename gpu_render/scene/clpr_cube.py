"""The cLPR cube: corners, faces, colours and canvas constants (docs/CLPR.md).

Everything here is a constant in the spec's 256x256 canvas frame: x right, y down,
z away from the viewer, units of canvas pixels. Other sizes scale by ``size / 256``.
"""

from __future__ import annotations

import numpy as np

#: Side of the reference canvas that labels are expressed in, pixels.
CANVAS = 256

#: Where the centre of the rotated cube's bounding box is moved, (3,) float64, canvas px.
CENTRE = np.array([128.0, 128.0, 0.0])

#: The eight corners ("nodes") before rotation, (8, 3) float64, canvas px.
NODES = np.array(
    [
        [0, 0, 0],
        [0, 0, 100],
        [0, 100, 0],
        [0, 100, 100],
        [100, 0, 0],
        [100, 0, 100],
        [100, 100, 0],
        [100, 100, 100],
    ],
    dtype=np.float64,
)

#: Dot colour of each node, (8, 3) uint8 RGB.
NODE_COLORS = np.array(
    [
        [0, 255, 0],
        [255, 255, 0],
        [0, 255, 255],
        [150, 150, 255],
        [255, 0, 0],
        [0, 100, 255],
        [255, 200, 255],
        [255, 255, 255],
    ],
    dtype=np.uint8,
)

#: The six faces as node indices in drawing order, (6, 4) int64.
FACES = np.array(
    [
        [0, 1, 3, 2],
        [7, 5, 4, 6],
        [4, 5, 1, 0],
        [2, 3, 7, 6],
        [0, 2, 6, 4],
        [5, 7, 3, 1],
    ],
    dtype=np.int64,
)

#: Flat fill colour of each face, (6, 3) uint8 RGB.
FACE_COLORS = np.array(
    [
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [255, 255, 0],
        [255, 0, 255],
        [0, 255, 255],
    ],
    dtype=np.uint8,
)

#: Background colour, (3,) uint8 RGB.
BACKGROUND = np.array([10, 10, 50], dtype=np.uint8)

#: Dot radius at the 256 canvas, pixels.
DOT_RADIUS = 4.0

#: A face is visible when -n.z exceeds this (|n| is 10000 for this cube).
VISIBILITY_THRESHOLD = 10.0

#: For each node, a boolean row saying which faces it belongs to, (8, 6) bool.
NODE_FACES = np.zeros((8, 6), dtype=bool)
for _face, _nodes in enumerate(FACES):
    NODE_FACES[_nodes, _face] = True
del _face, _nodes
