"""An object as a BOP model: its triangles in mm, ``models_info.json``'s entry and its symmetries
(FORMATS.md, BOP). Pure functions.

The BOP model frame is ``x_model_mm = mm_per_unit * x_obj + origin_mm``
(:func:`gpu_render.scene.conventions.bop_pose_from_scene` uses the same two numbers).

Symmetries come from the object's own group (SCENES.md), restricted to the elements that keep its
mark where it is (``tetX``: the 3 turns about the red face's axis; ``cylO`` and ``sphereX``:
none), since BOP's symmetries are those of the textured model. BOP lists them as
``symmetries_discrete``, 4 x 4 row-major matrices mapping the model onto itself (translation in
mm), the identity left out, and ``symmetries_continuous``, ``{axis, offset}``: every turn about
``axis`` through the point ``offset`` (mm). bop_toolkit's ``get_symmetry_transformations``
composes each continuous turn with each discrete one. The project's cone and cylinder groups
stand for continuous symmetries by their whole-degree turns (:data:`CONTINUOUS_ORDER` of them
about one axis); such a subgroup becomes one continuous symmetry, and the rest of the group one
discrete symmetry per coset (the cylinder's half turn about x).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpu_render.scene.objects import SceneObject

#: Turns about one axis that stand for a continuous symmetry (SCENES.md: 360 whole degrees).
CONTINUOUS_ORDER = 360
#: Matrices within this (max abs entry) are the same element; a mark is fixed within it.
SAME_TOL = 1e-9
#: Rows compared at once when finding the diameter: (block, P) float64 distances.
DIAMETER_BLOCK = 2048


def appearance_group(obj: SceneObject) -> np.ndarray:
    """The elements of ``obj.symmetry`` (G, 3, 3) that fix its mark's centre and normal (all of
    them when it has no mark): (G', 3, 3) float64, the identity first."""
    g = np.asarray(obj.symmetry, dtype=np.float64)
    if obj.mark is None:
        return g
    c, n = np.asarray(obj.mark.centre, dtype=np.float64), np.asarray(obj.mark.normal, dtype=np.float64)
    fixes = (np.max(np.abs(g @ c - c), axis=1) <= SAME_TOL) & (np.max(np.abs(g @ n - n), axis=1) <= SAME_TOL)
    return g[fixes]


def _angle_axis(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation angles (G,) radians in [0, pi] and unit axes (G, 3) (zero for the identity; for
    half turns the axis is found from the symmetric part)."""
    cos = np.clip((np.trace(g, axis1=1, axis2=2) - 1) / 2, -1.0, 1.0)
    angle = np.arccos(cos)
    skew = np.stack([g[:, 2, 1] - g[:, 1, 2], g[:, 0, 2] - g[:, 2, 0], g[:, 1, 0] - g[:, 0, 1]], axis=1)
    norm = np.linalg.norm(skew, axis=1)
    axis = np.where(norm[:, None] > 1e-6, skew / np.maximum(norm, 1e-300)[:, None], 0.0)
    half = (norm <= 1e-6) & (angle > np.pi / 2)
    for i in np.flatnonzero(half):  # g = 2 a a^T - I: a is the column of largest diagonal
        s = (g[i] + np.eye(3)) / 2
        j = int(np.argmax(np.diag(s)))
        axis[i] = s[:, j] / np.sqrt(s[j, j])
    return angle, axis


def split_continuous(group: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """(axis (3,) or None, discrete (D, 3, 3)) of a rotation group (G, 3, 3), identity first.

    When at least :data:`CONTINUOUS_ORDER` elements turn about one axis, they count as every turn
    about it: axis is that unit axis and discrete holds one element of each other coset ``C g``
    (the first in the group's order). Otherwise axis is None and discrete is every element but
    the identity.
    """
    g = np.asarray(group, dtype=np.float64)
    angle, axis = _angle_axis(g)
    moving = angle > 1e-9
    if np.count_nonzero(moving) + 1 >= CONTINUOUS_ORDER:
        a = axis[np.flatnonzero(moving)[np.argmin(angle[moving])]]
        about = ~moving | (np.abs(np.abs(axis @ a) - 1) <= 1e-9)
        if np.count_nonzero(about) >= CONTINUOUS_ORDER:
            turns = g[about]
            covered = about.copy()
            reps = []
            for i in np.flatnonzero(~covered):
                if covered[i]:
                    continue
                coset = (turns @ g[i]).reshape(len(turns), 1, 9)
                covered |= np.any(np.max(np.abs(coset - g.reshape(1, -1, 9)), axis=2) <= 1e-7, axis=0)
                reps.append(g[i])
            return a.copy(), np.array(reps).reshape(-1, 3, 3)
    return None, g[moving]


def bop_symmetries(group: np.ndarray, origin_mm: np.ndarray | None = None) -> dict[str, Any]:
    """``models_info.json``'s symmetry keys for a group (G, 3, 3) of the object frame: a dict with
    ``symmetries_discrete`` (list of 16 floats, row-major ``[[G, o - G o], [0, 0, 0, 1]]``, o =
    origin_mm) and ``symmetries_continuous`` (list of ``{"axis": [3], "offset": o}``), each only
    when not empty. The model frame's axes are the object frame's (a positive scale apart), so
    the rotations carry over and each symmetry turns about the object's origin o."""
    o = np.zeros(3) if origin_mm is None else np.asarray(origin_mm, dtype=np.float64).reshape(3)
    axis, discrete = split_continuous(group)
    out: dict[str, Any] = {}
    if len(discrete):
        mats = np.zeros((len(discrete), 4, 4))
        mats[:, :3, :3] = discrete
        mats[:, :3, 3] = o - discrete @ o
        mats[:, 3, 3] = 1.0
        out["symmetries_discrete"] = [[float(x) for x in m.reshape(16)] for m in mats]
    if axis is not None:
        out["symmetries_continuous"] = [{"axis": [float(x) for x in axis], "offset": [float(x) for x in o]}]
    return out


def diameter(points: np.ndarray) -> float:
    """The largest distance between two of ``points`` (P, 3) float (any unit), exactly (as
    bop_toolkit's ``calc_pts_diameter`` defines it). Points that cannot reach a pair longer than
    a lower bound (distance to the box centre plus the largest such distance) are left out, then
    the rest are compared pairwise in blocks."""
    p = np.unique(np.asarray(points, dtype=np.float64).reshape(-1, 3), axis=0)
    if len(p) < 2:
        return 0.0
    centre = (p.min(axis=0) + p.max(axis=0)) / 2
    r = np.linalg.norm(p - centre, axis=1)
    far = p[np.argmax(r)]
    bound = float(np.max(np.linalg.norm(p - far, axis=1)))  # a pair that exists
    keep = p[r + r.max() >= bound - 1e-12]
    best = bound
    for start in range(0, len(keep), DIAMETER_BLOCK):
        block = keep[start : start + DIAMETER_BLOCK]
        d2 = np.sum(block * block, axis=1)[:, None] + np.sum(keep * keep, axis=1)[None] - 2 * block @ keep.T
        best = max(best, float(np.sqrt(max(float(d2.max()), 0.0))))
    return best


def model_triangles(obj: SceneObject, mm_per_unit: float, origin_mm: np.ndarray | None = None) -> np.ndarray:
    """The object's triangles in the BOP model frame: (T, 3, 3) float64 mm (corners as drawn)."""
    o = np.zeros(3) if origin_mm is None else np.asarray(origin_mm, dtype=np.float64).reshape(3)
    return mm_per_unit * np.asarray(obj.positions, dtype=np.float64) + o


def model_info(vertices_mm: np.ndarray, symmetries: dict[str, Any] | None = None) -> dict[str, Any]:
    """One ``models_info.json`` entry: diameter, min_x/y/z and size_x/y/z (mm floats) of the
    model's vertices (P, 3) mm, plus the symmetry keys of :func:`bop_symmetries`."""
    v = np.asarray(vertices_mm, dtype=np.float64).reshape(-1, 3)
    lo, hi = v.min(axis=0), v.max(axis=0)
    info: dict[str, Any] = {"diameter": diameter(v)}
    for i, name in enumerate("xyz"):
        info[f"min_{name}"] = float(lo[i])
        info[f"size_{name}"] = float(hi[i] - lo[i])
    info.update(symmetries or {})
    return info


def object_model_info(obj: SceneObject, mm_per_unit: float, origin_mm: np.ndarray | None = None) -> dict[str, Any]:
    """:func:`model_info` of an object in the model frame, with its :func:`appearance_group`'s
    symmetries."""
    return model_info(model_triangles(obj, mm_per_unit, origin_mm), bop_symmetries(appearance_group(obj), origin_mm))
