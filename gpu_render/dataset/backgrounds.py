"""The photographs of ``--backgrounds DIR``: found, measured and read (docs/LOOKS.md, Backgrounds).

:func:`photo_catalogue` lists every ``.jpg``/``.jpeg``/``.png`` under DIR (recursively, any
case, sorted by relative path), reads each one's size from its header, and returns the
:class:`~gpu_render.scene.backdrop.Photos` the look draws from, with a :class:`PhotoFiles`
reader. Which photograph and crop an image gets is decided in :mod:`gpu_render.scene.backdrop`.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gpu_render.errors import UsageError
from gpu_render.scene.backdrop import Photos

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
#: Decoded photographs kept per process (a build reads each file many times).
CACHED_PHOTOS = 64


class PhotoFiles:
    """Reads crops of the photographs under ``root``, keeping the last CACHED_PHOTOS decoded."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:  # crosses into worker processes without its cache
        return {"root": self.root}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["root"])  # type: ignore[misc]

    def photo(self, name: str) -> np.ndarray:
        """Photograph ``name`` (relative to the root): (H, W, 3) uint8 RGB, rows top-down."""
        if name in self._cache:
            self._cache.move_to_end(name)
            return self._cache[name]
        path = Path(self.root) / name
        try:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path}: background photograph cannot be read ({type(exc).__name__})") from None
        self._cache[name] = pixels
        if len(self._cache) > CACHED_PHOTOS:
            self._cache.popitem(last=False)
        return pixels

    def crop(self, name: str, box: tuple[int, int, int, int], size: int) -> np.ndarray:
        """The pixels of ``box`` (x0, y0, x1, y1) of photograph ``name``, (size, size, 3) uint8:
        as they are when the box is size px wide, else scaled up with Pillow's bicubic filter."""
        x0, y0, x1, y1 = box
        part = self.photo(name)[y0:y1, x0:x1]
        if part.shape[:2] == (size, size):
            return np.ascontiguousarray(part)
        return np.asarray(Image.fromarray(part).resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)


def photo_catalogue(folder: Path, ratio: float = 0.8) -> Photos:
    """The photographs under ``folder`` for a look; ``ratio`` the share of images given one.

    Raises UsageError (one line, naming the folder or file) for a folder that is missing or
    holds no photograph, or a photograph whose header cannot be read.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"--backgrounds {folder}: no such folder")
    paths = sorted(
        (p for p in folder.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file()),
        key=lambda p: p.relative_to(folder).as_posix(),
    )
    if not paths:
        raise UsageError(f"--backgrounds {folder}: no .jpg or .png photographs in it (searched recursively)")
    names, sizes = [], []
    digest = hashlib.sha256()
    for path in paths:
        name = path.relative_to(folder).as_posix()
        try:
            with Image.open(path) as image:
                sizes.append((int(image.width), int(image.height)))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path}: background photograph cannot be read ({type(exc).__name__})") from None
        names.append(name)
        digest.update(f"{name}\0{path.stat().st_size}\0{sizes[-1][0]}x{sizes[-1][1]}\n".encode())
    root = str(folder.resolve())
    return Photos(root, tuple(names), tuple(sizes), ratio, digest.hexdigest(), PhotoFiles(root))
