"""What the encoder processes do with a preset's images. Picklable, one per build.

Each sink has ``write(size, start, images) -> list[bytes]``, the interface of
:class:`gpu_render.dataset.sink.ImageSink` that :class:`~gpu_render.dataset.encoder_pool.EncoderPool`
calls: ``images`` is (n, S, S, 3) uint8 RGB, rows top-down, of global indices ``start ..``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import simplejpeg

from gpu_render.dataset.atomic import atomic_write_bytes
from gpu_render.dataset.encode import JPEG_QUALITY, encode_png
from gpu_render.dataset.layout import file_digest


@dataclass(frozen=True)
class Segment:
    """Images ``start .. start+count-1`` (global) are ``{folder}/{prefix}_{index:05d}.png``, index from 0."""

    folder: str
    prefix: str
    start: int
    count: int


@dataclass(frozen=True)
class PngFilesSink:
    """Writes each image as a PNG file (atomically) named by its segment; returns sha256 digests."""

    segments: tuple[Segment, ...]

    def write(self, size: int, start: int, images: np.ndarray) -> list[bytes]:
        seg = self.segment_of(start)
        if start + len(images) > seg.start + seg.count:
            raise ValueError(f"images {start}..{start + len(images) - 1} cross the end of segment {seg.prefix}")
        digests = []
        for k, image in enumerate(images):
            data = encode_png(image)
            atomic_write_bytes(os.path.join(seg.folder, f"{seg.prefix}_{start - seg.start + k:05d}.png"), data)
            digests.append(file_digest(data))
        return digests

    def segment_of(self, index: int) -> Segment:
        for seg in self.segments:
            if seg.start <= index < seg.start + seg.count:
                return seg
        raise ValueError(f"image {index} is in no segment")


def encode_grey_jpeg(image: np.ndarray) -> bytes:
    """A one-channel (greyscale) JPEG of channel 0 of ``image`` (S, S, 3) uint8, quality 100.

    One channel, so any decoder gives three equal channels (cv2.imdecode's IMREAD_COLOR does).
    """
    grey = np.ascontiguousarray(image[:, :, :1])
    return simplejpeg.encode_jpeg(grey, quality=JPEG_QUALITY, colorspace="GRAY")


@dataclass(frozen=True)
class GreyJpegBytesSink:
    """Encodes each image as a grey JPEG and returns the bytes themselves (the main process
    stores them in LMDB)."""

    def write(self, size: int, start: int, images: np.ndarray) -> list[bytes]:
        return [encode_grey_jpeg(image) for image in images]
