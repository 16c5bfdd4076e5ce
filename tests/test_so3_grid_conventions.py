"""``--poses so3-grid:L`` against the healpy grids of implicit-pdf and image2sphere.

Their grids are rebuilt here with healpy exactly as each project writes it:

- implicit-pdf (``models.generate_healpix_grid``): the unit vectors of ``hp.pix2vec`` give
  azimuth ``arctan2(y, x)`` and polar ``arccos(z)``; for each of ``6 * 2**L`` tilts,
  ``R = Rx(azimuth) @ Rz(polar) @ Rx(tilt)`` (tensorflow-graphics' ``from_euler([x, y, z])`` is
  ``Rz(z) Ry(y) Rx(x)``), tilts outer, pixels inner.
- image2sphere (``so3_healpix_grid``): ``beta, alpha = hp.pix2ang``, ``gamma`` 6 * 2**L steps,
  turned into matrices by e3nn's ``angles_to_matrix``, ``Ry(alpha) @ Rx(beta) @ Ry(gamma)``.

Ours is ``Rz(phi) @ Ry(theta) @ Rz(psi)``. A cyclic permutation of the axes C maps one to the
other: implicit-pdf's set is ``C @ R @ C.T`` and image2sphere's ``C.T @ R @ C``; the other
choice is measurably wrong (degrees apart).
"""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest

from gpu_render.rotations.quaternion import matrix_to_quaternion
from gpu_render.rotations.sources import healpix_centres, so3_grid

#: The cyclic permutation of the axes x -> y -> z -> x (det +1): C @ e_z = e_x, C @ e_y = e_z.
C = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
#: Largest angle between matched rotations, degrees (float64 rounding; measured 6.1e-14).
TOLERANCE_DEG = 1e-12


def _axis(angle: np.ndarray, axis: int) -> np.ndarray:
    """(N, 3, 3) right-handed rotations by ``angle`` (radians) about axis 0, 1 or 2."""
    c, s = np.cos(angle), np.sin(angle)
    m = np.zeros((len(angle), 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    m[:, axis, axis] = 1.0
    m[:, i, i], m[:, i, j], m[:, j, i], m[:, j, j] = c, -s, s, c
    return m


def implicit_pdf_grid(level: int) -> np.ndarray:
    nside = 2**level
    xyz = np.stack(hp.pix2vec(nside, np.arange(hp.nside2npix(nside))), 1)
    azimuth, polar = np.arctan2(xyz[:, 1], xyz[:, 0]), np.arccos(xyz[:, 2])
    tilts = np.linspace(0, 2 * np.pi, 6 * nside, endpoint=False)
    pixels = _axis(azimuth, 0) @ _axis(polar, 2)
    return np.concatenate([pixels @ _axis(np.full(1, t), 0) for t in tilts])


def image2sphere_grid(level: int) -> np.ndarray:
    nside = 2**level
    npix = hp.nside2npix(nside)
    beta, alpha = hp.pix2ang(nside, np.arange(npix))
    gamma = np.linspace(0, 2 * np.pi, 6 * nside + 1)[:-1]
    a, b, g = np.tile(alpha, len(gamma)), np.tile(beta, len(gamma)), np.repeat(gamma, npix)
    return _axis(a, 1) @ _axis(b, 0) @ _axis(g, 1)


def matched_angles(ours: np.ndarray, theirs: np.ndarray) -> tuple[np.ndarray, bool]:
    """Degrees from each of ``ours`` to its nearest in ``theirs``, and whether that matching is
    one to one. Angles from the matrices' difference, exact near zero."""
    qa, qb = matrix_to_quaternion(ours), matrix_to_quaternion(theirs)
    nearest = np.concatenate([np.abs(qa[k : k + 1024] @ qb.T).argmax(1) for k in range(0, len(qa), 1024)])
    chord = np.linalg.norm(ours - theirs[nearest], axis=(1, 2)) / (2 * np.sqrt(2))
    return np.degrees(2 * np.arcsin(np.clip(chord, 0, 1))), len(np.unique(nearest)) == len(nearest)


@pytest.mark.parametrize("level", [0, 1, 2])
def test_implicit_pdf_grid_is_c_r_ct(level: int) -> None:
    ours, theirs = so3_grid(level), implicit_pdf_grid(level)
    assert len(ours) == len(theirs) == 72 * 8**level
    angles, one_to_one = matched_angles(C @ ours @ C.T, theirs)
    assert one_to_one and angles.max() < TOLERANCE_DEG
    wrong, _ = matched_angles(C.T @ ours @ C, theirs)
    assert wrong.max() > 5.0  # the other permutation is not their grid


@pytest.mark.parametrize("level", [0, 1, 2])
def test_image2sphere_grid_is_ct_r_c(level: int) -> None:
    ours, theirs = so3_grid(level), image2sphere_grid(level)
    angles, one_to_one = matched_angles(C.T @ ours @ C, theirs)
    assert one_to_one and angles.max() < TOLERANCE_DEG
    wrong, _ = matched_angles(C @ ours @ C.T, theirs)
    assert wrong.max() > 5.0


def test_c_is_the_cyclic_permutation() -> None:
    assert np.isclose(np.linalg.det(C), 1.0) and np.array_equal(C @ C @ C, np.eye(3))
    angle = np.array([0.7])
    assert np.allclose(C @ _axis(angle, 2) @ C.T, _axis(angle, 0))  # Rz -> Rx
    assert np.allclose(C @ _axis(angle, 1) @ C.T, _axis(angle, 2))  # Ry -> Rz


@pytest.mark.parametrize("nside", [1, 2, 4, 8])
def test_pixel_centres_are_healpys_set(nside: int) -> None:
    """The same centres as healpy's; within every other ring of the equatorial belt ours start
    one pixel later (phi + pi / (2 nside)), so the order, not the set, differs there."""
    theta, phi = healpix_centres(nside)
    h_theta, h_phi = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)))
    assert np.allclose(theta, h_theta, atol=1e-12, rtol=0)
    ours = {(round(t, 9), round(p % (2 * np.pi), 9)) for t, p in zip(theta, phi, strict=False)}
    theirs = {(round(t, 9), round(p % (2 * np.pi), 9)) for t, p in zip(h_theta, h_phi, strict=False)}
    assert ours == theirs


def test_a_builds_matrices_convert_as_the_readme_says(tmp_path) -> None:
    """The README's recipe, on poses.npz of a so3-grid build: R of the build is so3_grid's R."""
    import gpu_render
    from tests.cli import run_module

    out = tmp_path / "grid"
    r = run_module("gpu_render.build", "--poses", "so3-grid:1", "--sizes", "8", "--format", "npy", "--out", out)
    assert r.code == 0, r.err
    with gpu_render.load(out) as data:
        R = np.array(data.poses["matrix"])
    angles, one_to_one = matched_angles(C @ R @ C.T, implicit_pdf_grid(1))
    assert one_to_one and angles.max() < TOLERANCE_DEG
    angles, one_to_one = matched_angles(C.T @ R @ C, image2sphere_grid(1))
    assert one_to_one and angles.max() < TOLERANCE_DEG
