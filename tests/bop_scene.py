"""A synthetic BOP image for the tests: flat shapes at constant depths, z-buffered with numpy.

Instances (gt_id: shape, depth in mm):
0: disc, centre (20, 20), radius 12, 500 mm (in front of 1 and 3)
1: rectangle x 10..39, y 15..34, 700 mm (partly behind 0)
2: disc, centre (58, 42), radius 10, 600 mm: crosses the right and bottom borders of the 64 x 48
   image, so its whole silhouette (bbox_obj) leaves the image
3: rectangle x 16..23, y 16..23, 900 mm: wholly behind 0 (nothing visible)
4: rectangle x 8..39, y 14..34, 800 mm: behind 0 and 1 except for a thin strip (visib_fract < 0.1)
Depth is 0 (invalid) in the column x = 30, as a sensor hole would be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WIDTH, HEIGHT = 64, 48
OFFSET = (WIDTH, HEIGHT)  # the extended canvas is 3W x 3H with the image in its middle
HOLE_COLUMN = 30


@dataclass(frozen=True)
class Scene:
    instance_ids: np.ndarray  # (H, W) int32, gt_id + 1, 0 background
    amodal: np.ndarray  # (K, 3H, 3W) bool
    depth: np.ndarray  # (H, W) float64 mm, 0 invalid
    obj_ids: tuple[int, ...]


def _disc(cx: float, cy: float, r: float) -> np.ndarray:
    rows, cols = np.mgrid[-OFFSET[1] : 2 * HEIGHT, -OFFSET[0] : 2 * WIDTH] + 0.5  # image coordinates
    return (cols - cx) ** 2 + (rows - cy) ** 2 <= r * r


def _rect(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    rows, cols = np.mgrid[-OFFSET[1] : 2 * HEIGHT, -OFFSET[0] : 2 * WIDTH]
    return (cols >= x0) & (cols <= x1) & (rows >= y0) & (rows <= y1)


def make_scene() -> Scene:
    amodal = np.stack(
        [
            _disc(20, 20, 12),
            _rect(10, 15, 39, 34),
            _disc(58, 42, 10),
            _rect(16, 16, 23, 23),
            _rect(8, 14, 39, 34),
        ]
    )
    depths = np.array([500.0, 700.0, 600.0, 900.0, 800.0])
    inside = amodal[:, HEIGHT : 2 * HEIGHT, WIDTH : 2 * WIDTH]
    z = np.where(inside, depths[:, None, None], np.inf)
    front = np.argmin(z, axis=0)
    covered = np.isfinite(z.min(axis=0))
    ids = np.where(covered, front + 1, 0).astype(np.int32)
    depth = np.where(covered, z.min(axis=0), 0.0)
    depth[:, HOLE_COLUMN] = 0.0
    return Scene(instance_ids=ids, amodal=amodal, depth=depth, obj_ids=(3, 1, 3, 2, 5))
