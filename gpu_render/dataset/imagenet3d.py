"""``--layout imagenet3d``: images and annotations where ImageNet3D's own tools read them.

    OUT/images/{class}/{class}_{i:06d}.JPEG        the image of pose i
    OUT/annotations/{class}/{class}_{i:06d}.npz    its annotation
    OUT/lists/{class}_imagenet_{split}.txt         split train / val (gpu_render.dataset.imagenet3d_tree)
    OUT/CAD/{class}/01.off                         the object, model frame (gpu_render.dataset.imagenet3d_tree)

The npz's ``annotations`` is an object array of one dict (FORMATS.md, PASCAL3D+ / ImageNet3D),
read as ``dict(np.load(path, allow_pickle=True))['annotations']``, with the types of ImageNet3D's
README: ``azimuth``, ``elevation``, ``theta`` float radians in [0, 2π); ``distance`` float
(object units); ``viewport`` int, the focal length in pixels (the tools' ``proj2d`` takes it
as such); ``focal`` float 1.0; ``px``, ``py`` float and ``principal`` (2,) float64
``[px, py]`` (pixels); ``bbox`` (4,) float64 x1, y1, x2, y2, the exact box of the projected
CAD vertices clipped to the image (:func:`gpu_render.scene.camera.projected_boxes`; pixels in
the principal point's convention: the image spans [0, W] x [0, H], pixel (col, row) covers
[col, col+1) x [row, row+1); all -1 when the box misses the image); ``height``, ``width``
numpy.uint16 (the image's, px); ``class`` str (the object's name); ``cad_index`` int 1;
``object_status`` 'status_good'; ``dense`` 'dense_no' (one object per image); ``ignore`` int 0.

The focal length in pixels is a whole number: the build picks its camera so
(:func:`whole_pixel_camera`), and the annotation then projects the CAD exactly as the
build's K, R, t.

Images are written by encoder processes (:class:`Imagenet3dSink`); the annotations by the
process that renders the chunk (:class:`Annotations`), before the chunk is recorded. Both
through temporary names, then rename. Nothing in an annotation depends on the pixels, so a
shard writes its own chunks' annotations like any other file.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from gpu_render.dataset.atomic import atomic_write_bytes
from gpu_render.dataset.encode import encode_jpeg
from gpu_render.dataset.layout import file_digest
from gpu_render.scene.camera import Pinhole, projected_boxes

IMAGES, ANNOTATIONS = "images", "annotations"
STATUS = "status_good"
DENSE = "dense_no"
CAD_INDEX = 1
#: A focal length this close to a whole number of pixels (relative) is that number.
WHOLE_PIXEL_TOLERANCE = 1e-9


def sample_name(class_name: str, index: int) -> str:
    """The file stem of pose ``index`` (0-based): ``{class}_{index:06d}``."""
    return f"{class_name}_{index:06d}"


def image_file(out: Path, class_name: str, index: int) -> Path:
    return out / IMAGES / class_name / f"{sample_name(class_name, index)}.JPEG"


def annotation_file(out: Path, class_name: str, index: int) -> Path:
    return out / ANNOTATIONS / class_name / f"{sample_name(class_name, index)}.npz"


def whole_pixel_camera(camera: Pinhole, size: int) -> Pinhole:
    """``camera`` with its field of view nudged so that its focal length at ``size`` px is a
    whole number of pixels: f = round((S/2) / tan(fov/2)) (at least 1), fov = 2 atan((S/2) / f).
    The distance is kept where it was given (else it follows the new field of view). Idempotent."""
    focal = max(1, round(camera.focal(size)))
    fov = math.degrees(2 * math.atan((size / 2) / focal))
    return replace(camera, fov_deg=fov)


def wrap_angle(angle: float) -> float:
    """``angle`` (radians) in [0, 2π)."""
    a = float(np.mod(angle, 2 * np.pi))
    return 0.0 if a >= 2 * np.pi else a + 0.0  # mod rounds a tiny negative angle up to 2π


def whole_focal(k: np.ndarray) -> int:
    """The focal length of intrinsics K (3, 3) float64 as a whole number of pixels; ValueError
    when it is none (the camera was not made by :func:`whole_pixel_camera`)."""
    f = float(k[0, 0])
    n = round(f)
    if n < 1 or abs(f - n) > WHOLE_PIXEL_TOLERANCE * f or float(k[1, 1]) != f:
        raise ValueError(
            f"the focal length {f!r} px is not a whole number of pixels: ImageNet3D's viewport cannot hold it"
        )
    return int(n)


def cad_vertices(positions: np.ndarray) -> np.ndarray:
    """The CAD model's distinct corners (V, 3) float32, sorted, of triangles ``positions``
    (T, 3, 3) (model frame, unitless): the vertices the OFF file lists, in its order."""
    return np.unique(np.asarray(positions, dtype=np.float32).reshape(-1, 3), axis=0)


def bboxes(poses: dict[str, np.ndarray], size: int, vertices: np.ndarray, start: int, stop: int) -> np.ndarray:
    """The ``bbox`` of poses ``start .. stop-1``: (stop - start, 4) float64 x1, y1, x2, y2,
    pixels (the image is [0, S] x [0, S]), the box of the CAD ``vertices`` (V, 3) (model frame)
    projected by poses.npz's ``matrix``, ``translation`` and ``intrinsics_{S}``, clipped to the
    image (:func:`gpu_render.scene.camera.projected_boxes`)."""
    return projected_boxes(
        vertices, poses["matrix"][start:stop], poses["translation"][start:stop], poses[f"intrinsics_{size}"], size, size
    )


def annotation(
    poses: dict[str, np.ndarray], index: int, size: int, bbox: np.ndarray, class_name: str
) -> dict[str, Any]:
    """The one dict of pose ``index``'s ``annotations``: poses are poses.npz's arrays, bbox its
    (4,) float64 box (:func:`bboxes`)."""
    px, py = float(poses[f"px_{size}"]), float(poses[f"py_{size}"])
    return {
        "azimuth": wrap_angle(poses["azimuth"][index]),
        "elevation": wrap_angle(poses["elevation"][index]),
        "theta": wrap_angle(poses["theta"][index]),
        "distance": float(poses["distance"][index]),
        "viewport": whole_focal(poses[f"intrinsics_{size}"]),
        "focal": 1.0,
        "px": px,
        "py": py,
        "principal": np.array([px, py]),
        "bbox": np.array(bbox, dtype=np.float64),
        "height": np.uint16(size),
        "width": np.uint16(size),
        "class": class_name,
        "cad_index": CAD_INDEX,
        "object_status": STATUS,
        "dense": DENSE,  # one rendered object per image
        "ignore": 0,
    }


def annotation_bytes(record: dict[str, Any]) -> bytes:
    """The npz file of one annotation (numpy writes fixed zip timestamps: deterministic)."""
    annotations = np.empty(1, dtype=object)
    annotations[0] = record
    buf = io.BytesIO()
    np.savez(buf, annotations=annotations)
    return buf.getvalue()


@dataclass(frozen=True, eq=False)
class Annotations:
    """Writes a build's annotation npz files, chunk by chunk (:meth:`write`).

    out: OUT. class_name: the class. size: the image side S, px. poses: poses.npz's arrays
    (N poses). vertices: the CAD model's (V, 3) float32, model frame (:func:`cad_vertices`).
    """

    out: Path
    class_name: str
    size: int
    poses: dict[str, np.ndarray]
    vertices: np.ndarray

    def write(self, start: int, stop: int) -> None:
        """Write the npz of poses ``start .. stop-1``, each through a temporary name."""
        boxes = bboxes(self.poses, self.size, self.vertices, start, stop)
        for k, box in enumerate(boxes):
            record = annotation(self.poses, start + k, self.size, box, self.class_name)
            atomic_write_bytes(annotation_file(self.out, self.class_name, start + k), annotation_bytes(record))


@dataclass(frozen=True)
class Imagenet3dSink:
    """Writes each image as ``OUT/images/{class}/{class}_{index:06d}.JPEG``; picklable for encoder processes."""

    out: Path
    class_name: str

    whole_chunks: ClassVar[bool] = False

    def write(self, size: int, start: int, images: np.ndarray) -> list[bytes]:
        """images: (n, size, size, 3) uint8 RGB, rows top-down; returns each file's digest."""
        if images.shape[1:] != (size, size, 3):
            raise ValueError(f"expected images of shape (n, {size}, {size}, 3), got {images.shape}")
        folder = os.path.join(self.out, IMAGES, self.class_name)
        digests = []
        for k, image in enumerate(images):
            data = encode_jpeg(image)
            atomic_write_bytes(os.path.join(folder, f"{sample_name(self.class_name, start + k)}.JPEG"), data)
            digests.append(file_digest(data))
        return digests


