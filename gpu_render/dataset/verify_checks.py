"""What ``python -m gpu_render.verify`` checks file by file: the report it fills in, image
decoding, the layers, poses.npz, the whole files' checksums, files the build never wrote, and
where MSAA edges lie (pure functions and reads; no GL)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gpu_render.dataset.existing import DAMAGED
from gpu_render.dataset.imagenet3d import image_file
from gpu_render.dataset.layout import changed_files, chunk_digest, image_path, layer_path, whole_file_digest
from gpu_render.dataset.owned import BuildFiles, extras, relative_path

LABEL_TOLERANCE = 1e-9
#: Minimum share of agreeing pixels (no channel off by more than 8) per re-rendered image.
REFERENCE_AGREEMENT = {"png": 0.999, "npy": 0.999, "jpg": 0.99}
#: The same for scene objects (the scene parity floor); with MSAA, pixels on the reference's
#: edges (:func:`edge_pixels`) are not compared.
OBJECT_AGREEMENT = {"png": 0.995, "npy": 0.995, "jpg": 0.99}
ANTIALIAS_AGREEMENT = 0.95  # the reference is aliased; MSAA blends one pixel along each edge
CHANNEL_TOLERANCE = 8


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.lines.append(line)

    def problem(self, line: str) -> None:
        self.problems.append(line)


def decode_image(path: Path, size: int) -> tuple[np.ndarray | None, bytes | None, str | None]:
    """Read and decode one image file: (pixels, raw bytes, problem)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, None, f"{path}: missing"
    except OSError as exc:
        return None, None, f"{path}: unreadable ({exc.strerror})"
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            pixels = np.asarray(im.convert("RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return None, data, f"{path}: does not decode ({exc})"
    if pixels.shape != (size, size, 3):
        return None, data, f"{path}: is {pixels.shape[1]}x{pixels.shape[0]}, expected {size}x{size}"
    return pixels, data, None


def image_file_path(out: Path, sig: dict[str, Any], size: int, index: int) -> Path:
    """Where pose ``index``'s image file is in a jpg or png build of either layout."""
    if sig.get("layout") == "imagenet3d":
        return image_file(out, str(sig.get("class")), index)
    return image_path(out, size, index, sig["format"])


def edge_pixels(image: np.ndarray) -> np.ndarray:
    """Pixels of an (S, S, 3) uint8 image with a neighbour (of 8) differing by more than
    CHANNEL_TOLERANCE in some channel: (S, S) bool. Where MSAA blends colours."""
    s = image.astype(np.int16)
    padded = np.pad(s, ((1, 1), (1, 1), (0, 0)), mode="edge")
    edge = np.zeros(s.shape[:2], dtype=bool)
    h, w = s.shape[:2]
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                shifted = padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
                edge |= (np.abs(shifted - s) > CHANNEL_TOLERANCE).any(axis=-1)
    return edge


def one_line(exc: BaseException) -> str:
    """An exception's message on one line, at most 200 characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def load_array(path: Path, report: Report, mmap: bool = False) -> Any:
    """``np.load(path)`` of an .npy (memory-mapped with ``mmap``), or None after reporting why it failed."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None)
    except FileNotFoundError:
        report.problem(f"{path}: missing")
    except DAMAGED as exc:
        report.problem(f"{path}: unreadable ({one_line(exc)})")
    return None


def load_npz(path: Path, report: Report) -> dict[str, np.ndarray] | None:
    """Every array of the .npz at ``path`` (read whole), or None after reporting, in one line,
    why it is missing or unreadable (a damaged zip, member or array header)."""
    try:
        with open(path, "rb") as f, np.load(f) as data:  # our own handle: numpy leaks its own when the zip is bad
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        report.problem(f"{path}: missing")
    except DAMAGED as exc:
        report.problem(f"{path}: unreadable ({one_line(exc)})")
    return None


def check_layers(out: Path, n: int, sizes: list[int], report: Report) -> None:
    """--layers: each mask and depth file has its shape and dtype, and the mask is depth > 0."""
    for size in sizes:
        mask = load_array(layer_path(out, "mask", size), report, mmap=True)
        depth = load_array(layer_path(out, "depth", size), report, mmap=True)
        if mask is None or depth is None:
            continue
        if mask.shape != (n, size, size) or mask.dtype != np.uint8:
            report.problem(
                f"{layer_path(out, 'mask', size)}: {mask.dtype} {mask.shape}, expected uint8 {(n, size, size)}"
            )
        elif depth.shape != (n, size, size) or depth.dtype != np.float32:
            report.problem(
                f"{layer_path(out, 'depth', size)}: {depth.dtype} {depth.shape}, expected float32 {(n, size, size)}"
            )
        elif not np.array_equal(mask == 255, depth > 0) or not np.isin(mask, (0, 255)).all():
            report.problem(f"{layer_path(out, 'mask', size)}: the mask is not exactly where depth > 0")
        else:
            report.say(
                f"layers {size}: mask and depth agree ({float((mask == 255).mean()):.1%} of pixels on the object)"
            )


def _same(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal text, or numbers within LABEL_TOLERANCE (NaN where both are NaN: unused light slots)."""
    if want.dtype.kind in "US" or got.dtype.kind in "US":
        return bool(np.array_equal(got, want))
    return bool(np.allclose(got, want, rtol=0, atol=LABEL_TOLERANCE, equal_nan=True))


def check_poses_npz(path: Path, expected: dict[str, np.ndarray], report: Report) -> None:
    """poses.npz's arrays against ``expected`` (a fresh computation), within LABEL_TOLERANCE."""
    found = load_npz(path, report)
    if found is None:
        return
    for key, want in expected.items():
        got = found.get(key)
        if got is None:
            report.problem(f"{path}: no array {key!r}")
        elif got.shape != want.shape or not _same(got, want):
            report.problem(f"{path}: {key} differs from a fresh computation")
    report.say(f"poses.npz: {len(expected)} arrays checked")


def check_whole_files(out: Path, manifest: dict[str, Any], files: BuildFiles, report: Report) -> None:
    """Each file written whole (labels, layers, ...) against the sha256 the manifest keeps in
    ``files``. A manifest of an earlier version keeps none: that is said, not a problem."""
    recorded = manifest.get("files")
    if not isinstance(recorded, dict):
        unchecked = [name for name in files.whole if (out / name).is_file()]
        if unchecked:
            report.say(
                f"checksums: {', '.join(unchecked)} not checksummed (gpu_render {manifest.get('version')} "
                "recorded no sha256 of whole files); checked against a fresh computation only"
            )
        return
    matched = 0
    for name, want in sorted(recorded.items()):
        try:
            path = out / relative_path(name, "a checksummed file")
        except ValueError as exc:
            report.problem(f"{out}/manifest.json: {exc}")
            continue
        try:
            got = whole_file_digest(path)
        except FileNotFoundError:
            report.problem(f"{path}: missing")
            continue
        except OSError as exc:
            report.problem(f"{path}: unreadable ({exc.strerror or one_line(exc)})")
            continue
        if got != want:
            report.problem(f"{path}: differs from the sha256 the build recorded (changed since it was built)")
        else:
            matched += 1
    for name in files.whole:
        if name not in recorded and (out / name).is_file():
            report.problem(f"{out / name}: the build recorded no sha256 of it")
    report.say(f"checksums: {matched} of {len(recorded)} whole file(s) match the manifest")


def check_extras(out: Path, files: BuildFiles, report: Report) -> None:
    """Report what is in OUT but no file of the build: inside the build's own folders it is a
    problem (a reader of the layout meets it); at OUT's top level it is only said (left alone)."""
    for extra in extras(out, files):
        what = {"file": "a file", "folder": "a folder", "link": "a symbolic link"}.get(extra.kind, "something")
        if extra.inside:
            report.problem(f"{extra.path}: {what} the build never writes, inside the dataset's folders")
        else:
            report.say(f"extra: {extra.path}: {what} the build never writes (left alone; not a problem)")


def check_chunks(
    recorded: dict[int, Any],
    chunks: dict[int, tuple[int, int]],
    digests: dict[int, dict[int, bytes]],
    sizes: list[int],
    where: Callable[[int, int], str],
    report: Report,
) -> None:
    """Each recorded chunk's checksum against its files' sha256 ``digests`` (size -> pose ->
    digest); a changed file is named by ``where(size, pose)`` when the record keeps its files'
    short digests, else the chunk's poses are. Chunks with a file missing or unreadable (reported
    already) are not checked."""
    mismatched, matched = 0, 0
    for k, record in sorted(recorded.items()):
        if k not in chunks:
            continue
        start, stop = chunks[k]
        order = [(s, i) for s in sizes for i in range(start, stop)]
        files = [digests[s].get(i) for s, i in order]
        if any(d is None for d in files):
            continue
        recorded_sha = record.get("sha256") if isinstance(record, dict) else None
        if chunk_digest(files) == recorded_sha:  # type: ignore[arg-type]
            matched += 1
            continue
        mismatched += 1
        changed = changed_files(record, files)  # type: ignore[arg-type]
        for at in changed or []:
            report.problem(
                f"{where(*order[at])}: differs from the checksum the build recorded (changed since it was built)"
            )
        if not changed:
            report.problem(
                f"chunk {k} (poses {start}..{stop - 1}, {where(*order[0])} .. {where(*order[-1])}): "
                "files differ from the checksum the build recorded"
            )
    if not mismatched:
        unchecked = len(recorded) - matched
        report.say(
            f"checksums: {matched} chunk(s) match the manifest"
            + (f"; {unchecked} not checked (files missing or unreadable, above)" if unchecked else "")
        )
