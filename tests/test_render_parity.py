"""GPU renderer against the 2018 fixture and against the CPU reference."""

from __future__ import annotations

from pathlib import Path

import moderngl
import numpy as np
import pytest
from PIL import Image

from gpu_render.render import clpr_reference as reference
from gpu_render.render.clpr_renderer import Renderer
from gpu_render.rotations.euler import clpr_euler, euler_to_matrix
from gpu_render.scene.clpr_cube import BACKGROUND
from gpu_render.scene.clpr_labels import posed_corners, translation
from tests.pixels import agreement, assert_agree

# The parity tolerances (docs/CLPR.md, "How close is 'the same look'").
FIXTURE_MEDIAN = 0.993  # median agreement with the 2018 images over the 48 fixture poses
FIXTURE_EACH = 0.985  # every fixture image
CPU_PARITY = 0.999  # GPU vs CPU reference, every image, at 256 and at 32


def _fixture_poses(fixture_dir: Path, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    images = np.stack([np.asarray(Image.open(fixture_dir / f"pose_{i:05d}.png").convert("RGB")) for i in index])
    return images, euler_to_matrix(clpr_euler(0.3)[index])


def test_gpu_matches_2018_fixture(ctx: moderngl.Context, fixture_dir: Path, fixture_labels) -> None:
    index, _ = fixture_labels
    want, m = _fixture_poses(fixture_dir, index)
    with Renderer(ctx, 256) as r:
        got = r.render(m, translation(m))
    assert_agree("gpu-vs-2018", got, want, each=FIXTURE_EACH, median=FIXTURE_MEDIAN)


def test_cpu_reference_matches_2018_fixture(fixture_dir: Path, fixture_labels) -> None:
    index, labels = fixture_labels
    want, _ = _fixture_poses(fixture_dir, index)
    got = reference.render(labels[..., :3], 256)
    assert_agree("cpu-vs-2018", got, want, each=FIXTURE_EACH, median=FIXTURE_MEDIAN)


def _sample_poses(count: int, seed: int) -> np.ndarray:
    """The axis-aligned first poses (edge ties) plus random grid poses, as matrices."""
    euler = clpr_euler(0.1)
    pick = np.r_[0:6, np.random.default_rng(seed).choice(len(euler), count - 6, replace=False)]
    return euler_to_matrix(euler[pick])


@pytest.mark.parametrize("size", [256, 32])
def test_gpu_matches_cpu_reference(ctx: moderngl.Context, size: int) -> None:
    m = _sample_poses(40, seed=size)
    with Renderer(ctx, size) as r:
        got = r.render(m, translation(m))
    want = reference.render(posed_corners(m), size)
    assert_agree(f"gpu-vs-cpu-{size}", got, want, each=CPU_PARITY)


@pytest.mark.parametrize("size", [8, 64, 128, 200])
def test_other_sizes_scale_the_same_picture(ctx: moderngl.Context, size: int) -> None:
    m = _sample_poses(12, seed=size)
    with Renderer(ctx, size) as r:
        got = r.render(m, translation(m))
    want = reference.render(posed_corners(m), size)
    # Small images have few pixels, so one corner pixel weighs more: 2 px of 64 at size 8.
    assert_agree(f"gpu-vs-cpu-{size}", got, want, each=0.995 if size >= 64 else 0.96)


def test_batches_tile_and_split_consistently(ctx: moderngl.Context) -> None:
    """A batch larger than the atlas, and an atlas with a partly filled last row, give the same images."""
    m = _sample_poses(23, seed=5)
    t = translation(m)
    with Renderer(ctx, 64, batch=5) as small, Renderer(ctx, 64) as big:
        assert small.layout.capacity < len(m) <= big.layout.capacity
        a = small.render(m, t)
        b = big.render(m, t)
        single = np.stack([big.render(m[i : i + 1], t[i : i + 1])[0] for i in range(3)])
    assert np.array_equal(a, b)
    assert np.array_equal(single, b[:3])


def test_render_into_preallocated_output_and_reuse(ctx: moderngl.Context) -> None:
    m = _sample_poses(10, seed=1)
    t = translation(m)
    out = np.zeros((10, 32, 32, 3), dtype=np.uint8)
    with Renderer(ctx, 32) as r:
        first = r.render(m, t, out=out)
        assert first is out
        again = r.render(m[::-1], t[::-1])
        with pytest.raises(ValueError, match="out must be"):
            r.render(m, t, out=np.zeros((9, 32, 32, 3), dtype=np.uint8))
    assert np.array_equal(again[::-1], out)
    assert (out[:, 0, 0] == BACKGROUND).all()  # corners of the image are background


def test_rows_are_top_down(ctx: moderngl.Context) -> None:
    """Identity pose: face 4 (magenta) fills rows and columns 78..177; node 0's dot (green) is top-left."""
    m = euler_to_matrix(np.zeros((1, 3)))
    with Renderer(ctx, 256) as r:
        img = r.render(m, translation(m))[0]
    assert tuple(img[128, 128]) == (255, 0, 255)
    assert tuple(img[78, 78]) == (0, 255, 0)  # node 0 at (78, 78): top-left, y down
    assert tuple(img[177, 78]) == (0, 255, 255)  # node 2 at (78, 178): bottom-left
    assert tuple(img[70, 128]) == tuple(BACKGROUND)


def test_antialias_smooths_edges_but_keeps_the_picture(ctx: moderngl.Context) -> None:
    m = _sample_poses(8, seed=3)
    t = translation(m)
    with Renderer(ctx, 128) as plain, Renderer(ctx, 128, antialias=True) as smooth:
        a = plain.render(m, t)
        b = smooth.render(m, t)
        assert smooth.samples > 1
    colours = lambda x: len(np.unique(x.reshape(-1, 3), axis=0))  # noqa: E731
    assert colours(b) > colours(a) + 20  # blended edge colours appear
    assert agreement(a, b, tolerance=8).min() > 0.95  # but it is the same picture


def test_closed_renderer_refuses_and_releases(ctx: moderngl.Context) -> None:
    r = Renderer(ctx, 32)
    r.close()
    r.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        r.render(np.eye(3)[None], np.zeros((1, 3)))
    with Renderer(ctx, 32) as again:  # the context is still healthy for new renderers
        assert again.render(euler_to_matrix(np.zeros((1, 3))), np.full((1, 3), 78.0)).shape == (1, 32, 32, 3)


def test_bad_pose_arrays_are_rejected(ctx: moderngl.Context) -> None:
    with Renderer(ctx, 32) as r:
        with pytest.raises(ValueError, match="matrix"):
            r.render(np.zeros((2, 3)), np.zeros((2, 3)))
        with pytest.raises(ValueError, match="translation"):
            r.render(np.zeros((2, 3, 3)), np.zeros((3, 3)))
