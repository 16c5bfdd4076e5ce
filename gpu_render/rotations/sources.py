"""Where a build's rotations come from (``--poses SOURCE``). Pure functions, except that
``file:`` sources read their one .npy in :func:`load_rotation_file`.

- ``clpr``: the spec's Euler grid, ``--step`` apart (the default).
- ``so3-grid:L``: the equivolumetric HEALPix x circle grid of 72 * 8**L rotations.
- ``random:N[:SEED]``: N rotations uniform over SO(3) (Haar), seed 0 unless given.
- ``random:inf[:SEED]``: uniform rotations without end, for the streaming dataset
  (:mod:`gpu_render.stream`) only: :func:`parse_source` refuses it unless asked to take it,
  so a build never starts on it. Chunk c of epoch e is :func:`random_chunk` (seed, e, c).
- ``file:PATH``: a .npy of N x 3 cLPR Euler angles, N x 4 unit quaternions (w, x, y, z), or
  N x 3 x 3 rotation matrices (column-vector convention, ``x_camera = R @ x_cube``).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpu_render.rotations.euler import clpr_euler, clpr_pose_count, euler_to_matrix
from gpu_render.rotations.quaternion import quaternion_to_matrix, ry, rz

#: Largest so3-grid level: 72 * 8**5 = 2359296 rotations.
MAX_LEVEL = 5
DEFAULT_SEED = 0
UNIT_TOLERANCE = 1e-6  # quaternion norms and matrix orthonormality in file: sources
#: More poses than this would not fit in memory as labels: a build refuses rather than thrash.
MAX_POSES = 50_000_000


@dataclass(frozen=True)
class PoseSource:
    """A parsed ``--poses`` value. ``spec`` is its canonical text; ``count`` its size."""

    kind: str
    step: float = 0.1
    level: int = 0
    count: int = 0
    seed: int = DEFAULT_SEED
    path: str = ""
    sha256: str = ""
    infinite: bool = False

    @property
    def spec(self) -> str:
        if self.kind == "clpr":
            return "clpr"
        if self.kind == "so3-grid":
            return f"so3-grid:{self.level}"
        if self.kind == "random":
            return f"random:{'inf' if self.infinite else self.count}:{self.seed}"
        return f"file:{self.path}"

    def size(self) -> int:
        """How many rotations the source holds. Raises ValueError for ``random:inf``."""
        if self.infinite:
            raise ValueError(f"{self.spec} has no end: it holds no fixed number of rotations")
        return clpr_pose_count(self.step) if self.kind == "clpr" else self.count


def parse_source(text: str, step: float | None, infinite: bool = False) -> PoseSource:
    """Parse a ``--poses`` value; ``file:`` sources are read and validated here.

    infinite: accept ``random:inf[:SEED]`` (the streaming dataset does; a build does not).
    Raises ValueError with a one-line message.
    """
    kind, _, arg = text.partition(":")
    if kind == "clpr" and not arg:
        return PoseSource("clpr", step=0.1 if step is None else step)
    if step is not None:
        raise ValueError(f"--step applies to --poses clpr only, not {text!r}")
    if kind == "so3-grid":
        if not arg.isdigit() or int(arg) > MAX_LEVEL:
            raise ValueError(f"so3-grid takes a level 0..{MAX_LEVEL}, e.g. so3-grid:3, got {text!r}")
        return PoseSource("so3-grid", level=int(arg), count=72 * 8 ** int(arg))
    if kind == "random":
        n, _, seed = arg.partition(":")
        if n == "inf" and (not seed or seed.isdigit()):
            if not infinite:
                raise ValueError(
                    f"{text} streams rotations without end, for gpu_render.stream only; "
                    "a build needs a finite source such as random:N[:SEED]"
                )
            return PoseSource("random", seed=int(seed) if seed else DEFAULT_SEED, infinite=True)
        if not n.isdigit() or int(n) < 1 or (seed and not seed.isdigit()):
            raise ValueError(f"random takes N[:SEED] with N >= 1 (or inf), e.g. random:10000:7, got {text!r}")
        return PoseSource("random", count=int(n), seed=int(seed) if seed else DEFAULT_SEED)
    if kind == "file" and arg:
        matrices, digest = load_rotation_file(Path(arg))
        return PoseSource("file", count=len(matrices), path=arg, sha256=digest)
    raise ValueError(f"unknown pose source {text!r}: use clpr, so3-grid:L, random:N[:SEED] or file:PATH")


def random_chunk(seed: int, epoch: int, chunk: int, n: int) -> np.ndarray:
    """Chunk ``chunk`` of epoch ``epoch`` of ``random:inf:SEED``: (n, 3, 3) float64 column-vector
    rotations (object frame to camera frame), uniform over SO(3).

    A pure function of its arguments: the same (seed, epoch, chunk) always gives the same
    rotations, whichever process or worker asks, and different ones give independent draws.
    """
    if min(seed, epoch, chunk) < 0:
        raise ValueError(f"seed, epoch and chunk must be >= 0, got {(seed, epoch, chunk)}")
    return quaternion_to_matrix(random_quaternions(n, (seed, epoch, chunk)))


def row_matrices(source: PoseSource, stop: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The first ``stop`` rotations as the project's row-vector matrices M (q = p @ M).

    Returns ((n, 3, 3) float64, euler) where euler is the (n, 3) grid angles for ``clpr``
    (exact, as the spec defines them) and None for other sources.
    """
    if source.infinite:
        raise ValueError(f"{source.spec} has no end: draw its chunks with random_chunk")
    if source.kind == "clpr":
        euler = clpr_euler(source.step, 0, stop)
        return euler_to_matrix(euler), euler
    if source.kind == "so3-grid":
        r = so3_grid(source.level)
    elif source.kind == "random":
        r = quaternion_to_matrix(random_quaternions(source.count, source.seed))
    else:
        r, digest = load_rotation_file(Path(source.path))
        if digest != source.sha256:
            raise ValueError(f"{source.path} changed since the build started (sha256 differs)")
    return np.ascontiguousarray(r[:stop].transpose(0, 2, 1)), None


