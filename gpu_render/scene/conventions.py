"""Conversions between this project's frames and units and those other tools use. Pure functions.

This project (SCENES.md): ``x_cam = R @ x_obj + t``; R (N, 3, 3) float64 column-vector rotation
from the object frame to the camera frame; the camera frame is x right, y down, z forward, which
*is* OpenCV's camera frame, so R and t go to OpenCV unchanged; t in object units (built-in
solids have circumradius 1); quaternions (w, x, y, z), w >= 0. Pixel coordinates differ by half a
pixel: here pixel (col, row) covers [col, col+1) x [row, row+1), so its centre is (col + 0.5,
row + 0.5) and an S x S image's centre is S/2; OpenCV and BOP put pixel centres at integers, so
their principal point is ours minus 0.5 (:func:`opencv_intrinsics`, :func:`project_intrinsics`).

Others, each with the functions here that convert (docs/FORMATS.md, Conventions, has the table):

- OpenGL / Blender / pyrender camera frame: x right, y up, z backward (the camera looks along
  -z). :func:`opengl_from_opencv` (its own inverse).
- BOP: ``x_cam_mm = R_m2c @ x_model_mm + t_m2c_mm``, the OpenCV camera frame, millimetres, the
  model frame of ``models/obj_*.ply``; matrices flattened row-wise (``cam_R_m2c``, ``cam_K``);
  depth PNGs hold ``depth_mm / depth_scale`` as uint16. :func:`bop_pose_from_scene`,
  :func:`scene_pose_from_bop`, :func:`bop_rows`, :func:`matrix_from_bop_rows`,
  :func:`depth_png_units`, :func:`depth_mm_from_png`.
- Depth as distance along the viewing ray (range) instead of z: :func:`ray_distance_from_depth`,
  :func:`depth_from_ray_distance`.
- PASCAL3D+ / ImageNet3D viewpoints (azimuth, elevation, theta, distance):
  :func:`pascal3d_from_pose`, :func:`pose_from_pascal3d` (the equations are in
  :mod:`gpu_render.scene.viewpoint`).
- Quaternion order: scalar last (x, y, z, w) as in scipy's ``Rotation.as_quat``, ROS and Eigen's
  ``coeffs()``: :func:`quaternion_xyzw`, :func:`quaternion_wxyz`.
"""

from __future__ import annotations

import numpy as np

from gpu_render.scene.viewpoint import rotation_from_viewpoint, viewpoint_from_rotation

#: diag(1, -1, -1): the OpenCV camera frame in the OpenGL camera frame and back (a half turn about x).
FLIP_YZ = np.diag([1.0, -1.0, -1.0])
#: Millimetres in one unit of ``--model-units``.
MM_PER_MODEL_UNIT = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
#: A translation counts as on the optical axis (PASCAL3D+) when |t_x|, |t_y| <= this share of t_z.
ON_AXIS_TOL = 1e-9


def _poses(rotation: np.ndarray, translation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, 3) and (N, 3) float64 copies of a pose batch (a single (3, 3) / (3,) is N = 1)."""
    r = np.asarray(rotation, dtype=np.float64).reshape(-1, 3, 3)
    t = np.asarray(translation, dtype=np.float64).reshape(-1, 3)
    if len(t) == 1 and len(r) > 1:
        t = np.repeat(t, len(r), axis=0)
    if len(r) != len(t):
        raise ValueError(f"{len(r)} rotations but {len(t)} translations")
    return r, t


def opengl_from_opencv(rotation: np.ndarray, translation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An object-to-camera pose in the OpenCV camera frame (this project's) as the same pose in
    the OpenGL camera frame (x right, y up, z backward), or back: both ways it is
    ``(F @ R, F @ t)`` with F = diag(1, -1, -1).

    rotation: (N, 3, 3) or (3, 3); translation: (N, 3) or (3,), any length unit. Returns
    ((N, 3, 3), (N, 3)) float64. A world-to-camera pose converts the same way; for a
    camera-to-world pose (Blender's ``matrix_world``) right-multiply its rotation by F instead.
    """
    r, t = _poses(rotation, translation)
    return FLIP_YZ @ r, t @ FLIP_YZ.T


