"""The encoders: simplejpeg writes what Pillow writes at the 2018 settings; PNG is lossless."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from gpu_render.dataset.encode import encode_jpeg, encode_png
from gpu_render.render import clpr_reference as reference
from gpu_render.rotations.euler import clpr_euler, euler_to_matrix
from gpu_render.scene.clpr_labels import posed_corners


def _renders(size: int) -> np.ndarray:
    euler = clpr_euler(0.3)[::1000]
    return reference.render(posed_corners(euler_to_matrix(euler)), size)


def test_jpeg_bytes_equal_pillow_at_quality_100_444() -> None:
    for size in (32, 256):
        for image in _renders(size):
            buf = io.BytesIO()
            Image.fromarray(image).save(buf, format="JPEG", quality=100, subsampling=0)
            assert encode_jpeg(image) == buf.getvalue()


def test_png_is_lossless() -> None:
    for image in _renders(64):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(image)))), image)
