"""The labels a ``format: npz`` answer carries besides its images: each image's index and the
random choices of its look, as the build's poses.npz records them (docs/LOOKS.md) for the
images of the same indices."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from gpu_render.scene.backdrop import crop_boxes, draw_backgrounds
from gpu_render.scene.lights import draw_lights
from gpu_render.scene.scene import ObjectScene, Scene

#: Bytes an npz answer holds besides its arrays' own (the zip's headers, one per array, and slack).
NPZ_OVERHEAD_BYTES = 16 << 10


def request_labels(scene: Scene, index: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """``index`` (N,) int64 and, when the look draws per image, its choices for those images:
    ``light_positions`` (N, K, 3) float64 camera frame, object units, NaN past the count;
    ``light_energies`` (N, K) float64; ``light_count`` (N,) int64; ``ambient`` (N,) float64;
    ``background_file`` (N,) str relative to the server's folder ('' for grey);
    ``background_grey`` (N,) int64 (-1 for a photograph); ``background_crop_{size}`` (N, 4)
    int64 (x0, y0, x1, y1) in the photograph's pixels (-1 for grey)."""
    index = np.asarray(index, dtype=np.int64)
    out: dict[str, np.ndarray] = {"index": index}
    if not isinstance(scene, ObjectScene):
        return out
    look = scene.look
    if look.points is not None:
        lights = draw_lights(look.points, look.seed, index)
        out.update(
            light_positions=lights.positions(scene.camera.translation),
            light_energies=lights.energy,
            light_count=lights.count,
            ambient=lights.ambient,
        )
    if look.photos is not None:
        photos = look.photos
        bg = draw_backgrounds(photos, look.seed, index)
        names = [photos.names[p] if p >= 0 else "" for p in bg.photo]
        out["background_file"] = np.array(names, dtype=str) if names else np.zeros(0, dtype="<U1")
        out["background_grey"] = bg.grey
        out[f"background_crop_{size}"] = crop_boxes(photos, bg, size)
    return out


def labels_bytes(labels: dict[str, np.ndarray]) -> int:
    """Bytes of the labels' arrays."""
    return sum(int(a.nbytes) for a in labels.values())


def npz_bytes(images: np.ndarray, labels: dict[str, np.ndarray]) -> bytes:
    """An uncompressed .npz of ``images`` (N, S, S, 3) uint8 and the labels (``np.load`` reads it
    back with allow_pickle=False: no array holds Python objects)."""
    buf = io.BytesIO()
    arrays: dict[str, Any] = {"images": images, **labels}
    np.savez(buf, **arrays)
    return buf.getvalue()