# -- so3-grid ------------------------------------------------------------------------------


def _isqrt(x: np.ndarray) -> np.ndarray:
    r = np.floor(np.sqrt(x.astype(np.float64))).astype(np.int64)
    r -= (r * r > x).astype(np.int64)
    r += ((r + 1) * (r + 1) <= x).astype(np.int64)
    return r


def healpix_centres(nside: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the 12 * nside**2 HEALPix pixels in the RING scheme.

    Returns (theta, phi): (12 nside^2,) float64 radians, colatitude in [0, pi] and
    longitude in [0, 2 pi). Every pixel covers the same area of the sphere.
    """
    npix = 12 * nside * nside
    ncap = 2 * nside * (nside - 1)
    p = np.arange(npix, dtype=np.int64)
    z = np.empty(npix)
    phi = np.empty(npix)
    north = p < ncap
    i = (1 + _isqrt(1 + 2 * p[north])) // 2  # ring 1 .. nside-1
    j = p[north] - 2 * i * (i - 1) + 1  # 1 .. 4i
    z[north] = 1 - i * i / (3.0 * nside * nside)
    phi[north] = np.pi / (2 * i) * (j - 0.5)
    belt = (p >= ncap) & (p < npix - ncap)
    q = p[belt] - ncap
    i = q // (4 * nside) + nside  # ring nside .. 3 nside
    j = q % (4 * nside) + 1
    shift = (i - nside + 1) % 2
    z[belt] = 4.0 / 3.0 - 2.0 * i / (3.0 * nside)
    phi[belt] = np.pi / (2 * nside) * (j - shift / 2.0)
    south = p >= npix - ncap
    q = npix - p[south]
    i = (1 + _isqrt(2 * q - 1)) // 2
    j = 4 * i + 1 - (q - 2 * i * (i - 1))
    z[south] = -1 + i * i / (3.0 * nside * nside)
    phi[south] = np.pi / (2 * i) * (j - 0.5)
    return np.arccos(np.clip(z, -1, 1)), phi


def so3_grid(level: int) -> np.ndarray:
    """The equivolumetric SO(3) grid of 72 * 8**level rotations (HEALPix x circle, Hopf fibration).

    Each HEALPix pixel centre (theta, phi) at nside = 2**level gives the direction of the
    cube's z axis, and 6 * 2**level equally spaced angles psi turn the cube about it:
    ``R = Rz(phi) @ Ry(theta) @ Rz(psi)``. Haar measure factors as sin(theta) dtheta dphi dpsi,
    so equal-area pixels times equal psi steps give cells of equal volume.
    Returns (72 * 8**level, 3, 3) float64 column-vector rotations, pixels outer, psi inner.
    """
    theta, phi = healpix_centres(2**level)
    psi = np.arange(6 * 2**level) * (2 * np.pi / (6 * 2**level))
    t = np.repeat(theta, len(psi))
    f = np.repeat(phi, len(psi))
    s = np.tile(psi, len(theta))
    return rz(f) @ ry(t) @ rz(s)


def random_quaternions(n: int, seed: int | tuple[int, ...]) -> np.ndarray:
    """n rotations uniform over SO(3): normalised 4-D Gaussians. (n, 4) float64, w >= 0.

    seed: an int, or a tuple of ints that numpy's SeedSequence mixes (:func:`random_chunk`).
    """
    q = np.random.default_rng(seed).standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return np.where(q[:, :1] < 0, -q, q)


# -- file: ---------------------------------------------------------------------------------


def read_npy(path: Path, name: str) -> tuple[np.ndarray, bytes]:
    """Read a user's .npy of finite numbers: (the array, in its own dtype; the file's bytes).

    name: how messages call the file (``file:PATH``, ``--labels PATH``). Raises ValueError
    (one line) for a missing or unreadable file, a non-.npy file, pickles, an empty or
    non-numeric array, or NaN/infinity (naming the first bad row).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{name}: {exc.strerror}") from None
    try:
        data = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{name} is not a .npy array ({' '.join(str(exc).split())[:100]})") from None
    if not (
        isinstance(data, np.ndarray)
        and data.ndim > 0
        and len(data) > 0
        and (np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating))
    ):
        raise ValueError(f"{name} must hold a non-empty array of real numbers")
    bad = ~np.isfinite(data.reshape(len(data), -1)).all(axis=1)
    if bad.any():
        raise ValueError(f"{name} has NaN or infinite values (row {np.flatnonzero(bad)[0]})")
    return data, raw


