"""What ``python -m gpu_render.verify`` checks file by file: the report it fills in, image
decoding, the layers, poses.npz, and where MSAA edges lie (pure functions and reads; no GL)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gpu_render.dataset.imagenet3d import image_file
from gpu_render.dataset.layout import image_path, layer_path

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
    except (OSError, ValueError, SyntaxError) as exc:
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


def load_array(path: Path, report: Report, mmap: bool = False) -> Any:
    """``np.load(path)`` (memory-mapped with ``mmap``), or None after reporting why it failed."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None)
    except FileNotFoundError:
        report.problem(f"{path}: missing")
    except (OSError, ValueError, EOFError) as exc:
        report.problem(f"{path}: unreadable ({exc})")
    return None


def check_layers(out: Path, n: int, sizes: list[int], report: Report) -> None:
    """--layers: each mask and depth file has its shape and dtype, and the mask is depth > 0."""
    for size in sizes:
        mask = load_array(layer_path(out, "mask", size), report, mmap=True)
        depth = load_array(layer_path(out, "depth", size), report, mmap=True)
        if mask is None or depth is None:
            continue
        if mask.shape != (n, size, size) or mask.dtype != np.uint8:
            report.problem(f"{layer_path(out, 'mask', size)}: {mask.dtype} {mask.shape}, expected uint8 {(n, size, size)}")
        elif depth.shape != (n, size, size) or depth.dtype != np.float32:
            report.problem(f"{layer_path(out, 'depth', size)}: {depth.dtype} {depth.shape}, expected float32 {(n, size, size)}")
        elif not np.array_equal(mask == 255, depth > 0) or not np.isin(mask, (0, 255)).all():
            report.problem(f"{layer_path(out, 'mask', size)}: the mask is not exactly where depth > 0")
        else:
            report.say(f"layers {size}: mask and depth agree ({float((mask == 255).mean()):.1%} of pixels on the object)")


def check_poses_npz(path: Path, expected: dict[str, np.ndarray], report: Report) -> None:
    data = load_array(path, report)
    if data is None:
        return
    with data:
        found = {k: data[k] for k in data.files}
    for key, want in expected.items():
        got = found.get(key)
        if got is None:
            report.problem(f"{path}: no array {key!r}")
        elif got.shape != want.shape or not np.allclose(got, want, rtol=0, atol=LABEL_TOLERANCE):
            report.problem(f"{path}: {key} differs from a fresh computation")
    report.say(f"poses.npz: {len(expected)} arrays checked")
