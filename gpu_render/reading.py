"""What every object that reads or streams a dataset shares: ``close()``, ``with`` and a one-line
``repr`` (:class:`Closing`), and the torch form of an item (:func:`torch_item`, which imports torch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

#: Label arrays that become int64 tensors; bool arrays stay bool, every other becomes float32.
INTEGER_LABELS = ("index", "class", "equivalent_count")

_Self = TypeVar("_Self", bound="Closing")

#: A torch item: (image, labels), as :func:`torch_item` makes it.
TorchItem = tuple[Any, Any]


class Closing:
    """``close()`` (harmless twice), ``with obj:`` (closes on leaving) and ``repr``, one short line
    ``Class(name=value, ...)`` of :meth:`_fields`. Subclasses free what they hold in
    :meth:`_release` and call :meth:`_check_open` before reading."""

    _closed = False

    def _fields(self) -> dict[str, object]:
        return {}

    def _release(self) -> None:
        """Free files, databases or contexts; called by :meth:`close`."""

    def close(self) -> None:
        """Release the files, databases or GL context this holds; harmless twice."""
        self._release()
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{self!r} is closed: open it again to read it")

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._fields().items())})"


def torch_item(
    image: np.ndarray,
    labels: dict[str, np.ndarray],
    transform: Callable[[Any], Any] | None = None,
    target_transform: Callable[[Any], Any] | None = None,
) -> TorchItem:
    """(S, S, 3) uint8 RGB and label arrays as torch's ``(image, labels)``: image float32
    (3, S, S) in [0, 1], each value the correctly rounded k / 255 (as ``.permute(2, 0, 1)
    .to(torch.float32).div_(255.0)`` gives), then ``transform(image)``; labels new tensors
    (:data:`INTEGER_LABELS` int64, bool arrays bool, the rest float32), then
    ``target_transform(labels)``. None leaves either as it is (torchvision's convention).

    The image is converted in numpy, one thread: torch's two intra-op threads fight llvmpipe's
    rasterizer threads in a process that renders (8 ms per op at 224 px, against 1.4 ms here).
    """
    import torch

    pixels = np.empty((3, *image.shape[:2]), dtype=np.float32)
    np.copyto(pixels, image.transpose(2, 0, 1), casting="unsafe")
    np.divide(pixels, np.float32(255), out=pixels)
    x, y = torch.from_numpy(pixels), {}
    for name, a in labels.items():
        kind = np.int64 if name in INTEGER_LABELS else None if a.dtype == bool else np.float32
        y[name] = torch.from_numpy(np.array(a, dtype=kind))  # a copy: memmaps are read-only
    return (x if transform is None else transform(x)), (y if target_transform is None else target_transform(y))
