"""ShapeNetCore trees and Render for CNN's sources of viewpoints and truncations, read from files.

A tree (``--meshes DIR``) holds ``{synset}/{md5}/model.obj`` (ShapeNetCore v1) or
``{synset}/{md5}/models/model_normalized.obj`` (v2), each with its MTL and textures beside it.
:func:`find_models` lists the models of the chosen synsets, sorted by synset then model name.

``--viewpoints`` is ``uniform[:E0,E1:T0,T1:D0,D1]`` or ``file:PATH``; ``--truncation`` is ``none``,
``normal[:SIGMA]`` or ``file:PATH`` (:mod:`gpu_render.scene.r4c_views`). A file is a .npy of
shape (M, 4) or text of M rows of 4 numbers separated by spaces (Render for CNN's
``view_distribution/{class}.txt`` and ``truncation_distribution/{class}.txt`` as its MATLAB
writes them): viewpoint rows are (azimuth, elevation, theta, distance), truncation rows
(left, right, top, bottom). Bad input raises :class:`gpu_render.errors.UsageError` with one line.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpu_render.errors import UsageError
from gpu_render.scene.r4c_views import (
    NormalTruncation,
    NoTruncation,
    RowTruncation,
    RowViews,
    TruncationSource,
    UniformViews,
    ViewpointSource,
    canonical_views,
)

#: The twelve PASCAL3D+ classes and their ShapeNet synsets, in Render for CNN's order
#: (``global_variables.py.example``).
PASCAL3D_SYNSETS: dict[str, str] = {
    "aeroplane": "02691156",
    "bicycle": "02834778",
    "boat": "02858304",
    "bottle": "02876657",
    "bus": "02924116",
    "car": "02958343",
    "chair": "03001627",
    "diningtable": "04379243",
    "motorbike": "03790512",
    "sofa": "04256520",
    "train": "04468005",
    "tvmonitor": "03211117",
}
V1_FILE = "model.obj"
V2_FILE = "models/model_normalized.obj"


@dataclass(frozen=True)
class ShapeNetModel:
    """One model of a tree: its synset and model folder names, and the OBJ file to load
    (v2's ``models/model_normalized.obj`` when the folder has it, else v1's ``model.obj``)."""

    synset: str
    md5: str
    path: Path


def parse_synsets(text: str | None) -> tuple[str, ...]:
    """``--synsets``: comma-separated synset ids or PASCAL3D+ class names, any of the twelve;
    None or empty means all twelve. Returns synset ids, sorted, each once."""
    if not text:
        return tuple(sorted(PASCAL3D_SYNSETS.values()))
    known = set(PASCAL3D_SYNSETS.values())
    out = set()
    for item in (s.strip() for s in text.split(",")):
        synset = PASCAL3D_SYNSETS.get(item, item)
        if synset not in known:
            names = ", ".join(f"{n} {s}" for n, s in PASCAL3D_SYNSETS.items())
            raise UsageError(f"--synsets: unknown synset {item!r}: use PASCAL3D+'s twelve ({names})")
        out.add(synset)
    return tuple(sorted(out))


def find_models(root: Path, synsets: tuple[str, ...] | None = None) -> list[ShapeNetModel]:
    """The models of a ShapeNetCore v1 or v2 tree, sorted by (synset, md5).

    synsets: the synset ids to take (:func:`parse_synsets`); None means all twelve, and then a
    synset without a folder in the tree is passed over. A synset named explicitly must have
    its folder. A model folder without either OBJ file is passed over. Raises UsageError for a
    missing ``root``, a named synset without a folder, or no models at all.
    """
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"--meshes {root}: no such folder")
    explicit = synsets is not None
    chosen = parse_synsets(None) if synsets is None else synsets
    models = []
    for synset in chosen:
        folder = root / synset
        if not folder.is_dir():
            if explicit:
                raise UsageError(f"--meshes {root}: no folder {synset} for synset {synset}")
            continue
        for model in sorted(p for p in folder.iterdir() if p.is_dir()):
            for rel in (V2_FILE, V1_FILE):
                if (model / rel).is_file():
                    models.append(ShapeNetModel(synset, model.name, model / rel))
                    break
    if not models:
        raise UsageError(
            f"--meshes {root}: no models ({{synset}}/{{md5}}/{V1_FILE} or {{synset}}/{{md5}}/{V2_FILE}) "
            f"for synsets {', '.join(chosen)}"
        )
    return models


def read_rows(path: Path, option: str) -> tuple[np.ndarray, str]:
    """The (M, 4) float64 rows of a .npy or text file, and the file's sha256 (hex).
    Raises UsageError naming ``option`` and the file for a missing file, an unreadable one, a
    shape other than (M >= 1, 4) or a value that is not finite."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{option} file:{path}: cannot read it ({exc.strerror or exc})") from exc
    try:
        if path.suffix.lower() == ".npy":
            rows = np.load(io.BytesIO(data), allow_pickle=False)
        else:
            rows = np.loadtxt(io.StringIO(data.decode("utf-8")), dtype=np.float64, ndmin=2)
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise UsageError(f"{option} file:{path}: not a .npy or text file of numbers ({exc})".splitlines()[0]) from exc
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[1] != 4 or len(rows) == 0 or not np.issubdtype(rows.dtype, np.number):
        raise UsageError(f"{option} file:{path}: need rows of 4 numbers, got shape {rows.shape}")
    rows = rows.astype(np.float64)
    if not np.all(np.isfinite(rows)):
        raise UsageError(f"{option} file:{path}: row {int(np.argmin(np.isfinite(rows).all(axis=1))) + 1} is not finite")
    return rows, hashlib.sha256(data).hexdigest()


