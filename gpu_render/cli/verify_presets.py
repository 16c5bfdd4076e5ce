"""``python -m gpu_render.verify OUT`` for a preset's output: reload the layout as the
benchmark's loader does, check every image against the chunk checksums in the manifest,
recompute the labels, and re-render a few images on the CPU (the reference renderer).

Problems are collected in a :class:`gpu_render.cli.verify.Report`; nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lmdb
import numpy as np
import simplejpeg

from gpu_render.cli.verify_preset_labels import verify_npz_files, verify_pickles, verify_symsol_labels
from gpu_render.dataset.layout import file_digest, read_manifest
from gpu_render.dataset.layouts import modelnet, symsol
from gpu_render.dataset.layouts.lmdb_store import db_name
from gpu_render.dataset.layouts.modelnet import ModelNetSpec
from gpu_render.dataset.layouts.modelnet_tree import scan_tree, tree_record
from gpu_render.dataset.layouts.render4cnn import render4cnn_files
from gpu_render.dataset.layouts.symsol import SymsolSpec
from gpu_render.dataset.owned import BuildFiles
from gpu_render.dataset.verify_checks import (
    CHANNEL_TOLERANCE,
    OBJECT_AGREEMENT,
    Report,
    check_chunks,
    check_extras,
    check_whole_files,
    decode_image,
    edge_pixels,
    one_line,
)
from gpu_render.errors import UsageError
from gpu_render.render.scene_reference import render_scene
from gpu_render.scene.solids import builtin_object


def preset_of(out: Path) -> str | None:
    """The preset that built ``out``, or None when it is no preset's output."""
    try:
        manifest = read_manifest(out) if out.is_dir() else None
    except UsageError:
        return None
    return manifest.get("preset") if manifest else None


def verify_preset(out: Path, reference: int = 4, seed: int = 0) -> Report:
    """Check a preset's output in ``out``. Raises UsageError when it is not one."""
    manifest = read_manifest(out)
    if manifest is None or "preset" not in manifest:
        raise UsageError(f"{out} holds no preset manifest")
    report = Report()
    sig = manifest["signature"]
    try:
        files = preset_files(sig)
    except ValueError as exc:
        raise UsageError(f"{out}/manifest.json: {exc}") from None
    if not manifest.get("complete"):
        report.problem(f"incomplete: re-run the build command of {out} to finish it")
        return report
    recorded = {int(k): v for k, v in manifest.get("chunks", {}).items()}
    rng = np.random.default_rng(seed)
    if manifest["preset"] == "render4cnn":
        from gpu_render.cli.verify_render4cnn import verify_render4cnn

        verify_render4cnn(out, sig, recorded, report)
    elif manifest["preset"] == "symsol":
        _verify_symsol(out, SymsolSpec.from_signature(sig), recorded, reference, rng, report)
    else:
        _verify_modelnet(out, ModelNetSpec.from_signature(sig), sig, recorded, reference, rng, report)
    check_whole_files(out, manifest, files, report)
    check_extras(out, files, report)
    return report


def preset_files(sig: Any) -> BuildFiles:
    """What the preset build of signature ``sig`` writes (ValueError for one this version does not read)."""
    preset = sig.get("preset") if isinstance(sig, dict) else None
    if preset == "symsol":
        return symsol.symsol_files(sig)
    if preset == "modelnet10-so3":
        return modelnet.modelnet_files(sig)
    if preset == "render4cnn":
        return render4cnn_files(sig)
    raise ValueError(f"preset {preset!r} is not one this version writes")


def check_recorded(
    recorded: dict[int, Any],
    chunks: dict[int, tuple[int, int]],
    digests: dict[int, dict[int, bytes]],
    sizes: list[int],
    report: Report,
    where: Callable[[int, int], str],
    sep: str = ":",
) -> None:
    """Every chunk of a preset is recorded, and each record's checksum matches its files
    (:func:`check_chunks`); a changed file is named by ``where`` and ``sep``."""
    for k in sorted(set(chunks) - set(recorded)):
        report.problem(f"chunk {k} is not recorded in the manifest")
    changed = f"{sep} differs from its checksum (changed since it was built)"
    check_chunks(recorded, chunks, digests, sizes, where, report, changed)


def _agreement(got: np.ndarray, want: np.ndarray) -> float:
    close = (np.abs(got.astype(np.int16) - want.astype(np.int16)) <= CHANNEL_TOLERANCE).all(-1)
    return float((close | edge_pixels(want)).mean())


