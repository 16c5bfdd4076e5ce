"""``--layout imagenet3d``'s whole-dataset files: the split lists and the CAD model.

    OUT/lists/{class}_imagenet_train.txt   the train poses' names, one a line, in pose order
    OUT/lists/{class}_imagenet_val.txt     the val poses' names
    OUT/CAD/{class}/01.off                 the object's triangles in the annotations' model frame

Both are written when the build is sealed (:func:`write_tree`), through temporary names, and
checked by verify (:func:`check_tree`). The split is a pure function of the pose count and
``--val-fraction`` (:func:`val_poses`); the OFF file of the object's triangles
(:func:`off_bytes`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from gpu_render.dataset.atomic import atomic_write_bytes
from gpu_render.dataset.imagenet3d import CAD_INDEX, sample_name

LISTS, CAD = "lists", "CAD"
SPLITS = ("train", "val")
DEFAULT_VAL_FRACTION = 0.1


def list_file(out: Path, class_name: str, split: str) -> Path:
    return out / LISTS / f"{class_name}_imagenet_{split}.txt"


def cad_file(out: Path, class_name: str) -> Path:
    return out / CAD / class_name / f"{CAD_INDEX:02d}.off"


def pose_keys(count: int) -> np.ndarray:
    """A fixed pseudo-random key per pose index 0..count-1: (count,) uint64, all distinct
    (splitmix64's output function, a bijection of the index)."""
    z = np.arange(count, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)  # uint64 arrays wrap
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def val_count(count: int, fraction: float) -> int:
    """How many of ``count`` poses go to val: ``fraction * count`` rounded half up, but at
    least 1 and at most count - 1 when fraction > 0 and count >= 2 (so neither list is empty)."""
    k = math.floor(fraction * count + 0.5)
    if fraction > 0 and count >= 2:
        k = min(max(k, 1), count - 1)
    return min(k, count)


def val_poses(count: int, fraction: float) -> np.ndarray:
    """(count,) bool: True for the val poses, the :func:`val_count` poses of smallest
    :func:`pose_keys`; the rest are train."""
    val = np.zeros(count, dtype=bool)
    val[np.argsort(pose_keys(count), kind="stable")[: val_count(count, fraction)]] = True
    return val


def list_bytes(class_name: str, indices: np.ndarray) -> bytes:
    """A list file: the names of poses ``indices`` (ascending), each followed by a newline."""
    return "".join(f"{sample_name(class_name, int(i))}\n" for i in indices).encode()


def split_lists(class_name: str, count: int, fraction: float) -> dict[str, bytes]:
    """split (train, val) -> its list file's bytes."""
    val = val_poses(count, fraction)
    return {"train": list_bytes(class_name, np.flatnonzero(~val)), "val": list_bytes(class_name, np.flatnonzero(val))}


def off_bytes(positions: np.ndarray) -> bytes:
    """The OFF file of triangles ``positions`` (T, 3, 3) float32 (model frame, unitless):
    ``OFF``, ``V F 0``, the V distinct corners (``%.9g``, exact for float32), then each
    triangle as ``3 i j k`` in its own corner order."""
    corners = np.asarray(positions, dtype=np.float32).reshape(-1, 3)
    vertices, index = np.unique(corners, axis=0, return_inverse=True)
    faces = index.reshape(-1, 3)
    lines = ["OFF", f"{len(vertices)} {len(faces)} 0"]
    lines += [f"{x:.9g} {y:.9g} {z:.9g}" for x, y, z in vertices.tolist()]
    lines += [f"3 {a} {b} {c}" for a, b, c in faces.tolist()]
    return ("\n".join(lines) + "\n").encode()


def tree_files(out: Path, class_name: str, count: int, fraction: float, positions: np.ndarray) -> dict[Path, bytes]:
    """Every whole-dataset file of the layout: path -> bytes."""
    files = {
        list_file(out, class_name, split): data for split, data in split_lists(class_name, count, fraction).items()
    }
    files[cad_file(out, class_name)] = off_bytes(positions)
    return files


def write_tree(out: Path, class_name: str, count: int, fraction: float, positions: np.ndarray) -> None:
    """Write the lists and the CAD model (each through a temporary name)."""
    for path, data in tree_files(out, class_name, count, fraction, positions).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)


def check_tree(out: Path, class_name: str, count: int, fraction: float, positions: np.ndarray) -> list[str]:
    """Problems with the lists and the CAD model: missing, or not the bytes the build writes."""
    problems = []
    for path, want in tree_files(out, class_name, count, fraction, positions).items():
        try:
            got = path.read_bytes()
        except FileNotFoundError:
            problems.append(f"{path}: missing")
            continue
        except OSError as exc:
            problems.append(f"{path}: unreadable ({exc.strerror or exc})")
            continue
        if got != want:
            what = "the object's triangles" if path.suffix == ".off" else f"the {path.stem.rsplit('_', 1)[-1]} split"
            problems.append(f"{path}: differs from {what}")
    return problems
