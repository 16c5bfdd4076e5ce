"""``python -m gpu_render.verify OUT`` for a ``--preset render4cnn`` set (docs/RENDER4CNN.md):
every image present under its name and matching its chunk's checksum, and the labels of
poses.npz consistent with each other, with the names and with the meshes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gpu_render.dataset.layout import chunk_digest, file_digest
from gpu_render.dataset.layouts.render4cnn import (
    Render4cnnSpec,
    band_intrinsics,
    file_geometry,
    image_crops,
    model_views,
)
from gpu_render.dataset.shapenet import find_models, parse_truncation, parse_viewpoints
from gpu_render.dataset.verify_checks import Report, one_line
from gpu_render.errors import UsageError
from gpu_render.scene.crop import crop_intrinsics
from gpu_render.scene.r4c_names import image_path, parse_name
from gpu_render.scene.r4c_views import view_poses

#: Labels recomputed in float64 must agree to this (degrees, file units, pixels).
LABEL_TOL = 1e-9


def verify_render4cnn(out: Path, sig: dict[str, Any], recorded: dict[int, Any], report: Report) -> None:
    """Check the images and poses.npz of the Render for CNN set in ``out`` (signature ``sig``)."""
    try:
        synsets = None if sig["synsets"] is None else tuple(sig["synsets"])
        models = find_models(Path(sig["meshes"]), synsets)
        spec = Render4cnnSpec(
            meshes=Path(sig["meshes"]),
            synsets=synsets,
            views_per_model=int(sig["views_per_model"]),
            viewpoints=parse_viewpoints(sig["viewpoints"]),
            truncation=parse_truncation(sig["truncation"]),
            seed=int(sig["seed"]),
        )
    except UsageError as exc:
        report.problem(f"cannot rebuild the views: {exc}")
        return
    if [f"{m.synset}/{m.md5}" for m in models] != sig["models"]:
        report.problem(f"--meshes {sig['meshes']}: the tree's models are not those the set was built from")
        return
    for what, source in (("viewpoints", spec.viewpoints), ("truncation", spec.truncation)):
        if getattr(source, "sha256", None) != sig.get(f"{what}_sha256"):
            report.problem(f"--{what} {sig[what]}: the file changed since the build")
            return
    try:
        labels = dict(np.load(out / "poses.npz"))
    except (OSError, ValueError) as exc:
        report.problem(f"{out}/poses.npz: unreadable ({one_line(exc)})")
        return
    index = 0
    for model in models:
        views, trunc, names = model_views(spec, model)
        vertices = file_geometry(str(model.path))[0]
        crops = image_crops(vertices, views, trunc)
        for v, name in enumerate(names):
            _check_image(out, labels, index, image_path(model.synset, model.md5, name), recorded, report)
            _check_labels(labels, index, views[v], trunc[v], crops[v], report)
            index += 1
    if len(labels.get("names", ())) != index:
        report.problem(f"poses.npz has {len(labels.get('names', ()))} names for {index} images")
    report.say(f"{index} images and their labels checked")


def _check_image(
    out: Path, labels: dict[str, np.ndarray], i: int, rel: str, recorded: dict[int, Any], report: Report
) -> None:
    if i >= len(labels["names"]) or str(labels["names"][i]) != rel:
        report.problem(f"poses.npz names[{i}] is not {rel}")
        return
    try:
        data = (out / rel).read_bytes()
    except OSError as exc:
        report.problem(f"{rel}: {'missing' if isinstance(exc, FileNotFoundError) else one_line(exc)}")
        return
    record = recorded.get(i)
    if record is None or record.get("sha256") != chunk_digest([file_digest(data)]):
        report.problem(f"{rel}: does not match the checksum recorded for it")
    with Image.open(out / rel) as im:
        x0, y0, x1, y1 = (int(c) for c in labels["crop"][i])
        if im.mode != "RGB" or im.size != (x1 - x0, y1 - y0):
            report.problem(f"{rel}: {im.mode} {im.size[0]} x {im.size[1]}, not RGB of the crop's size")


def _check_labels(
    labels: dict[str, np.ndarray], i: int, view: np.ndarray, trunc: np.ndarray, crop: np.ndarray, report: Report
) -> None:
    name = str(labels["names"][i])
    fields = parse_name(name)
    exact = np.array([labels[k][i] for k in ("azimuth", "elevation", "theta", "distance")])
    rounded = (fields.azimuth, fields.elevation, fields.t, fields.distance)
    if rounded != (round(exact[0]), round(exact[1]), round((-exact[2]) % 360), round(exact[3])):
        report.problem(f"{name}: the name does not round the labels {exact.tolist()}")
    if not np.allclose(exact, view, rtol=0, atol=LABEL_TOL):
        report.problem(f"{name}: azimuth, elevation, theta, distance are not the view drawn for it")
    r, t = view_poses(view[None])
    if not (np.allclose(labels["matrix"][i], r[0], atol=LABEL_TOL) and np.allclose(labels["translation"][i], t[0])):
        report.problem(f"{name}: matrix or translation is not the pose of its viewpoint")
    if not np.allclose(labels["truncation"][i], trunc, atol=0):
        report.problem(f"{name}: truncation is not the one drawn for it")
    if not np.array_equal(labels["crop"][i], crop):
        report.problem(f"{name}: crop {labels['crop'][i].tolist()} is not the mesh's crop {crop.tolist()}")
    if not np.allclose(labels["intrinsics"][i], crop_intrinsics(band_intrinsics(), crop)[0], atol=LABEL_TOL):
        report.problem(f"{name}: intrinsics is not K of the crop")
