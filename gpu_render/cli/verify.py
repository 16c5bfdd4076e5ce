"""``python -m gpu_render.verify OUT``: is this dataset complete and correct?

Checks the manifest, that every expected file exists and decodes (``--sample K``: a random
K poses), that each chunk's checksum matches its files (full check only), the labels against
a fresh computation, and a sample of images against the CPU reference renderer. Prints a
short report; exit 0 when complete and correct, 1 with the list of problems otherwise, and
2 when OUT is not a dataset at all.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from gpu_render.cli.arg_types import Parser
from gpu_render.cli.scene_options import scene_from_description
from gpu_render.dataset.imagenet3d import cad_vertices, check_annotations
from gpu_render.dataset.imagenet3d_tree import check_tree
from gpu_render.dataset.layout import (
    LABELS,
    POSES,
    file_digest,
    npy_path,
    read_manifest,
    read_parts,
    read_progress,
)
from gpu_render.dataset.owned import build_files
from gpu_render.dataset.verify_checks import (
    ANTIALIAS_AGREEMENT,
    CHANNEL_TOLERANCE,
    LABEL_TOLERANCE,
    OBJECT_AGREEMENT,
    REFERENCE_AGREEMENT,
    Report,
    check_chunks,
    check_extras,
    check_layers,
    check_poses_npz,
    check_whole_files,
    decode_image,
    edge_pixels,
    image_file_path,
    load_array,
)
from gpu_render.dataset.wds import sample_key, shard_path
from gpu_render.dataset.wds_verify import Expected, check_shards
from gpu_render.engines.rebuild import build_command
from gpu_render.errors import UsageError
from gpu_render.progress import Progress
from gpu_render.render.backends import backend
from gpu_render.rotations.sources import parse_source
from gpu_render.scene.object_plan import ObjectPlan
from gpu_render.scene.scene import Plan, Scene
from gpu_render.scene.solids import object_class

PROG = "gpu_render.verify"
# Re-exported: the presets' verify and the tests use these names from here.
__all__ = ["CHANNEL_TOLERANCE", "OBJECT_AGREEMENT", "Report", "edge_pixels", "main", "verify"]


def verify(
    out: Path,
    sample: int | None = None,
    reference_poses: int = 4,
    seed: int = 0,
    workers: int = 2,
    progress: bool = False,
) -> Report:
    """Check the dataset in ``out``; raises UsageError when it is not a gpu_render dataset.

    progress: show files checked on stderr (a bar on a terminal, a line every 15 s in a log).
    """
    if not out.is_dir():
        raise UsageError(f"{out} is not a folder")
    report = Report()
    manifest = read_manifest(out)
    parts = read_parts(out)
    if manifest is None and not parts:
        raise UsageError(f"{out} holds no gpu_render manifest: not a dataset built by gpu_render")
    head: dict[str, Any] = manifest if manifest is not None else parts[0]
    sig = head.get("signature")
    if not isinstance(sig, dict) or "poses" not in sig:
        raise UsageError(f"{out}/manifest.json has no dataset signature this version understands")
    try:
        files = build_files(sig)
    except ValueError as exc:
        raise UsageError(f"{out}/manifest.json: {exc}") from None
    n, sizes, fmt, batch = int(sig["pose_count"]), [int(s) for s in sig["sizes"]], sig["format"], int(sig["batch"])
    report.say(
        f"{out}: {n} poses x sizes {','.join(map(str, sizes))} ({fmt}), built by gpu_render {head.get('version')}"
    )

    # -- completeness ---------------------------------------------------------------------
    chunks = {k: (k * batch, min(n, (k + 1) * batch)) for k in range((n + batch - 1) // batch)}
    complete = manifest is not None and manifest.get("complete") is True
    recorded = (
        {int(k): v for k, v in manifest.get("chunks", {}).items()}
        if complete and manifest is not None
        else read_progress(out)
    )
    missing = [k for k in chunks if k not in recorded]
    if not complete:
        lost = sum(chunks[k][1] - chunks[k][0] for k in missing)
        how = build_command(sig, out)
        if lost:
            report.problem(f"incomplete: {lost} of {n} poses are missing; complete them with: {how}")
        else:
            report.problem(f"every chunk is built but the dataset is not sealed; seal it with: {how}")

    # -- labels and poses.npz -----------------------------------------------------------------
    scene: Scene | None = None
    try:
        source = parse_source(sig["poses"], sig.get("step"))
        if source.sha256 != (sig.get("poses_sha256") or ""):
            raise ValueError(f"{source.path} is not the file the dataset was built from (sha256 differs)")
        scene = scene_from_description(sig, bool(sig.get("antialias")))
        plan: Plan | None = scene.plan(source, n)
    except (ValueError, UsageError) as exc:
        report.problem(f"cannot recompute the poses: {exc}")
        plan = None
    expected = plan.labels if plan is not None else None
    labels_path = out / LABELS
    labels = load_array(labels_path, report) if expected is not None else None
    if labels is not None and expected is not None:
        if labels.shape != expected.shape or labels.dtype != np.float64:
            report.problem(f"{labels_path}: {labels.dtype} {labels.shape}, expected float64 {expected.shape}")
        else:
            bad = np.flatnonzero((np.abs(labels - expected) > LABEL_TOLERANCE).any(axis=(1, 2)))
            if len(bad):
                shown = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
                report.problem(f"{labels_path}: {len(bad)} rows differ from the spec (rows {shown})")
            else:
                report.say(f"labels: {n} x 8 x 6 equal a fresh computation (within {LABEL_TOLERANCE})")
    if plan is not None:
        check_poses_npz(out / POSES, plan.rich_labels(tuple(sizes)), report)

    # -- files ------------------------------------------------------------------------------
    # The poses of chunks not built yet are reported once, as "incomplete" above, not file by file.
    built = np.ones(n, dtype=bool)
    for k in missing:
        built[chunks[k][0] : chunks[k][1]] = False
    candidates = np.flatnonzero(built)
    rng = np.random.default_rng(seed)
    poses = (
        candidates
        if sample is None or sample >= len(candidates)
        else np.sort(rng.choice(candidates, sample, replace=False))
    )
    decoded: dict[int, dict[int, np.ndarray]] = {s: {} for s in sizes}
    digests: dict[int, dict[int, bytes]] = {s: {} for s in sizes}
    keep = set(rng.choice(poses, min(reference_poses, len(poses)), replace=False).tolist()) if len(poses) else set()
    bar = Progress(len(poses) * len(sizes), 0, "verify", enabled=progress, unit="image")
    image_format = str(sig.get("image_format", fmt))
    for size in sizes:
        if fmt == "wds":
            rich = plan.rich_labels(()) if plan is not None else {}
            want = Expected(image_format, rich.get("quaternion"), rich.get("matrix"), *object_class(sig.get("object")))
            for c in check_shards(out, size, chunks, poses.tolist(), want):
                for problem in c.problems:
                    report.problem(problem)
                if c.digest is not None and sample is None:
                    digests[size][c.index] = c.digest
                if c.pixels is not None and c.index in keep:
                    decoded[size][c.index] = c.pixels
                bar.update(1)
            continue
        if fmt == "npy":
            path = npy_path(out, size)
            images = load_array(path, report, mmap=True)
            if images is None:
                continue
            if images.shape != (n, size, size, 3) or images.dtype != np.uint8:
                report.problem(f"{path}: {images.dtype} {images.shape}, expected uint8 {(n, size, size, 3)}")
                continue
            for i in poses:
                if sample is None:
                    digests[size][int(i)] = file_digest(np.ascontiguousarray(images[i]).tobytes())
                if int(i) in keep:
                    decoded[size][int(i)] = np.asarray(images[i])
            bar.update(len(poses))
            continue

        def check(i: int, size: int = size) -> tuple[int, np.ndarray | None, bytes | None, str | None]:
            return (i, *decode_image(image_file_path(out, sig, size, i), size))

        with ThreadPoolExecutor(workers) as pool:
            for i, pixels, data, trouble in pool.map(check, poses.tolist(), chunksize=64):
                if trouble:
                    report.problem(trouble)
                if data is not None and sample is None:
                    digests[size][i] = file_digest(data)
                if pixels is not None and i in keep:
                    decoded[size][i] = pixels
                bar.update(1)
    bar.close()
    if len(candidates) < n:
        checked = (
            f"the {len(poses)} poses" if sample is None else f"a random {len(poses)} of the {len(candidates)} poses"
        ) + f" of the built chunks ({n} in all)"
    else:
        checked = f"all {n} poses" if sample is None else f"a random {len(poses)} of {n} poses"
    report.say(f"files: {checked} checked at {len(sizes)} size(s)")

    # -- checksums (full check only) --------------------------------------------------------
    if sample is None:

        def where(size: int, i: int) -> str:
            if fmt == "wds":
                return f"{shard_path(out, size, i // batch)}: sample {sample_key(i)}"
            if fmt == "npy":
                return f"{npy_path(out, size)}: pose {i}"
            return str(image_file_path(out, sig, size, i))

        check_chunks(recorded, chunks, digests, sizes, where, report)
    if complete:
        check_whole_files(out, head, files, report)
    check_extras(out, files, report)

    if sig.get("layers"):
        check_layers(out, n, sizes, report)
    if sig.get("layout") == "imagenet3d" and isinstance(plan, ObjectPlan):
        vertices = cad_vertices(plan.object.positions)
        found = check_annotations(
            out, str(sig.get("class")), plan.rich_labels(tuple(sizes)), sizes[0], vertices, poses.tolist()
        )
        for problem in found:
            report.problem(problem)
        report.say(f"annotations: {len(poses)} npz files read as ImageNet3D's tools read them")
        if complete and isinstance(sig.get("val_fraction"), (int, float)):  # lists and CAD: written when sealed
            found = check_tree(out, str(sig.get("class")), n, float(sig["val_fraction"]), plan.object.positions)
            for problem in found:
                report.problem(problem)
            if not found:
                report.say("lists and CAD: the train/val lists and the object's OFF file are as built")

    # -- reference re-render (skipped above when the poses could not be recomputed) ---------
    # The cube keeps its floors; an antialiased object is compared away from the reference's edges.
    blend_edges = bool(sig.get("object")) and bool(sig.get("antialias"))
    if sig.get("object"):
        floor = OBJECT_AGREEMENT[image_format]
    else:
        floor = ANTIALIAS_AGREEMENT if sig.get("antialias") else REFERENCE_AGREEMENT[image_format]
    scores = []
    draw = backend(scene) if scene is not None else None
    for size in sizes:
        for i, pixels in sorted(decoded[size].items()):
            if plan is None or draw is None:
                break
            reference = draw.reference(plan, i, size)
            close = (np.abs(pixels.astype(np.int16) - reference.astype(np.int16)) <= CHANNEL_TOLERANCE).all(axis=-1)
            if blend_edges:
                close |= edge_pixels(reference)  # MSAA blends these; the aliased reference cannot say how
            score = float(close.mean())
            scores.append(score)
            if score < floor:
                if fmt == "wds":
                    path = shard_path(out, size, i // batch)
                else:
                    path = npy_path(out, size) if fmt == "npy" else image_file_path(out, sig, size, i)
                report.problem(f"{path}: pose {i} agrees with the CPU reference on only {score:.2%} of pixels")
    if scores:
        report.say(
            f"reference: {len(scores)} image(s) re-rendered on the CPU agree on {np.mean(scores):.3%} of pixels "
            f"(lowest {min(scores):.3%}, floor {floor:.1%})"
        )
    return report


def main(argv: list[str] | None = None) -> int:
    p = Parser(
        module="gpu_render.verify",
        description="Check that a gpu_render dataset is complete and correct: "
        "exit 0 if so, 1 with the problems if not.",
    )
    p.add_argument("out", type=Path, metavar="OUT", help="the dataset folder")
    p.add_argument("--sample", type=int, default=None, metavar="K", help="check a random K poses instead of all")
    p.add_argument("--reference", type=int, default=4, metavar="N", help="poses to re-render on the CPU (default 4)")
    p.add_argument("--seed", type=int, default=0)
    try:
        a = p.parse_args(argv)
        if a.sample is not None and a.sample < 1:
            raise UsageError("--sample must be at least 1")
        if a.reference < 0:
            raise UsageError("--reference must be at least 0")
        if a.seed < 0:
            raise UsageError("--seed must be at least 0")
        from gpu_render.cli.verify_presets import preset_of, verify_preset  # --preset outputs have their own layouts
        from gpu_render.dataset.bop_verify import bop_signature, verify_bop  # --layout bop builds

        if bop_signature(a.out) is not None:
            report = verify_bop(a.out)
        elif preset_of(a.out):
            report = verify_preset(a.out, a.reference, a.seed)
        else:
            report = verify(a.out, a.sample, a.reference, a.seed, workers=os.cpu_count() or 1, progress=True)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    for line in report.lines:
        print(line)
    if report.problems:
        print(f"FAILED: {len(report.problems)} problem(s):")
        for line in report.problems:
            print(f"  {line}")
        return 1
    print("OK: complete and correct")
    return 0


if __name__ == "__main__":
    sys.exit(main())
