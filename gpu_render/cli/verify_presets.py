"""``python -m gpu_render.verify OUT`` for a preset's output: reload the layout as the
benchmark's loader does, check every image against the chunk checksums in the manifest,
recompute the labels, and re-render a few images on the CPU (the reference renderer).

Problems are collected in a :class:`gpu_render.cli.verify.Report`; nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lmdb
import numpy as np
import simplejpeg

from gpu_render.cli.verify_preset_labels import verify_npz_files, verify_pickles, verify_symsol_labels
from gpu_render.dataset.layout import changed_files, chunk_digest, file_digest, read_manifest
from gpu_render.dataset.layouts import modelnet, symsol
from gpu_render.dataset.layouts.lmdb_store import db_name
from gpu_render.dataset.layouts.modelnet import ModelNetSpec
from gpu_render.dataset.layouts.modelnet_tree import scan_tree, tree_record
from gpu_render.dataset.layouts.render4cnn import render4cnn_files
from gpu_render.dataset.layouts.symsol import SymsolSpec
from gpu_render.dataset.mesh_files import load_mesh_file
from gpu_render.dataset.owned import BuildFiles
from gpu_render.dataset.verify_checks import (
    CHANNEL_TOLERANCE,
    OBJECT_AGREEMENT,
    Report,
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


def _agreement(got: np.ndarray, want: np.ndarray) -> float:
    close = (np.abs(got.astype(np.int16) - want.astype(np.int16)) <= CHANNEL_TOLERANCE).all(-1)
    return float((close | edge_pixels(want)).mean())


def _verify_symsol(
    out: Path, opts: SymsolSpec, recorded: dict[int, Any], reference: int, rng: np.random.Generator, report: Report
) -> None:
    parts = symsol.shape_splits(opts)
    segments = {p.start: p for p in parts}
    starts = sorted(segments)
    checked = 0
    for key, (start, stop) in symsol.SymsolLayout(opts).chunks().items():
        part = segments[max(s for s in starts if s <= start)]
        digests = []
        paths = [symsol.image_path(out, part.split_name, part.shape, i - part.start) for i in range(start, stop)]
        for path in paths:
            try:
                digests.append(file_digest(path.read_bytes()))
            except FileNotFoundError:
                report.problem(f"{path}: missing")
            except OSError as exc:
                report.problem(f"{path}: unreadable ({exc.strerror or one_line(exc)})")
        record = recorded.get(key)
        if record is None:
            report.problem(f"chunk {key} is not recorded in the manifest")
        elif len(digests) == stop - start and chunk_digest(digests) != record.get("sha256"):
            changed = changed_files(record, digests)
            for at in changed or []:
                report.problem(f"{paths[at]}: differs from its checksum (truncated or changed since it was built)")
            if not changed:
                report.problem(
                    f"{paths[0]} .. {paths[-1].name}: {len(digests)} image(s) differ from their checksum "
                    "(truncated or changed)"
                )
        checked += len(digests)
    report.say(f"checksums: {checked} image(s) checked against the manifest")
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
    checked = 0
    for k, model in enumerate(models):
        values = stored.get(main[model.split], {})
        views = opts.views[model.split]
        jpegs = [values.get(model.key(v + 1)) for v in range(views)]
        record = recorded.get(k)
        if any(j is None for j in jpegs) or record is None:
            continue  # reported above
        digests = [file_digest(j) for j in jpegs]  # type: ignore[arg-type]
        if chunk_digest(digests) != record.get("sha256"):
            changed = changed_files(record, digests)
            for at in changed or []:
                report.problem(
                    f"{out / db_name(main[model.split])}: key {model.key(at + 1)} differs from its checksum "
                    "(changed since it was built)"
                )
            if not changed:
                report.problem(
                    f"{main[model.split]}: the views of {model.category}_{model.cad:04d} differ from their checksum"
                )
        checked += views
    small = f"train_{opts.views[1]}V"
    if small != main[0] and small in stored:
        differ = [k for k, v in stored[small].items() if stored[main[0]].get(k) != v]
        if differ:
            report.problem(f"{small}: {len(differ)} view(s) differ from {main[0]}'s, e.g. {differ[0]}")
    report.say(f"checksums: {checked} image(s) checked against the manifest")
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
        score = _agreement(got, render_scene(load_mesh_file(model.path), opts.camera, opts.look, r, opts.size)[0])
        scores.append(score)
        if score < OBJECT_AGREEMENT["jpg"]:
            report.problem(f"{main[model.split]} {model.key(v + 1)}: agrees with the CPU reference on only {score:.2%}")
    if scores:
        report.say(f"reference: {len(scores)} image(s) re-rendered on the CPU agree on {np.mean(scores):.3%} of pixels")
