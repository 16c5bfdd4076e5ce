"""The labels of one streamed chunk, as arrays over its poses. Pure functions.

The values are the build's: the cLPR cube's come from its plan (``labels.npy`` and poses.npz),
an object's from :func:`gpu_render.scene.object_labels.scene_labels`, the function that makes
poses.npz, so a streamed label equals the one a build of the same pose stores.
"""

from __future__ import annotations

import numpy as np

from gpu_render.scene.object_labels import scene_labels
from gpu_render.scene.object_plan import ObjectPlan
from gpu_render.scene.plan import PosePlan
from gpu_render.scene.solids import BUILTIN_OBJECTS


def clpr_chunk_labels(plan: PosePlan, start: int, size: int) -> dict[str, np.ndarray]:
    """Labels of the cLPR poses of ``plan``, the chunk starting at pose ``start`` of its source.

    index (B,) int64, the pose's position in its source; quaternion (B, 4) float64, w first,
    w >= 0; matrix (B, 3, 3) float64, column-vector R, cube frame to camera frame; euler (B, 3)
    float64 cLPR radians; keypoints (B, 8, 2) float64, corner pixels at ``size``, x right,
    y down; labels (B, 8, 6) float64, the cLPR label rows (CLPR.md).
    """
    rich = plan.rich_labels((size,))
    return {
        "index": np.arange(start, start + len(plan.matrix), dtype=np.int64),
        "quaternion": rich["quaternion"],
        "matrix": rich["matrix"],
        "euler": rich["euler_clpr"],
        "keypoints": rich[f"keypoints_{size}"],
        "labels": plan.labels,
    }


def padded_equivalents(flat: np.ndarray, offsets: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pose i's ragged set ``flat[offsets[i]:offsets[i + 1]]`` (element 0 its own R) as row i of
    a (B, width, 3, 3) array, the rest of the row filled with element 0 (so a minimum over the
    row is the minimum over the set). Returns (that array, (B,) int64 set sizes)."""
    counts = np.diff(offsets).astype(np.int64)
    if counts.size and (counts.min() < 1 or counts.max() > width):
        raise ValueError(f"set sizes must be 1..{width}, got {counts.min()}..{counts.max()}")
    k = np.arange(width)[None, :]
    rows = np.where(k < counts[:, None], offsets[:-1, None] + k, offsets[:-1, None])
    return flat[rows], counts


def object_chunk_labels(plan: ObjectPlan, start: int, size: int) -> dict[str, np.ndarray]:
    """Labels of an object's poses of ``plan``, the chunk starting at pose ``start``.

    index (B,) int64; quaternion (B, 4) float64, w first, w >= 0; matrix (B, 3, 3) float64,
    column-vector R, object frame to camera frame. SYMSOL solids add ``class`` (B,) int64, the
    SYMSOL class index (tet 0, cube, icosa, cone, cyl, tetX, cylO, sphereX 7). Objects with
    equivalent rotations add ``equivalents`` (B, G, 3, 3) float32, every rotation giving this
    very image (element 0 R itself; G the symmetry group's size), and ``equivalent_count``
    (B,) int64, how many rows are distinct: all G for the featureless solids; for tetX and cylO
    (visual equivalents) the rest of each row repeats R, so a batch stacks with torch's
    default collate.
    """
    obj = plan.object
    rich = scene_labels(obj, plan.camera, plan.rotation, (size,))
    n = len(plan.rotation)
    out = {
        "index": np.arange(start, start + n, dtype=np.int64),
        "quaternion": rich["quaternion"],
        "matrix": rich["matrix"],
    }
    if obj.name in BUILTIN_OBJECTS:
        out["class"] = np.full(n, BUILTIN_OBJECTS.index(obj.name), dtype=np.int64)
    if "rotations_equivalent" in rich:
        eq = rich["rotations_equivalent"]
        out["equivalents"] = eq
        out["equivalent_count"] = np.full(n, eq.shape[1], dtype=np.int64)
    elif "visual_offsets" in rich:
        out["equivalents"], out["equivalent_count"] = padded_equivalents(
            rich["visual_equivalents"], rich["visual_offsets"], len(obj.symmetry)
        )
    return out