def opencv_intrinsics(k: np.ndarray) -> np.ndarray:
    """This project's K (3, 3) (pixel centres at col + 0.5) as OpenCV's and BOP's (pixel centres at
    integers): the same focal lengths, ``cx - 0.5`` and ``cy - 0.5``. (3, 3) float64, pixels."""
    out = np.array(k, dtype=np.float64).reshape(3, 3)
    out[:2, 2] -= 0.5
    return out


def project_intrinsics(k_opencv: np.ndarray) -> np.ndarray:
    """The inverse of :func:`opencv_intrinsics`: ``cx + 0.5``, ``cy + 0.5``. (3, 3) float64, pixels."""
    out = np.array(k_opencv, dtype=np.float64).reshape(3, 3)
    out[:2, 2] += 0.5
    return out


def bop_pose_from_scene(
    rotation: np.ndarray, translation: np.ndarray, mm_per_unit: float, origin_mm: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """This project's pose as BOP's ``cam_R_m2c`` and ``cam_t_m2c``.

    rotation: (N, 3, 3) R, object to camera (OpenCV frame). translation: (N, 3) t, camera frame,
    object units. mm_per_unit: millimetres in one object unit (the camera frame shares it).
    origin_mm: (3,), where the object frame's origin lies in the BOP model frame, mm (a mesh
    file's frame: its bounding-box centre c in file units times the file unit in mm; zero for
    the built-in solids). The BOP model is ``x_model_mm = mm_per_unit * x_obj + origin_mm``,
    so ``R_m2c = R`` and ``t_m2c = mm_per_unit * t - R @ origin_mm``.
    Returns (R_m2c (N, 3, 3), t_m2c (N, 3) mm), float64.
    """
    r, t = _poses(rotation, translation)
    o = np.zeros(3) if origin_mm is None else np.asarray(origin_mm, dtype=np.float64).reshape(3)
    return r.copy(), mm_per_unit * t - r @ o


def scene_pose_from_bop(
    rotation: np.ndarray, translation_mm: np.ndarray, mm_per_unit: float, origin_mm: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`bop_pose_from_scene`: (R (N, 3, 3), t (N, 3) object units), float64,
    from ``cam_R_m2c`` (N, 3, 3) and ``cam_t_m2c`` (N, 3) mm."""
    r, t = _poses(rotation, translation_mm)
    o = np.zeros(3) if origin_mm is None else np.asarray(origin_mm, dtype=np.float64).reshape(3)
    return r.copy(), (t + r @ o) / mm_per_unit


def model_frame(centre: np.ndarray, scale: float, model_units: str) -> tuple[float, np.ndarray]:
    """(mm_per_unit, origin_mm (3,) float64) that keep a mesh file's own frame for its BOP model.

    A mesh file's object frame is ``x_obj = scale * (x_file - centre)`` (SCENES.md); with the file
    in ``model_units`` ('mm', 'cm' or 'm'), ``x_model_mm = k * x_file`` (k mm per file unit) is
    ``(k / scale) * x_obj + k * centre``.
    """
    if model_units not in MM_PER_MODEL_UNIT:
        raise ValueError(f"model units must be one of {', '.join(MM_PER_MODEL_UNIT)}, got {model_units!r}")
    k = MM_PER_MODEL_UNIT[model_units]
    return k / float(scale), k * np.asarray(centre, dtype=np.float64).reshape(3)


def bop_rows(matrix: np.ndarray) -> list[float]:
    """A (3, 3) matrix (R or K) as BOP's 9 floats, row-wise (``cam_R_m2c``, ``cam_K``)."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (3, 3):
        raise ValueError(f"expected a (3, 3) matrix, got shape {m.shape}")
    return [float(x) for x in m.reshape(9)]


def matrix_from_bop_rows(values: list[float] | np.ndarray) -> np.ndarray:
    """BOP's 9 row-wise floats as a (3, 3) float64 matrix."""
    return np.asarray(values, dtype=np.float64).reshape(3, 3)


def depth_png_units(depth_mm: np.ndarray, depth_scale: float) -> np.ndarray:
    """Depth in mm (H, W) float (z along the optical axis; 0 = no surface) as the uint16 a BOP
    depth PNG holds: ``round(depth_mm / depth_scale)``, so that value * depth_scale = mm.
    Raises ValueError when a value does not fit uint16 (choose a larger depth_scale)."""
    units = np.rint(np.asarray(depth_mm, dtype=np.float64) / depth_scale)
    if units.size and (not np.all(np.isfinite(units)) or units.min() < 0 or units.max() > 65535):
        raise ValueError(
            f"depth does not fit a uint16 PNG at depth_scale {depth_scale} (up to {65535 * depth_scale} mm)"
        )
    return units.astype(np.uint16)


def depth_mm_from_png(units: np.ndarray, depth_scale: float) -> np.ndarray:
    """A BOP depth PNG's uint16 (H, W) as depth in mm, float64 (bop_toolkit: value * depth_scale)."""
    return np.asarray(units, dtype=np.float64) * depth_scale


def _ray_lengths(shape: tuple[int, int], k: np.ndarray) -> np.ndarray:
    """|K^-1 (u, v, 1)| at every pixel centre (col + 0.5, row + 0.5): (H, W) float64."""
    kk = np.asarray(k, dtype=np.float64)
    v, u = np.mgrid[0 : shape[0], 0 : shape[1]] + 0.5
    x = (u - kk[0, 2]) / kk[0, 0]
    y = (v - kk[1, 2]) / kk[1, 1]
    return np.sqrt(x * x + y * y + 1.0)


def ray_distance_from_depth(depth: np.ndarray, k: np.ndarray) -> np.ndarray:
    """z-depth (H, W) float (BOP's and this project's depth) as the distance from the camera
    centre along each pixel centre's ray (what some renderers call depth): same unit, float64.
    k: (3, 3) K, pixel centres at (col + 0.5, row + 0.5) as SCENES.md puts them."""
    d = np.asarray(depth, dtype=np.float64)
    return d * _ray_lengths(d.shape, k)


def depth_from_ray_distance(distance: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The inverse of :func:`ray_distance_from_depth`: (H, W) float64 z-depth."""
    d = np.asarray(distance, dtype=np.float64)
    return d / _ray_lengths(d.shape, k)


def pascal3d_from_pose(
    rotation: np.ndarray, translation: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(azimuth, elevation, theta, distance), each (N,) float64 (radians; distance in object
    units), of poses whose object origin is on the optical axis, ``t = (0, 0, d)``, as every
    scene build's is. Raises ValueError for a t off the axis, which PASCAL3D+ cannot express."""
    r, t = _poses(rotation, translation)
    off = np.abs(t[:, :2]).max(axis=1, initial=0.0) > ON_AXIS_TOL * np.abs(t[:, 2])
    if np.any(off) or np.any(t[:, 2] <= 0):
        raise ValueError("PASCAL3D+ viewpoints need the object's origin on the optical axis, t = (0, 0, d), d > 0")
    azimuth, elevation, theta = viewpoint_from_rotation(r)
    return azimuth, elevation, theta, t[:, 2].copy()


def pose_from_pascal3d(
    azimuth: np.ndarray, elevation: np.ndarray, theta: np.ndarray, distance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The pose of a PASCAL3D+ viewpoint: (R (N, 3, 3), t = (0, 0, d) (N, 3)) float64, from (N,)
    or scalar radians and distance (object units)."""
    a, e, th, d = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in (azimuth, elevation, theta, distance))
    )
    r = rotation_from_viewpoint(a, e, th)
    t = np.zeros((len(d), 3))
    t[:, 2] = d
    return r, t


def quaternion_xyzw(q_wxyz: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (w, x, y, z), this project's order, as (x, y, z, w) (scipy's
    ``as_quat``, ROS, Eigen's ``coeffs()``): a float64 copy, the same rotation and sign."""
    q = np.asarray(q_wxyz, dtype=np.float64)
    return np.concatenate([q[..., 1:], q[..., :1]], axis=-1)


def quaternion_wxyz(q_xyzw: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (x, y, z, w) as (w, x, y, z), float64; sign flipped where w < 0, so
    the result meets this project's w >= 0."""
    q = np.asarray(q_xyzw, dtype=np.float64)
    out = np.concatenate([q[..., 3:], q[..., :3]], axis=-1)
    return np.where(out[..., :1] < 0, -out, out)
