"""Checks of a written BOP image against its ``scene_gt_info`` entries, from what the files hold:
the ``mask/`` and ``mask_visib/`` PNGs and the depth PNG (FORMATS.md, BOP). Pure numpy.

``mask/`` holds only the image's part of a silhouette, so what lies outside the image is checked as
far as the files allow: ``px_count_all`` is at least the mask's pixels, and equal to them when
``bbox_obj`` lies inside the image; ``bbox_obj`` contains the mask's box. Everything else is
recomputed exactly (:mod:`gpu_render.dataset.bop_gt` gives the definitions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gpu_render.dataset.bop_gt import NO_BOX

#: visib_fract is a float64 quotient of two ints: written and read back through JSON it is exact;
#: this allows for a reader that rounds it.
FRACT_TOL = 1e-12


def mask_from_png(values: np.ndarray, name: str) -> np.ndarray:
    """A BOP mask PNG's values (H, W) as bool; raises ValueError naming ``name`` unless every
    value is 0 or 255."""
    v = np.asarray(values)
    if v.ndim != 2 or not np.all((v == 0) | (v == 255)):
        raise ValueError(f"{name}: a mask must be one grey channel of 0 and 255 only")
    return v == 255


def _box(mask: np.ndarray) -> list[int]:
    """[x_min, y_min, x_max - x_min, y_max - y_min] of a (H, W) bool mask, or NO_BOX."""
    cols, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
    if len(cols) == 0:
        return list(NO_BOX)
    return [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0]), int(rows[-1] - rows[0])]


def gt_info_problems(
    entry: Mapping[str, Any], mask: np.ndarray, mask_visib: np.ndarray, depth: np.ndarray
) -> list[str]:
    """What disagrees between one instance's ``scene_gt_info`` entry and its files: a list of
    one-line descriptions, empty when all agree.

    mask, mask_visib: (H, W) bool (:func:`mask_from_png`); depth: (H, W) float, any unit, > 0 where
    valid (the depth PNG's values will do).
    """
    m, v, d = np.asarray(mask, dtype=bool), np.asarray(mask_visib, dtype=bool), np.asarray(depth)
    h, w = m.shape
    out = []
    n_mask, n_visib = int(m.sum()), int(v.sum())
    if np.any(v & ~m):
        out.append(f"mask_visib has {int(np.sum(v & ~m))} pixels outside mask")
    if entry["px_count_visib"] != n_visib:
        out.append(f"px_count_visib is {entry['px_count_visib']}, mask_visib has {n_visib} pixels")
    valid = int(np.sum(m & (d > 0)))
    if entry["px_count_valid"] != valid:
        out.append(f"px_count_valid is {entry['px_count_valid']}, mask has {valid} pixels of valid depth")
    n_all = entry["px_count_all"]
    if n_all < n_mask:
        out.append(f"px_count_all is {n_all}, fewer than the {n_mask} pixels of mask")
    fract = n_visib / n_all if n_all > 0 else 0.0
    if abs(entry["visib_fract"] - fract) > FRACT_TOL:
        out.append(f"visib_fract is {entry['visib_fract']}, px_count_visib / px_count_all is {fract}")
    expected_visib = _box(v)
    if list(entry["bbox_visib"]) != expected_visib:
        out.append(f"bbox_visib is {list(entry['bbox_visib'])}, mask_visib's box is {expected_visib}")
    x, y, bw, bh = (int(c) for c in entry["bbox_obj"])
    if n_visib == 0:
        if [x, y, bw, bh] != list(NO_BOX):
            out.append(f"bbox_obj is {[x, y, bw, bh]} for an instance with nothing visible")
        return out
    mx, my, mw, mh = _box(m)
    if not (x <= mx and y <= my and mx + mw <= x + bw and my + mh <= y + bh):
        out.append(f"bbox_obj {[x, y, bw, bh]} does not contain mask's box {[mx, my, mw, mh]}")
    inside = x >= 0 and y >= 0 and x + bw <= w - 1 and y + bh <= h - 1
    if inside and n_all != n_mask:
        out.append(f"px_count_all is {n_all} for a silhouette inside the image, mask has {n_mask} pixels")
    return out
