"""The static vertex data the cube shaders draw, built from :mod:`gpu_render.scene.clpr_cube`."""

from __future__ import annotations

import numpy as np

from gpu_render.scene.clpr_cube import FACE_COLORS, FACES, NODE_COLORS, NODES

#: moderngl layout of one vertex: in_node, in_color, in_corner, in_gate, in_is_dot.
VERTEX_FORMAT = "3f 3f 2f i i"
VERTEX_ATTRIBUTES = ("in_node", "in_color", "in_corner", "in_gate", "in_is_dot")
VERTEX_DTYPE = np.dtype(
    [("node", "<f4", 3), ("color", "<f4", 3), ("corner", "<f4", 2), ("gate", "<i4"), ("is_dot", "<i4")]
)

#: Bit of the per-pose visibility mask for face f is f; for node n it is NODE_BIT + n.
NODE_BIT = 8

# Two triangles per quad, as indices into the quad's four corners.
_QUAD_TRIANGLES = (0, 1, 2, 0, 2, 3)
_UNIT_QUAD = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float32)


def cube_vertices() -> np.ndarray:
    """Faces first (6 x 2 triangles), then one quad per node dot (8 x 2 triangles).

    Returns (84,) structured array of :data:`VERTEX_DTYPE`; positions in cube-frame
    canvas px, colours in [0, 1]. Draw order puts dots after faces, in node order.
    """
    rows = []
    for face, nodes in enumerate(FACES):
        for k in _QUAD_TRIANGLES:
            rows.append((NODES[nodes[k]], FACE_COLORS[face] / 255.0, (0.0, 0.0), face, 0))
    for node in range(len(NODES)):
        for k in _QUAD_TRIANGLES:
            rows.append((NODES[node], NODE_COLORS[node] / 255.0, _UNIT_QUAD[k], NODE_BIT + node, 1))
    return np.array(rows, dtype=VERTEX_DTYPE)


def visibility_mask(faces_visible: np.ndarray, nodes_visible: np.ndarray) -> np.ndarray:
    """Pack visibility into the per-pose mask the vertex shader reads.

    faces_visible: (N, 6) bool; nodes_visible: (N, 8) bool. Returns (N,) int32 with bit f
    set for visible face f and bit NODE_BIT + n for node n.
    """
    face_bits = (np.asarray(faces_visible, dtype=np.int32) << np.arange(6, dtype=np.int32)).sum(axis=1)
    node_bits = (np.asarray(nodes_visible, dtype=np.int32) << (NODE_BIT + np.arange(8, dtype=np.int32))).sum(axis=1)
    return (face_bits | node_bits).astype(np.int32)