def _verify_symsol(
    out: Path, opts: SymsolSpec, recorded: dict[int, Any], reference: int, rng: np.random.Generator, report: Report
) -> None:
    parts = symsol.shape_splits(opts)
    segments = {p.start: p for p in parts}
    starts = sorted(segments)
    chunks = symsol.SymsolLayout(opts).chunks()

    def where(size: int, i: int) -> Path:
        part = segments[max(s for s in starts if s <= i)]
        return symsol.image_path(out, part.split_name, part.shape, i - part.start)

    digests: dict[int, bytes] = {}
    for i in range(sum(p.count for p in parts)):
        try:
            digests[i] = file_digest(where(opts.size, i).read_bytes())
        except FileNotFoundError:
            report.problem(f"{where(opts.size, i)}: missing")
        except OSError as exc:
            report.problem(f"{where(opts.size, i)}: unreadable ({exc.strerror or one_line(exc)})")
    check_recorded(recorded, chunks, {opts.size: digests}, [opts.size], report, lambda s, i: str(where(s, i)))
    verify_symsol_labels(out, opts, parts, report)
    scores = []
    for _ in range(reference):
        part = parts[int(rng.integers(len(parts)))]
        i = int(rng.integers(part.count))
        path = symsol.image_path(out, part.split_name, part.shape, i)
        got, _, problem = decode_image(path, opts.size)
        if got is None:
            report.problem(str(problem))  # missing, not an image, or not S x S
            continue
        r = symsol.shape_rotations(opts, part)[i : i + 1]
        score = _agreement(got, render_scene(builtin_object(part.shape), opts.camera, opts.look, r, opts.size)[0])
        scores.append(score)
        if score < OBJECT_AGREEMENT["png"]:
            report.problem(f"{path}: agrees with the CPU reference on only {score:.2%} of pixels")
    if scores:
        report.say(f"reference: {len(scores)} image(s) re-rendered on the CPU agree on {np.mean(scores):.3%} of pixels")


def _verify_modelnet(
    out: Path,
    opts: ModelNetSpec,
    sig: dict[str, Any],
    recorded: dict[int, Any],
    reference: int,
    rng: np.random.Generator,
    report: Report,
) -> None:
    models = scan_tree(opts.meshes, opts.categories)
    if "models" in sig and tree_record(models) != sig["models"]:
        report.problem(
            f"--meshes {opts.meshes}: the tree changed since the build ({sig['models'].get('count')} "
            f"models then, {len(models)} now); the checks below use today's tree"
        )
    stored: dict[str, dict[str, bytes]] = {}
    for d in modelnet.databases(opts.views):
        folder = out / db_name(d.name)
        try:
            env = lmdb.open(str(folder), readonly=True, lock=False)
        except lmdb.Error as exc:
            report.problem(f"{folder}: not readable ({exc})")
            continue
        split_models = [m for m in models if m.split == d.split]
        verify_pickles(folder, opts, d, split_models, report)
        labels = list(modelnet.view_labels(opts, split_models, d.views))
        values: dict[str, bytes] = {}
        try:
            with env.begin() as txn:
                for key, _, _ in labels:
                    data = txn.get(key.encode())
                    if data is None:
                        report.problem(f"{folder}: key {key} is missing")
                    else:
                        values[key] = bytes(data)
        except lmdb.Error as exc:
            report.problem(f"{folder}: not readable ({one_line(exc)})")
        finally:
            env.close()
        stored[d.name] = values
    main = {0: f"train_{opts.views[0]}V", 1: f"test_{opts.views[1]}V"}
    chunks: dict[int, tuple[int, int]] = {}
    names: dict[int, str] = {}
    digests: dict[int, bytes] = {}
    for k, model in enumerate(models):  # chunk k is model k: its views of the main database
        start = chunks[k - 1][1] if k else 0
        chunks[k] = (start, start + opts.views[model.split])
        for v in range(opts.views[model.split]):
            names[start + v] = f"{out / db_name(main[model.split])}: key {model.key(v + 1)}"
            jpeg = stored.get(main[model.split], {}).get(model.key(v + 1))
            if jpeg is not None:  # a missing key is reported with its database
                digests[start + v] = file_digest(jpeg)
    check_recorded(recorded, chunks, {opts.size: digests}, [opts.size], report, lambda s, i: names[i], sep="")
    small = f"train_{opts.views[1]}V"
    if small != main[0] and small in stored:
        differ = [k for k, v in stored[small].items() if stored[main[0]].get(k) != v]
        if differ:
            report.problem(f"{small}: {len(differ)} view(s) differ from {main[0]}'s, e.g. {differ[0]}")
    verify_npz_files(out, opts, models, stored, rng, report)
    scores = []
    for _ in range(reference if models else 0):
        model = models[int(rng.integers(len(models)))]
        v = int(rng.integers(opts.views[model.split]))
        data = stored.get(main[model.split], {}).get(model.key(v + 1))
        if data is None:
            continue
        try:
            grey = simplejpeg.decode_jpeg(data, colorspace="GRAY")
        except ValueError as exc:
            report.problem(f"{main[model.split]} {model.key(v + 1)}: does not decode ({one_line(exc)})")
            continue
        if grey.shape != (opts.size, opts.size, 1):
            report.problem(
                f"{main[model.split]} {model.key(v + 1)}: is {grey.shape[1]}x{grey.shape[0]}, "
                f"expected {opts.size}x{opts.size}"
            )
            continue
        got = np.repeat(grey, 3, axis=2)
        r = modelnet.model_rotations(opts, model)[v : v + 1]
        from gpu_render.dataset.mesh_files import load_mesh_file  # trimesh: only when a model is checked

        score = _agreement(got, render_scene(load_mesh_file(model.path), opts.camera, opts.look, r, opts.size)[0])
        scores.append(score)
        if score < OBJECT_AGREEMENT["jpg"]:
            report.problem(f"{main[model.split]} {model.key(v + 1)}: agrees with the CPU reference on only {score:.2%}")
    if scores:
        report.say(f"reference: {len(scores)} image(s) re-rendered on the CPU agree on {np.mean(scores):.3%} of pixels")
