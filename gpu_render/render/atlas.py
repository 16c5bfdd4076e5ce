"""The atlas both GPU renderers draw into: many poses per draw call, one column of tiles.

Tiles of ``size`` px stack top-down in a single column of a render target whose sides are
powers of two (window coordinates are then exact). Each image is a contiguous band of rows,
so reading a batch back is one read and one flipping copy: the project's only row flip.
"""

from __future__ import annotations

from dataclasses import dataclass

import moderngl
import numpy as np

#: Largest atlas side the renderer asks for, px (also capped by GL_MAX_TEXTURE_SIZE).
MAX_ATLAS_SIDE = 16384


def _power_of_two(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


@dataclass(frozen=True)
class AtlasLayout:
    """How a batch of tiles sits in the render target: ``columns`` x ``rows`` tiles of ``size`` px.

    Tiles fill the target from its top-left corner; the target's sides are the powers of two
    that hold them, so window coordinates are exact (see shaders/cube.vert). Batches use a
    single column: each image is then a contiguous band of rows, and reading back is one
    read and one flipping copy (a wide atlas made the tile shuffle the slowest stage).
    """

    size: int
    columns: int
    rows: int

    @property
    def capacity(self) -> int:
        return self.columns * self.rows

    @property
    def width(self) -> int:
        return self.columns * self.size

    @property
    def height(self) -> int:
        return self.rows * self.size

    @property
    def target(self) -> tuple[int, int]:
        """(width, height) of the render target, px: powers of two."""
        return _power_of_two(self.width), _power_of_two(self.height)

    @staticmethod
    def column(size: int, batch: int, max_side: int) -> AtlasLayout:
        """One column of ``min(batch, what fits in max_side)`` tiles."""
        per_side = max_side // size  # max_side is a power of two, so the target fits too
        if per_side < 1:
            raise ValueError(f"image size {size} exceeds the largest render target side {max_side}")
        return AtlasLayout(size, 1, max(1, min(batch, per_side)))


def default_batch(size: int) -> int:
    """Poses per draw call when none is asked for: a full column of the largest atlas."""
    return max(1, MAX_ATLAS_SIDE // size)


def max_target_side(ctx: moderngl.Context) -> int:
    """The largest power-of-two render target side this context allows, capped at MAX_ATLAS_SIDE."""
    limit = min(MAX_ATLAS_SIDE, int(ctx.info["GL_MAX_TEXTURE_SIZE"]), int(ctx.info["GL_MAX_VIEWPORT_DIMS"][0]))
    return 1 << (limit.bit_length() - 1)


def read_column(
    source: moderngl.Framebuffer,
    layout: AtlasLayout,
    n: int,
    out: np.ndarray,
    staging: np.ndarray,
    components: int = 3,
    dtype: str = "f1",
    attachment: int = 0,
) -> None:
    """Read the first ``n`` tiles of a one-column atlas into ``out``, flipping rows once.

    out: (n, size, size, components) or (n, size, size) when components == 1, rows top-down.
    staging: at least (n * size, size[, components]) of out's dtype. GL rows run bottom-up;
    with tiles in one column the flipped rows are the images one after another.
    """
    s = layout.size
    assert layout.columns == 1
    h = n * s
    rows = staging[:h]
    source.read_into(
        rows,
        viewport=(0, layout.target[1] - h, s, h),
        components=components,
        alignment=1,
        dtype=dtype,
        attachment=attachment,
    )
    np.copyto(out.reshape(rows.shape), rows[::-1])


def read_tiles_bottom_up(
    source: moderngl.Framebuffer,
    size: int,
    n: int,
    out: np.ndarray,
    staging: np.ndarray,
    components: int = 3,
    dtype: str = "f1",
) -> None:
    """Read tiles 0..n-1 of a one-tile-wide atlas whose tile k covers GL rows [k S, (k + 1) S)
    (y up) into ``out``, flipping each tile's rows once.

    out: (n, S, S, components), or (n, S, S) when components == 1, rows top-down.
    staging: at least (n * S, S[, components]) of out's dtype.
    """
    rows = staging[: n * size]
    source.read_into(rows, viewport=(0, 0, size, n * size), components=components, alignment=1, dtype=dtype)
    tiles = rows.reshape((n, size, *rows.shape[1:]))
    np.copyto(out, tiles[:, ::-1])
