"""Rotation groups of the SYMSOL solids (SCENES.md, Built-in solids). Pure functions.

Every group is returned as (G, 3, 3) float64 column-vector rotations in the object frame
(``x' = G_k @ x``), element 0 the identity, each element once, in a fixed order:

- :func:`tetrahedral`: T, 12 rotations mapping the tet's vertices (1,1,1), (1,-1,-1),
  (-1,1,-1), (-1,-1,1) onto themselves (the order of :func:`octahedral`, filtered).
- :func:`octahedral`: O, the 24 signed permutation matrices with det +1.
- :func:`icosahedral`: I, 60 rotations mapping the icosahedron with vertices at the cyclic
  permutations of (0, +-1, +-phi) onto itself (breadth-first closure of two generators).
- :func:`cyclic_z`: Rz(360 k / n degrees), k = 0..n-1.
- :func:`dihedral_z`: the cyclic group, then Rx(180) @ Rz(360 k / n), k = 0..n-1.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

PHI = (1 + math.sqrt(5)) / 2

#: Vertices of the tet before scaling (SCENES.md), (4, 3) float64.
TET_VERTICES = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=np.float64)


def icosa_vertices() -> np.ndarray:
    """The icosahedron's 12 vertices before scaling: cyclic permutations of (0, +-1, +-phi).
    (12, 3) float64, object frame."""
    out = []
    for s1 in (1.0, -1.0):
        for s2 in (PHI, -PHI):
            base = (0.0, s1, s2)
            for shift in range(3):
                out.append(base[-shift:] + base[:-shift] if shift else base)
    return np.array(out, dtype=np.float64)


def octahedral() -> np.ndarray:
    """O: the 24 signed permutation matrices with det +1. (24, 3, 3) float64."""
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = np.zeros((3, 3))
            m[np.arange(3), perm] = signs
            if np.linalg.det(m) > 0:
                out.append(m)
    return np.array(out)


def tetrahedral() -> np.ndarray:
    """T: the 12 elements of :func:`octahedral` that map the tet's vertex set onto itself.
    (12, 3, 3) float64."""
    o = octahedral()
    keep = [g for g in o if _maps_set_onto_itself(g, TET_VERTICES)]
    return np.array(keep)


def icosahedral() -> np.ndarray:
    """I: the 60 rotations mapping the icosahedron (:func:`icosa_vertices`) onto itself.

    Breadth-first closure of a 3-fold turn (the cyclic axis permutation x->y->z) and a 5-fold
    turn about the vertex (0, 1, phi); entries are then snapped to the exact values the group
    takes in this orientation (0, +-1/2, +-phi/2, +-1/(2 phi), +-1). (60, 3, 3) float64.
    """
    cyc = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    five = axis_angle(np.array([0.0, 1.0, PHI]), 2 * math.pi / 5)
    group = _closure([cyc, five])
    exact = np.array([0.0, 0.5, PHI / 2, 1 / (2 * PHI), 1.0])
    exact = np.concatenate([exact, -exact[1:]])
    nearest = exact[np.argmin(np.abs(group[..., None] - exact), axis=-1)]
    if np.max(np.abs(nearest - group)) > 1e-9:
        raise AssertionError("icosahedral closure drifted from its exact entries")
    return nearest


def cyclic_z(n: int = 360) -> np.ndarray:
    """Rz(2 pi k / n), k = 0..n-1: (n, 3, 3) float64. cos/sin of multiples of 90 degrees are
    exact (0, +-1)."""
    if n < 1:
        raise ValueError(f"cyclic_z needs n >= 1, got {n}")
    k = np.arange(n)
    c, s = cos_sin_turns(k, n)
    g = np.zeros((n, 3, 3))
    g[:, 0, 0], g[:, 0, 1], g[:, 1, 0], g[:, 1, 1], g[:, 2, 2] = c, -s, s, c, 1.0
    return g


def dihedral_z(n: int = 360) -> np.ndarray:
    """Rz(2 pi k / n), then Rx(pi) @ Rz(2 pi k / n), k = 0..n-1: (2n, 3, 3) float64."""
    turns = cyclic_z(n)
    flip = np.diag([1.0, -1.0, -1.0])
    return np.concatenate([turns, flip @ turns])


def axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation by ``angle`` radians (right hand) about ``axis`` (3,), any length: (3, 3) float64."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    k = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


def is_group(g: np.ndarray, tol: float = 1e-9) -> bool:
    """True when g (G, 3, 3) holds rotations (orthonormal, det +1), g[0] is the identity, no two
    elements coincide, and every product g_i @ g_j is an element (all within ``tol``, max abs
    entry). Closure suffices for inverses in a finite set."""
    g = np.asarray(g, dtype=np.float64)
    if g.ndim != 3 or g.shape[1:] != (3, 3) or len(g) == 0:
        return False
    if np.max(np.abs(g[0] - np.eye(3))) > tol:
        return False
    if np.max(np.abs(g @ np.swapaxes(g, 1, 2) - np.eye(3))) > tol or np.min(np.linalg.det(g)) < 0:
        return False
    flat = g.reshape(len(g), 9)
    if np.any(_match_counts(flat, flat, tol) != 1):
        return False
    products = np.matmul(g[:, None], g[None, :]).reshape(-1, 9)
    return bool(np.all(_match_counts(products, flat, tol) >= 1))


def _match_counts(query: np.ndarray, flat: np.ndarray, tol: float) -> np.ndarray:
    """For each row of ``query`` (Q, 9), how many rows of ``flat`` (G, 9) lie within ``tol``
    (max abs entry). Exact: candidates are those whose projection on a fixed direction is
    within the largest projection difference ``tol`` allows; each is then compared in full.
    Returns (Q,) int64."""
    direction = np.linspace(1.0, 2.0, 9) / np.arange(1, 10) ** 0.5  # fixed, generic
    eps = tol * float(np.sum(np.abs(direction))) * (1 + 1e-6)
    order = np.argsort(flat @ direction, kind="stable")
    keys = (flat @ direction)[order]
    kq = query @ direction
    lo = np.searchsorted(keys, kq - eps, side="left")
    hi = np.searchsorted(keys, kq + eps, side="right")
    counts = np.zeros(len(query), dtype=np.int64)
    for w in range(int(np.max(hi - lo, initial=0))):
        idx = np.minimum(lo + w, len(flat) - 1)
        near = np.max(np.abs(query - flat[order[idx]]), axis=1) <= tol
        counts += (lo + w < hi) & near
    return counts


def _maps_set_onto_itself(g: np.ndarray, points: np.ndarray, tol: float = 1e-9) -> bool:
    """Whether g (3, 3) permutes ``points`` (P, 3)."""
    moved = points @ g.T
    d = np.linalg.norm(moved[:, None, :] - points[None, :, :], axis=2)
    return bool(np.all(np.min(d, axis=1) <= tol) and np.all(np.min(d, axis=0) <= tol))


def _closure(generators: list[np.ndarray], tol: float = 1e-9, limit: int = 10_000) -> np.ndarray:
    """The finite rotation group the generators make: breadth first from the identity, each new
    element right-multiplied by each generator in order. (G, 3, 3) float64, element 0 identity."""
    elements = [np.eye(3)]
    frontier = [np.eye(3)]
    while frontier:
        nxt = []
        for a in frontier:
            for gen in generators:
                c = a @ gen
                if not any(np.max(np.abs(c - e)) <= tol for e in elements):
                    elements.append(c)
                    nxt.append(c)
        if len(elements) > limit:
            raise ValueError("the generators do not make a finite group")
        frontier = nxt
    return np.array(elements)


def cos_sin_turns(k: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of 2 pi k / n for integer k (K,): two (K,) float64 arrays, multiples of a
    quarter turn exactly 0 or +-1."""
    angle = 2 * np.pi * k / n
    c, s = np.cos(angle), np.sin(angle)
    quarter = (4 * k) % n == 0
    q = (4 * k[quarter]) // n % 4
    c[quarter] = np.array([1.0, 0.0, -1.0, 0.0])[q]
    s[quarter] = np.array([0.0, 1.0, 0.0, -1.0])[q]
    return c, s


def padded_set(rotations: np.ndarray, width: int) -> np.ndarray:
    """A set of rotations (K, 3, 3), K <= width, element 0 the pose's own R, as (width, 3, 3):
    the rows past K repeat element 0, so a minimum over the rows is the minimum over the set
    and sets of different sizes stack (the torch Datasets' ``equivalents``). A new array, of
    the same dtype; K > width is an error."""
    if len(rotations) > width:
        raise ValueError(f"a set of {len(rotations)} rotations does not fit {width} rows")
    return np.concatenate([rotations, np.repeat(rotations[:1], width - len(rotations), axis=0)])
