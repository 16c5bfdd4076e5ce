"""``verify``'s label checks of a preset's output: every array of every label file is recomputed
from the manifest's options and compared, and a problem names the file and the array.

- SYMSOL: every array of ``{split}/rotations.npz`` (block by block: a full ``cyl`` array is
  1.2 GB) and of ``{split}/poses.npz``, and that neither holds an array the build never writes.
- ModelNet10-SO3: both pickles of each database (keys in order, every value), and image2sphere's
  npz files: ``rots`` and ``cat_ids`` recomputed whole, ``imgs`` read row by row from the zip
  (never whole: a full train set is 20 GB decoded) with a sample of rows compared with the
  database's JPEG decoded.

Floating arrays agree within LABEL_RTOL/LABEL_TOLERANCE (float32 stored against a float64
recomputation); integer and boolean arrays, and dtypes and shapes, must be equal.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import simplejpeg

from gpu_render.dataset.existing import DAMAGED
from gpu_render.dataset.layouts import modelnet, symsol
from gpu_render.dataset.layouts.lmdb_store import db_name
from gpu_render.dataset.layouts.modelnet import ModelNetSpec
from gpu_render.dataset.layouts.modelnet_tree import CadModel
from gpu_render.dataset.layouts.symsol import SymsolSpec
from gpu_render.dataset.verify_checks import Report, one_line
from gpu_render.scene.solids import builtin_object

LABEL_TOLERANCE = 1e-6  # absolute, float32 labels against a float64 recomputation
LABEL_RTOL = 1e-6  # relative, for labels in pixels (intrinsics, principal point, viewport)
PICKLE_TOLERANCE = 1e-9  # the pickles hold float64
#: Rows of each npz's ``imgs`` compared with the decoded JPEG (always the first and the last).
IMAGE_SAMPLE = 64


def compare(report: Report, where: str, got: np.ndarray, want: np.ndarray, atol: float = LABEL_TOLERANCE) -> bool:
    """Report (naming ``where``, "file: array") when ``got`` is not ``want``: another dtype or
    shape, integers or booleans not equal, floats beyond the tolerances. Returns True when equal."""
    if got.dtype != want.dtype or got.shape != want.shape:
        report.problem(f"{where} is {got.dtype} {got.shape}, expected {want.dtype} {want.shape}")
        return False
    if np.issubdtype(want.dtype, np.floating):
        bad = ~np.isclose(got, want, rtol=LABEL_RTOL, atol=atol, equal_nan=True)
    else:
        bad = got != want
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
        report.problem(f"{where} differs from a fresh computation in {int(bad.sum())} value(s), first at {first}")
        return False
    return True


def verify_symsol_labels(out: Path, opts: SymsolSpec, parts: list[symsol.ShapeSplit], report: Report) -> None:
    """Every array of rotations.npz and poses.npz of each split, recomputed."""
    arrays = 0
    for split, split_name in enumerate(symsol.SPLITS):
        mine = [p for p in parts if p.split == split]
        path = out / split_name / "rotations.npz"
        try:
            with open(path, "rb") as f, np.load(f) as rotations:  # numpy leaks its own handle on a bad zip
                _files_are(report, path, rotations.files, [p.shape for p in mine])
                for part in mine:
                    if part.shape in rotations.files:
                        arrays += _compare_rotations(report, path, part, opts, rotations[part.shape])
        except DAMAGED as exc:
            report.problem(f"{path}: not readable ({one_line(exc)})")
        path = out / split_name / "poses.npz"
        try:
            with open(path, "rb") as f, np.load(f) as poses:
                wanted: list[str] = []
                for part in mine:
                    for name, want in symsol.poses_labels(opts, part).items():
                        key = f"{part.shape}_{name}"
                        wanted.append(key)
                        if key in poses.files:
                            compare(report, f"{path}: {key}", poses[key], np.asarray(want))
                            arrays += 1
                _files_are(report, path, poses.files, wanted)
        except DAMAGED as exc:
            report.problem(f"{path}: not readable ({one_line(exc)})")
    report.say(f"rotations.npz and poses.npz: {arrays} array(s) recomputed and compared")


def _files_are(report: Report, path: Path, got: list[str], want: list[str]) -> None:
    missing, extra = [k for k in want if k not in got], [k for k in got if k not in want]
    if missing:
        report.problem(f"{path}: no array {', '.join(missing[:3])}{' ..' if len(missing) > 3 else ''}")
    if extra:
        report.problem(
            f"{path}: arrays the build never writes: {', '.join(extra[:3])}{' ..' if len(extra) > 3 else ''}"
        )


def _compare_rotations(report: Report, path: Path, part: symsol.ShapeSplit, opts: SymsolSpec, got: np.ndarray) -> int:
    """rotations.npz[shape] against its recomputation, in the build's own row blocks."""
    obj = builtin_object(part.shape)
    k = len(obj.symmetry) if obj.featureless else 1
    where = f"{path}: {part.shape}"
    if got.dtype != np.float32 or got.shape != (part.count, k, 3, 3):
        report.problem(f"{where} is {got.dtype} {got.shape}, expected float32 {(part.count, k, 3, 3)}")
        return 1
    a = 0
    for block in symsol.equivalent_blocks(obj, symsol.shape_rotations(opts, part)):
        if not compare(report, f"{where} rows {a}..{a + len(block) - 1}", got[a : a + len(block)], block):
            break
        a += len(block)
    return 1