def parse_viewpoints(text: str) -> ViewpointSource:
    """``--viewpoints``: ``uniform``, ``uniform:E0,E1:T0,T1:D0,D1`` (ranges of elevation and theta
    in degrees and distance in file units) or ``file:PATH`` (read and checked here)."""
    if text == "uniform":
        return UniformViews()
    kind, _, arg = text.partition(":")
    if kind == "uniform":
        return _uniform(text, arg)
    if kind == "file" and arg:
        rows, digest = read_rows(Path(arg), "--viewpoints")
        try:
            rows = canonical_views(rows)
        except ValueError as exc:
            raise UsageError(f"--viewpoints file:{arg}: {exc}") from exc
        return RowViews(path=arg, sha256=digest, rows=rows)
    raise UsageError(f"--viewpoints: unknown source {text!r}: use uniform or file:PATH")


def _uniform(text: str, arg: str) -> UniformViews:
    """``uniform:E0,E1:T0,T1:D0,D1`` parsed, or a one-line UsageError."""
    try:
        pairs = [[float(x) for x in part.split(",")] for part in arg.split(":")]
        if len(pairs) != 3 or any(len(p) != 2 for p in pairs):
            raise ValueError("need three ranges")
        (e0, e1), (t0, t1), (d0, d1) = pairs
        return UniformViews(elevation=(e0, e1), theta=(t0, t1), distance=(d0, d1))
    except ValueError as exc:
        raise UsageError(
            f"--viewpoints {text}: uniform takes E0,E1:T0,T1:D0,D1 with -90 <= E0 <= E1 <= 90, "
            f"-180 < T0 <= T1 <= 180 and 0 < D0 <= D1, e.g. uniform:-85,85:-45,45:2,3"
        ) from exc


def parse_truncation(text: str) -> TruncationSource:
    """``--truncation``: ``none``, ``normal[:SIGMA]`` (SIGMA >= 0, default 0.1) or ``file:PATH``."""
    kind, _, arg = text.partition(":")
    if text == "none":
        return NoTruncation()
    if kind == "normal":
        try:
            sigma = float(arg) if arg else NormalTruncation().sigma
        except ValueError:
            sigma = -1.0
        if not (0.0 <= sigma < float("inf")):
            raise UsageError(f"--truncation {text}: normal takes a standard deviation >= 0, e.g. normal:0.1")
        return NormalTruncation(sigma=sigma)
    if kind == "file" and arg:
        rows, digest = read_rows(Path(arg), "--truncation")
        return RowTruncation(path=arg, sha256=digest, rows=rows)
    raise UsageError(f"--truncation: unknown source {text!r}: use none, normal[:SIGMA] or file:PATH")
