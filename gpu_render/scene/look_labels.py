"""What poses.npz records of each image's random look (docs/LOOKS.md). Pure."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from gpu_render.scene.backdrop import crop_boxes, draw_backgrounds
from gpu_render.scene.lights import draw_lights
from gpu_render.scene.look import Look


def look_labels(look: Look, translation: np.ndarray, sizes: Iterable[int], first: int = 0) -> dict[str, np.ndarray]:
    """The per-image arrays of a look's random choices for N images ``first .. first + N - 1``.

    translation: (N, 3) float64 t of each image (the object's centre, camera frame).
    Point lights: ``light_positions`` (N, K, 3) float64 camera frame, object units, NaN past the
    image's count; ``light_energies`` (N, K) float64, NaN past the count; ``light_count`` (N,)
    int64; ``ambient`` (N,) float64. Photographs: ``background_file`` (N,) str, the path
    relative to ``--backgrounds`` ('' for a grey image); ``background_grey`` (N,) int64 0..255,
    -1 for a photograph; per size S ``background_crop_{S}`` (N, 4) int64 (x0, y0, x1, y1) in the
    photograph's pixels, -1 for grey (the crop is scaled up to S x S when narrower than S).
    """
    t = np.asarray(translation, dtype=np.float64).reshape(-1, 3)
    index = np.arange(first, first + len(t))
    out: dict[str, np.ndarray] = {}
    if look.points is not None:
        draw = draw_lights(look.points, look.seed, index)
        out.update(
            light_positions=draw.positions(t),
            light_energies=draw.energy,
            light_count=draw.count,
            ambient=draw.ambient,
        )
    if look.photos is not None:
        photos = look.photos
        bg = draw_backgrounds(photos, look.seed, index)
        names = np.array([photos.names[p] if p >= 0 else "" for p in bg.photo], dtype=str)
        out["background_file"] = names if len(names) else np.zeros(0, dtype="<U1")
        out["background_grey"] = bg.grey
        for size in sizes:
            out[f"background_crop_{int(size)}"] = crop_boxes(photos, bg, int(size))
    return out