def load_rotation_file(path: Path) -> tuple[np.ndarray, str]:
    """Read a file: source. Returns ((N, 3, 3) column-vector rotations, sha256 of the file).

    Raises ValueError (one line) for what :func:`read_npy` refuses, a bad shape, a
    quaternion that is not unit, or a matrix that is not a rotation.
    """
    data, raw = read_npy(path, f"file:{path}")
    data = data.astype(np.float64)
    digest = hashlib.sha256(raw).hexdigest()
    if data.shape[1:] == (3,):
        return euler_to_matrix(data).transpose(0, 2, 1), digest
    if data.shape[1:] in ((4,), (3, 3)):
        return rotation_matrices(data, f"file:{path}"), digest
    raise ValueError(
        f"file:{path} has shape {data.shape}: expected N x 3 Euler angles, N x 4 quaternions or N x 3 x 3 matrices"
    )


def rotation_matrices(data: np.ndarray, name: str) -> np.ndarray:
    """Rotations given as (N, 4) unit quaternions (w, x, y, z) or (N, 3, 3) rotation matrices
    (column-vector convention, ``x_camera = R @ x_object``), N >= 1, checked as ``--poses file:``
    checks them, as (N, 3, 3) float64 column-vector R.

    name: how messages call the array. Raises ValueError (one line) for non-numbers, another
    shape, NaN or infinity, a quaternion whose norm is off 1 by more than UNIT_TOLERANCE, or a
    matrix not orthonormal within it or with det < 0 (each naming the first bad row).
    """
    try:
        a = np.asarray(data)
    except (ValueError, TypeError) as exc:  # ragged nesting
        raise ValueError(f"{name} is not an array of numbers ({' '.join(str(exc).split())[:100]})") from None
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if not ((a.ndim == 2 and a.shape[1] == 4) or (a.ndim == 3 and a.shape[1:] == (3, 3))) or len(a) == 0:
        raise ValueError(
            f"{name} must be (N, 3, 3) rotation matrices or (N, 4) unit quaternions (w, x, y, z) with N >= 1, "
            f"got shape {a.shape}"
        )
    a = a.astype(np.float64)
    bad = ~np.isfinite(a.reshape(len(a), -1)).all(axis=1)
    if bad.any():
        raise ValueError(f"{name} has NaN or infinite values (row {np.flatnonzero(bad)[0]})")
    if a.ndim == 2:
        with np.errstate(over="ignore"):  # entries near the float64 limit give norm inf: refused below
            norm = np.linalg.norm(a, axis=1)
        off = np.flatnonzero(~(np.abs(norm - 1) <= UNIT_TOLERANCE))
        if len(off):
            raise ValueError(f"{name}: quaternion row {off[0]} has norm {norm[off[0]]:.6g}, not 1")
        return quaternion_to_matrix(a)
    with np.errstate(over="ignore", invalid="ignore"):  # huge entries give inf or NaN: refused below
        err = np.abs(a @ a.transpose(0, 2, 1) - np.eye(3)).max(axis=(1, 2))
        det = np.linalg.det(a)
    off = np.flatnonzero(~(err <= UNIT_TOLERANCE) | ~(det > 0))
    if len(off):
        raise ValueError(f"{name}: matrix row {off[0]} is not a rotation (orthonormal, det +1)")
    return a
