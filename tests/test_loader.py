"""gpu_render.load round-trips a build in each format; the torch Dataset yields tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import gpu_render
from gpu_render.rotations.sources import parse_source
from gpu_render.scene.plan import PosePlan
from tests.cli import run_module

ARGS = ("--poses", "random:30:4", "--sizes", "16,48", "--batch", "10")


@pytest.fixture(scope="module", params=["jpg", "png", "npy"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp(f"load-{request.param}") / "o"
    r = run_module("gpu_render.build", *ARGS, "--format", request.param, "--out", out)
    assert r.code == 0, r.err
    return request.param, out


def test_round_trip(built: tuple[str, Path]) -> None:
    fmt, out = built
    plan = PosePlan.from_source(parse_source("random:30:4", None))
    with gpu_render.load(out) as data:
        assert len(data) == 30 and data.sizes == [16, 48]
        assert isinstance(data.labels, np.memmap)  # not read into memory
        assert np.array_equal(data.labels, plan.labels)
        assert np.allclose(data.poses["quaternion"], plan.rich_labels(())["quaternion"])
        assert data.poses["keypoints_48"].shape == (30, 8, 2)
        for size in (16, 48):
            images = data.images[size]
            assert images.shape == (30, size, size, 3) and images.dtype == np.uint8
            one, few = images[7], images[3:6]
            assert one.shape == (size, size, 3) and few.shape == (3, size, size, 3)
            assert np.array_equal(few[1], images[4])
            if fmt != "jpg":  # lossless formats give the rendered bytes back
                from gpu_render.render.clpr_reference import render_one

                assert (one != render_one(plan.corners[7], size)).any(axis=-1).mean() < 0.01
        if fmt == "npy":
            assert isinstance(data.images[16], np.memmap)


def test_load_refuses_what_is_not_a_finished_dataset(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a gpu_render dataset"):
        gpu_render.load(tmp_path)


def test_torch_dataset(built: tuple[str, Path]) -> None:
    import torch

    from gpu_render import TorchDataset

    _, out = built
    ds = TorchDataset(out, size=48)
    assert len(ds) == 30
    image, labels = ds[5]
    assert image.shape == (3, 48, 48) and image.dtype == torch.float32
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    shapes = {"quaternion": (4,), "matrix": (3, 3), "euler_clpr": (3,), "keypoints_48": (8, 2), "labels": (8, 6)}
    for name, shape in shapes.items():
        assert tuple(labels[name].shape) == shape and labels[name].dtype == torch.float32, name
    assert labels["node_visible"].dtype == torch.bool and "class" not in labels
    with gpu_render.load(out, size=48) as data:
        assert torch.equal(labels["labels"], torch.from_numpy(np.array(data.labels[5], dtype=np.float32)))
    images, batch = next(iter(torch.utils.data.DataLoader(TorchDataset(out, size=16), batch_size=8)))
    assert images.shape == (8, 3, 16, 16) and batch["quaternion"].shape == (8, 4)
    with pytest.raises(ValueError, match="not 32"):
        TorchDataset(out, size=32)
