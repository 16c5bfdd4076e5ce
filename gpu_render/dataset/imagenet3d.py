"""``--layout imagenet3d``: ``OUT/{class}/{name}.JPEG`` with ``OUT/{class}/{name}.npz`` beside it.

The npz's ``annotations`` is an object array of one dict (FORMATS.md, PASCAL3D+/ImageNet3D):
azimuth, elevation, theta (radians), distance (object units), viewport (3000), focal
(f_px / 3000), px, py (principal point, px), bbox (x1, y1, x2, y2) float64 px from the
aliased mask (inclusive pixel indices of the object's extreme rows and columns; all -1 when
the object covers no pixel), height, width (the image's, px), class (the object's name),
cad_index (1), object_status ``status_good`` and dense (False: one object per image, not a
dense scene). Readers open it with
``np.load(path, allow_pickle=True)["annotations"][0]``.

Images are written by encoder processes (:class:`Imagenet3dSink`); the annotations by the
build's main process from the mask it renders (:func:`write_annotations`), before the chunk is
recorded. Both through temporary names, then rename.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from gpu_render.dataset.atomic import atomic_write_bytes
from gpu_render.dataset.encode import encode_jpeg
from gpu_render.dataset.layout import file_digest

STATUS = "status_good"
CAD_INDEX = 1


def sample_name(class_name: str, index: int) -> str:
    """The file stem of pose ``index`` (0-based): ``{class}_{index:06d}``."""
    return f"{class_name}_{index:06d}"


def image_file(out: Path, class_name: str, index: int) -> Path:
    return out / class_name / f"{sample_name(class_name, index)}.JPEG"


def annotation_file(out: Path, class_name: str, index: int) -> Path:
    return out / class_name / f"{sample_name(class_name, index)}.npz"


def bbox_from_mask(mask: np.ndarray) -> np.ndarray:
    """(x1, y1, x2, y2) float64 of an (S, S) mask's nonzero pixels (column, row indices,
    inclusive); (-1, -1, -1, -1) for an empty mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return np.full(4, -1.0)
    return np.array([cols[0], rows[0], cols[-1], rows[-1]], dtype=np.float64)


def annotation(poses: dict[str, np.ndarray], index: int, size: int, mask: np.ndarray, class_name: str) -> dict[str, Any]:
    """The one dict of pose ``index``'s ``annotations``: poses are poses.npz's arrays, mask (S, S)."""
    return {
        "azimuth": float(poses["azimuth"][index]),
        "elevation": float(poses["elevation"][index]),
        "theta": float(poses["theta"][index]),
        "distance": float(poses["distance"][index]),
        "viewport": float(poses["viewport"]),
        "focal": float(poses[f"focal_{size}"]),
        "px": float(poses[f"px_{size}"]),
        "py": float(poses[f"py_{size}"]),
        "bbox": bbox_from_mask(mask),
        "height": size,
        "width": size,
        "class": class_name,
        "cad_index": CAD_INDEX,
        "object_status": STATUS,
        "dense": False,  # one rendered object per image
    }


def annotation_bytes(record: dict[str, Any]) -> bytes:
    """The npz file of one annotation (numpy writes fixed zip timestamps: deterministic)."""
    annotations = np.empty(1, dtype=object)
    annotations[0] = record
    buf = io.BytesIO()
    np.savez(buf, annotations=annotations)
    return buf.getvalue()


def write_annotations(out: Path, class_name: str, poses: dict[str, np.ndarray], size: int, start: int,
                      mask: np.ndarray) -> None:
    """Write the npz of poses ``start .. start+len(mask)-1``; mask (n, S, S) uint8."""
    for k, m in enumerate(mask):
        record = annotation(poses, start + k, size, m, class_name)
        atomic_write_bytes(annotation_file(out, class_name, start + k), annotation_bytes(record))


@dataclass(frozen=True)
class Imagenet3dSink:
    """Writes each image as ``OUT/{class}/{class}_{index:06d}.JPEG``; picklable for encoder processes."""

    out: Path
    class_name: str

    whole_chunks: ClassVar[bool] = False

    def write(self, size: int, start: int, images: np.ndarray) -> list[bytes]:
        """images: (n, size, size, 3) uint8 RGB, rows top-down; returns each file's digest."""
        if images.shape[1:] != (size, size, 3):
            raise ValueError(f"expected images of shape (n, {size}, {size}, 3), got {images.shape}")
        folder = os.path.join(self.out, self.class_name)
        digests = []
        for k, image in enumerate(images):
            data = encode_jpeg(image)
            atomic_write_bytes(os.path.join(folder, f"{sample_name(self.class_name, start + k)}.JPEG"), data)
            digests.append(file_digest(data))
        return digests


def check_annotations(out: Path, class_name: str, poses: dict[str, np.ndarray], size: int, mask: np.ndarray,
                      indices: list[int], tolerance: float = 1e-9) -> list[str]:
    """Problems with the annotation npz of poses ``indices``, read as ImageNet3D's tools read
    them, against poses.npz's arrays and the (N, S, S) mask."""
    problems = []
    for i in indices:
        path = annotation_file(out, class_name, i)
        try:
            with np.load(path, allow_pickle=True) as data:
                got = data["annotations"][0]
        except FileNotFoundError:
            problems.append(f"{path}: missing")
            continue
        except (OSError, ValueError, KeyError, IndexError, EOFError) as exc:
            problems.append(f"{path}: unreadable ({exc})")
            continue
        want = annotation(poses, i, size, np.asarray(mask[i]), class_name)
        if not isinstance(got, dict) or set(got) != set(want):
            problems.append(f"{path}: annotations[0] has not the fields {sorted(want)}")
            continue
        bad = [k for k, v in want.items() if not _same(got[k], v, tolerance)]
        if bad:
            problems.append(f"{path}: {', '.join(bad)} differ from poses.npz and the mask")
    return problems


def _same(got: Any, want: Any, tolerance: float) -> bool:
    if isinstance(want, str):
        return got == want
    try:
        a, b = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=0, atol=tolerance))