def check_annotations(
    out: Path,
    class_name: str,
    poses: dict[str, np.ndarray],
    size: int,
    vertices: np.ndarray,
    indices: list[int],
    tolerance: float = 1e-9,
) -> list[str]:
    """Problems with the annotation npz of poses ``indices``, read as ImageNet3D's tools read
    them, against poses.npz's arrays and the CAD ``vertices`` (V, 3): fields, types and values."""
    problems = []
    for i in indices:
        path = annotation_file(out, class_name, i)
        try:
            got = dict(np.load(path, allow_pickle=True))["annotations"][0]
        except FileNotFoundError:
            problems.append(f"{path}: missing")
            continue
        except (OSError, ValueError, KeyError, IndexError, EOFError) as exc:
            problems.append(f"{path}: unreadable ({exc})")
            continue
        want = annotation(poses, i, size, bboxes(poses, size, vertices, i, i + 1)[0], class_name)
        if not isinstance(got, dict) or set(got) != set(want):
            problems.append(f"{path}: annotations[0] has not the fields {sorted(want)}")
            continue
        bad = [
            k for k, v in want.items() if not _same(got[k], v, tolerance, angle=k in ("azimuth", "elevation", "theta"))
        ]
        if bad:
            problems.append(f"{path}: {', '.join(bad)} differ from poses.npz and the CAD model (value or type)")
    return problems


def _same(got: Any, want: Any, tolerance: float, angle: bool = False) -> bool:
    """Whether ``got`` has ``want``'s type (and dtype) and value (within ``tolerance``;
    angles compared modulo 2π)."""
    if type(got) is not type(want):
        return False
    if isinstance(want, str):
        return bool(got == want)
    if isinstance(want, np.ndarray):
        return (
            got.dtype == want.dtype and got.shape == want.shape and bool(np.allclose(got, want, rtol=0, atol=tolerance))
        )
    diff = float(got) - float(want)
    if angle:
        diff = (diff + np.pi) % (2 * np.pi) - np.pi
    return abs(diff) <= tolerance