def verify_pickles(
    folder: Path, opts: ModelNetSpec, d: modelnet.Database, models: list[CadModel], report: Report
) -> None:
    """``viewID2quat.pkl`` and ``viewID2euler.pkl`` of database ``d``: the keys in order and
    every value, recomputed."""
    fresh = modelnet.pickle_values(opts, d, models)
    for name, want in zip(("viewID2quat.pkl", "viewID2euler.pkl"), fresh, strict=False):
        path = folder / name
        try:
            with open(path, "rb") as f:
                got = pickle.load(f, encoding="latin1")  # as Spherical Regression reads it
        except Exception as exc:  # damaged pickle bytes can raise almost any exception; each is one problem
            report.problem(f"{path}: not readable ({type(exc).__name__}: {one_line(exc)})")
            continue
        if not isinstance(got, dict) or list(got) != list(want):
            report.problem(f"{path}: its keys are not the views of the tree's models")
            continue
        try:
            values = np.array([np.asarray(v, dtype=np.float64) for v in got.values()])
        except (TypeError, ValueError, OverflowError) as exc:
            report.problem(f"{path}: values are not arrays of one shape ({exc})")
            continue
        if len(want):
            compare(report, f"{path}: values", values, np.array(list(want.values())), atol=PICKLE_TOLERANCE)


def verify_npz_files(
    out: Path,
    opts: ModelNetSpec,
    models: list[CadModel],
    stored: dict[str, dict[str, bytes]],
    rng: np.random.Generator,
    report: Report,
) -> None:
    """image2sphere's npz files: ``rots`` and ``cat_ids`` recomputed; ``imgs``' header, and a
    sample of its rows against the JPEGs of ``stored`` (database name -> key -> bytes) decoded."""
    by_name = {d.name: d for d in modelnet.databases(opts.views)}
    sampled = 0
    for npz_name, source in modelnet.npz_sources(opts.views).items():
        d = by_name[source]
        labels = list(modelnet.view_labels(opts, [m for m in models if m.split == d.split], d.views))
        path = out / modelnet.NPZ_FOLDER / f"modelnet10_{npz_name}.npz"
        try:
            with open(path, "rb") as f, np.load(f) as data:
                _files_are(report, path, data.files, ["imgs", "rots", "cat_ids"])
                rots, cat_ids = modelnet.npz_labels(labels)
                for key, want in (("rots", rots), ("cat_ids", cat_ids)):
                    if key in data.files:
                        compare(report, f"{path}: {key}", data[key], want)
            if (out / db_name(source)).is_dir():
                sampled += _compare_images(
                    path, [k for k, _, _ in labels], stored.get(source, {}), opts.size, rng, report
                )
        except DAMAGED as exc:
            report.problem(f"{path}: not readable ({one_line(exc)})")
    report.say(f"pickles and npz files recomputed; {sampled} npz image(s) compared with their database's")


def _compare_images(
    path: Path, keys: list[str], jpegs: dict[str, bytes], size: int, rng: np.random.Generator, report: Report
) -> int:
    """Rows of ``imgs`` (uint8 (L, S, S, 1)) against the JPEGs of ``keys`` decoded (one channel)."""
    want_shape = (len(keys), size, size, 1)
    with zipfile.ZipFile(path) as z, z.open("imgs.npy") as f:
        shape, dtype = _npy_header(f)
        if dtype != np.uint8 or shape != want_shape:
            report.problem(f"{path}: imgs is {dtype} {shape}, expected uint8 {want_shape}")
            return 0
        if not keys:
            return 0
        rows = set(rng.choice(len(keys), min(IMAGE_SAMPLE, len(keys)), replace=False).tolist()) | {0, len(keys) - 1}
        differ, checked = [], 0
        for i, row in _rows(f, size * size, sorted(rows)):
            data = jpegs.get(keys[i])
            if data is None:
                continue  # a missing key is reported with the database
            checked += 1
            if not np.array_equal(row.reshape(size, size, 1), simplejpeg.decode_jpeg(data, colorspace="GRAY")):
                differ.append(i)
        if differ:
            report.problem(
                f"{path}: imgs differs from the database's JPEG decoded in {len(differ)} of {checked} "
                f"sampled row(s), first row {differ[0]} ({keys[differ[0]]})"
            )
        return checked


def _npy_header(f: Any) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(f)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise ValueError(f"npy format {version} is not one numpy's np.save writes")
    shape, fortran, dtype = readers[version](f)
    if fortran:
        raise ValueError("imgs is in Fortran order")
    return tuple(shape), dtype


def _rows(f: Any, row_bytes: int, wanted: list[int], block: int = 1 << 24) -> Iterator[tuple[int, np.ndarray]]:
    """(i, row as uint8 (row_bytes,)) for each sorted index of ``wanted``, reading ``f`` forward."""
    at = 0
    for i in wanted:
        skip = (i - at) * row_bytes
        while skip > 0:
            got = len(f.read(min(skip, block)))
            if got == 0:
                raise ValueError("imgs is truncated")
            skip -= got
        data = f.read(row_bytes)
        if len(data) != row_bytes:
            raise ValueError("imgs is truncated")
        at = i + 1
        yield i, np.frombuffer(data, np.uint8)
