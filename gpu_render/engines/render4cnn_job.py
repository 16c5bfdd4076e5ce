"""The build job of ``--preset render4cnn`` (docs/RENDER4CNN.md), for the command line and for
``gpu_render.build(out, preset="render4cnn", meshes=..., ...)``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from gpu_render.dataset.backgrounds import photo_catalogue
from gpu_render.dataset.layouts.render4cnn import DEFAULT_VIEWS_PER_MODEL, Render4cnnSpec
from gpu_render.dataset.shapenet import parse_synsets, parse_truncation, parse_viewpoints
from gpu_render.engines.job import BuildJob
from gpu_render.errors import UsageError
from gpu_render.scene.spec import DEFAULT_BACKGROUND_RATIO, SceneSpec

#: Its own keywords (the command line's options with ``_`` for ``-``).
RENDER4CNN_OPTIONS = (
    "meshes",
    "synsets",
    "views_per_model",
    "viewpoints",
    "truncation",
    "lights",
    "backgrounds",
    "background_ratio",
    "textures",
    "seed",
)
MAX_VIEWS_PER_MODEL = 100000


def make_render4cnn_job(out: Path | None, run: dict[str, Any], **o: Any) -> BuildJob:
    """The job of ``--preset render4cnn`` from its options as keywords (None or left out: the
    default); ``synsets`` a comma-separated string or a sequence of ids or class names. run:
    the job's fields of how it runs (:func:`gpu_render.engines.api.run_options`, checked by the
    caller). Raises UsageError with one line naming the option."""
    if o.get("meshes") is None:
        raise UsageError("--preset render4cnn needs --meshes DIR, a ShapeNetCore tree (DIR/{synset}/{md5}/...)")
    views = DEFAULT_VIEWS_PER_MODEL if o.get("views_per_model") is None else o["views_per_model"]
    if isinstance(views, bool) or not isinstance(views, int) or not 1 <= views <= MAX_VIEWS_PER_MODEL:
        raise UsageError(f"argument --views-per-model: must be 1..{MAX_VIEWS_PER_MODEL}, got {views!r}")
    seed = o.get("seed") or 0
    synsets = o.get("synsets")
    if synsets is not None and not isinstance(synsets, str) and isinstance(synsets, Sequence):
        synsets = ",".join(str(s) for s in synsets)
    options: dict[str, Any] = {"lights": o.get("lights") or "render4cnn", "look_seed": seed}
    for name in ("backgrounds", "background_ratio"):
        if o.get(name) is not None:
            options[name] = o[name]
    spec = SceneSpec.create(object="cube", **options)
    look = spec.look()
    if spec.backgrounds is not None:
        ratio = DEFAULT_BACKGROUND_RATIO if spec.background_ratio is None else float(spec.background_ratio)
        look = replace(look, photos=photo_catalogue(Path(spec.backgrounds), ratio))
    preset = Render4cnnSpec(
        meshes=Path(o["meshes"]),
        synsets=parse_synsets(synsets) if synsets else None,
        views_per_model=views,
        viewpoints=parse_viewpoints(o.get("viewpoints") or "uniform"),
        truncation=parse_truncation(o.get("truncation") or "normal"),
        seed=seed,
        look=look,
        textures=o.get("textures") is not False,
    )
    return BuildJob(out=out or Path("render4cnn"), batch=1, preset=preset, **run)
