"""The streaming dataset: gpu_render.stream's RenderStream and StreamingDataset.

The DataLoader runs (2 forked workers) happen in one fresh process (tests/stream_loader.py): this
test process may hold the suite's GL context, and a worker forked from it must refuse to render
(tested here too). Images are compared with ``--format npy`` builds of the same options byte for
byte: no tolerance.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from gpu_render import TorchDataset, load
from gpu_render.cli.build import main as build_main
from gpu_render.cli.options import DEFAULT_BATCH
from gpu_render.errors import UsageError
from gpu_render.render.context import ForkedContextError, Headless
from gpu_render.stream import RenderStream, StreamingDataset
from gpu_render.stream import options as stream_options_module
from tests import stream_loader

#: Labels are the build's poses.npz values, only narrowed to float32 by the torch items.
FLOAT32_LABELS = 1e-6


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``--format npy`` builds of what stream_loader streams: {name: OUT}."""
    root = tmp_path_factory.mktemp("stream-builds")
    outs = {}
    for name, obj in stream_loader.FINITE:
        out = root / name
        args = [
            "--object",
            obj,
            "--poses",
            stream_loader.POSES,
            "--sizes",
            str(stream_loader.SIZE),
            "--format",
            "npy",
            "--batch",
            str(stream_loader.BATCH),
            "--workers",
            "1",
            "--out",
            str(out),
        ]
        assert build_main(args) == 0
        outs[name] = out
    return outs


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """What the DataLoaders of stream_loader gave, run in a fresh process."""
    out = tmp_path_factory.mktemp("stream-loader") / "loaded.npz"
    script = Path(__file__).with_name("stream_loader.py")
    p = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr[-3000:]
    with np.load(out) as data:
        return dict(data)


@pytest.mark.parametrize("name", [name for name, _ in stream_loader.FINITE])
def test_two_workers_give_each_pose_once_byte_identical_to_the_npy_build(
    name: str, builds: dict[str, Path], loaded: dict[str, np.ndarray]
) -> None:
    index = loaded[f"{name}_index"]
    assert sorted(index.tolist()) == list(range(300))  # every pose once, none twice
    # both workers took part, in turns: the loader's first batch of 50 is worker 0's (chunk 0),
    # its second worker 1's (chunk 1 starts at pose 64)
    assert index[:50].tolist() == list(range(50)) and index[50:100].tolist() == list(range(64, 114))
    images = torch.from_numpy(loaded[f"{name}_image"])
    reference = TorchDataset(builds[name])
    npy = load(builds[name]).images[stream_loader.SIZE]
    for row, i in enumerate(index):
        assert torch.equal(images[row], reference[int(i)][0]), (name, i)  # float32 items, bit for bit
    as_bytes = (images * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(as_bytes, npy[index])
    poses = load(builds[name]).poses
    assert np.abs(loaded[f"{name}_quaternion"] - poses["quaternion"][index]).max() < FLOAT32_LABELS
    assert np.abs(loaded[f"{name}_matrix"] - poses["matrix"][index]).max() < FLOAT32_LABELS


def test_object_labels_carry_class_and_equivalents_as_the_build_stores_them(
    builds: dict[str, Path], loaded: dict[str, np.ndarray]
) -> None:
    index, poses = loaded["cylO_index"], load(builds["cylO"]).poses
    assert (loaded["cylO_class"] == 6).all()  # SYMSOL: tet cube icosa cone cyl tetX cylO sphereX
    eq, count = loaded["cylO_equivalents"], loaded["cylO_equivalent_count"]
    assert eq.shape == (300, 720, 3, 3)
    offsets, flat = poses["visual_offsets"], poses["visual_equivalents"]
    assert set(count.tolist()) <= {1, 360, 720} and len(set(count.tolist())) > 1
    for row, i in enumerate(index):
        want = flat[offsets[i] : offsets[i + 1]]
        assert count[row] == len(want)
        assert np.array_equal(eq[row, : len(want)], want)
        assert (eq[row, len(want) :] == want[0]).all()  # padded with the pose's own R
    # The torch Dataset over the build gives the stream's class and equivalents, under the same names.
    with TorchDataset(builds["cylO"]) as files:
        for row, i in list(enumerate(index))[:40]:
            labels = files[int(i)][1]
            for name in ("class", "equivalents", "equivalent_count"):
                assert np.array_equal(labels[name].numpy(), loaded[f"cylO_{name}"][row]), (name, i)
    assert "class" not in {k[5:] for k in loaded if k.startswith("clpr_")}
    assert loaded["clpr_labels"].shape == (300, 8, 6) and loaded["clpr_keypoints"].shape == (300, 8, 2)


def test_random_inf_is_reproducible_per_epoch_and_differs_between_epochs(loaded: dict[str, np.ndarray]) -> None:
    a, b, c = (loaded[f"inf{run}_image"] for run in "abc")
    n = stream_loader.INF_BATCHES * 8
    assert a.shape == (n, 3, 32, 32)
    assert np.array_equal(a, b) and np.array_equal(loaded["infa_quaternion"], loaded["infb_quaternion"])
    assert not np.array_equal(loaded["infa_quaternion"], loaded["infc_quaternion"])
    assert (np.abs(a - c).reshape(n, -1).max(axis=1) > 0).mean() > 0.9  # other rotations, other images
    # the two workers drew different chunks: stream positions 0..15 (worker 0), 16..31 (worker 1)
    assert len(set(loaded["infa_index"].tolist())) == n
    assert set(range(16)) <= set(loaded["infa_index"].tolist())
    assert set(range(16, 32)) <= set(loaded["infa_index"].tolist())
    q = loaded["infa_quaternion"].astype(np.float64)
    assert np.allclose(np.linalg.norm(q, axis=1), 1, atol=1e-6) and len({tuple(r) for r in q.round(5)}) == n


def test_after_the_parent_has_drawn_spawned_workers_stream_the_same(loaded: dict[str, np.ndarray]) -> None:
    """The documented way out of the fork hazard: the parent drew a batch itself, then a
    DataLoader with multiprocessing_context='spawn' streams the same epoch, pose for pose."""
    assert loaded["parent_index"].tolist() == [0]
    by_index = {int(i): row for row, i in enumerate(loaded["infa_index"])}
    assert np.array_equal(loaded["parent_image"][0], loaded["infa_image"][by_index[0]])
    assert loaded["spawn_index"].tolist() == list(range(16))  # one worker: chunk 0, 1, ...
    for row, i in enumerate(loaded["spawn_index"]):
        assert np.array_equal(loaded["spawn_image"][row], loaded["infa_image"][by_index[int(i)]])


def test_render_stream_worker_takes_every_other_chunk(builds: dict[str, Path]) -> None:
    npy = load(builds["cylO"]).images[stream_loader.SIZE]
    with RenderStream(
        "cylO", stream_loader.POSES, stream_loader.SIZE, batch=stream_loader.BATCH, worker=1, workers=2
    ) as stream:
        batches = list(stream)
    assert [labels["index"][0] for _, labels in batches] == [64, 192]
    for images, labels in batches:
        assert images.dtype == np.uint8 and images.shape == (64, 32, 32, 3)
        assert labels["quaternion"].shape == (64, 4) and labels["matrix"].shape == (64, 3, 3)
        assert np.array_equal(images, npy[labels["index"]])


def test_parent_holding_a_context_makes_forked_workers_refuse(headless: Headless) -> None:
    ds = StreamingDataset(object="cylO", poses="random:inf:1", size=16, batch=4)
    loader = DataLoader(ds, batch_size=4, num_workers=1, timeout=60)
    with pytest.raises(ForkedContextError, match=r"forked from process .*, which had opened an OpenGL context"):
        next(iter(loader))


def test_default_batch_is_the_builds() -> None:
    assert stream_options_module.DEFAULT_BATCH == DEFAULT_BATCH


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"object": "dodeca"}, "object: unknown object 'dodeca'"),
        ({"poses": "random:infinite"}, "poses: random takes N[:SEED]"),
        ({"poses": "fibonacci:3"}, "poses: unknown pose source"),
        ({"poses": "random:10", "step": 0.5}, "step: applies to poses 'clpr' only"),
        ({"size": 4}, "size: must be an image side of 8..4096 px"),
        ({"object": "clpr-cube", "light": (1, 0, 0)}, "light makes no sense for object clpr-cube"),
        ({"object": "cylO", "fov": 200}, "fov: must be 1..170 degrees"),
        ({"object": "cylO", "shininess": 3}, "unknown option 'shininess'"),
        ({"batch": 0}, "batch: must be an integer >= 1"),
        ({"object": "cylO", "antialias": "no"}, "antialias: must be True or False, got 'no'"),
        ({"object": "cylO", "grayscale": 1}, "grayscale: must be True or False, got 1"),
        ({"object": "cylO", "poses": "random:inf", "size": 224, "batch": 10**9}, "GiB of images per chunk"),
    ],
)
def test_bad_options_are_one_line_usage_errors(kwargs: dict, message: str) -> None:
    for make in (RenderStream, StreamingDataset):
        with pytest.raises(UsageError) as info:
            make(**kwargs)
        assert message in str(info.value) and "\n" not in str(info.value), (make, kwargs)
        assert "--" not in str(info.value), (make, kwargs)  # keywords, spelled as Python spells them


def test_look_options_reach_the_scene() -> None:
    stream = RenderStream("cylO", "random:inf:2", 16, light=(-1, -1, -2), color="#ff0000", antialias=False)
    assert stream.options.scene.look.albedo == (255, 0, 0) and not stream.options.scene.look.antialias
    assert stream.options.source.infinite and stream.options.source.seed == 2
    with pytest.raises(TypeError, match="no length"):
        len(StreamingDataset("cylO", "random:inf"))
    assert len(StreamingDataset("cylO", "random:300:5")) == 300


def test_a_build_refuses_an_infinite_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "never"
    assert build_main(["--object", "cylO", "--poses", "random:inf:5", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "random:inf:5 streams rotations without end" in err[0]
    assert not out.exists()


def test_render_stream_next_and_set_epoch() -> None:
    with RenderStream("clpr-cube", "random:inf:3", 16, batch=4, worker=1, workers=3) as stream:
        first, second = next(stream), next(stream)
        assert first[1]["index"].tolist() == [4, 5, 6, 7]  # chunk 1, then chunk 4: every third
        assert second[1]["index"].tolist() == [16, 17, 18, 19]
        stream.set_epoch(0)
        again = next(stream)
        assert np.array_equal(again[0], first[0]) and np.array_equal(again[1]["quaternion"], first[1]["quaternion"])
        stream.set_epoch(1)
        other = next(stream)
        assert not np.array_equal(other[1]["quaternion"], first[1]["quaternion"])
        assert first[0].shape == (4, 16, 16, 3) and first[1]["labels"].shape == (4, 8, 6)
    with pytest.raises(ValueError, match="epoch must be an integer >= 0"):
        stream.set_epoch(-1)
    finite = RenderStream("clpr-cube", "random:6:1", 16, batch=4)
    assert [len(images) for images, _ in finite] == [4, 2]
    next(finite)
    next(finite)
    with pytest.raises(StopIteration):
        next(finite)
    finite.close()


def test_every_finite_source_streams_its_plan(tmp_path: Path) -> None:
    """clpr (exact grid angles), so3-grid and file: sources give, chunk by chunk, the labels of
    the plan a build makes of the whole source."""
    from gpu_render.rotations.sources import parse_source, random_quaternions
    from gpu_render.scene.plan import PosePlan

    path = tmp_path / "q.npy"
    np.save(path, random_quaternions(10, 9))
    for poses, step in (("clpr", 2.0), ("so3-grid:0", None), (f"file:{path}", None)):
        plan = PosePlan.from_source(parse_source(poses, step))
        rich = plan.rich_labels((16,))
        stream = RenderStream("clpr-cube", poses, 16, batch=32, step=step)
        got = list(stream)
        stream.close()
        index = np.concatenate([labels["index"] for _, labels in got])
        assert index.tolist() == list(range(len(plan.matrix))), poses
        for name, want in (
            ("quaternion", rich["quaternion"]),
            ("euler", rich["euler_clpr"]),
            ("keypoints", rich["keypoints_16"]),
            ("labels", plan.labels),
        ):
            assert np.array_equal(np.concatenate([labels[name] for _, labels in got]), want), (poses, name)


def test_streaming_dataset_closes_in_a_with_block_and_shows_itself_in_one_line(tmp_path: Path) -> None:
    with StreamingDataset("tetX", "random:6:2", 16, batch=4) as dataset:
        image, labels = next(iter(dataset))
        assert image.shape == (3, 16, 16) and labels["index"].item() == 0
        assert set(labels) == {"index", "quaternion", "matrix", "class", "equivalents", "equivalent_count"}
        stream = dataset._stream
        assert stream is not None and stream._drawing is not None  # iterating here opened a GL context
    assert stream._drawing is None  # released on leaving the block
    dataset.close()  # twice is harmless
    again, _ = next(iter(dataset))  # iterating again opens a new one
    assert torch.equal(again, image)
    dataset.close()
    assert repr(dataset) == "StreamingDataset(object='tetX', poses='random:6:2', count=6, size=16, batch=4)"
    path = tmp_path / "rotations.npy"
    np.save(path, np.eye(3)[None].repeat(3, axis=0))
    texts = [
        repr(StreamingDataset("cone", "random:inf:7", 32, batch=8)),
        repr(StreamingDataset("clpr-cube", f"file:{path}", 16)),
    ]
    assert texts[0] == "StreamingDataset(object='cone', poses='random:inf:7', count=inf, size=32, batch=8)"
    with RenderStream("cone", "random:inf:7", 32, batch=8) as stream:
        assert repr(stream) == texts[0].replace("StreamingDataset", "RenderStream")
    assert texts[1] == (
        f"StreamingDataset(object='clpr-cube', poses='file:rotations.npy', count=3, size=16, batch={DEFAULT_BATCH})"
    )
    assert all(len(t) < 200 and "\n" not in t and str(tmp_path) not in t for t in texts)


def test_streaming_dataset_applies_transform_and_target_transform() -> None:
    plain = StreamingDataset("tetX", "random:6:2", 16, batch=4)
    shifted = StreamingDataset(
        "tetX", "random:6:2", 16, batch=4, transform=lambda x: 1 - x, target_transform=lambda y: y["quaternion"]
    )
    with plain:
        items = list(plain)
    with shifted:
        changed = list(shifted)
    assert len(items) == len(changed) == 6
    for (image, labels), (flipped, quaternion) in zip(items, changed, strict=True):
        assert torch.equal(flipped, 1 - image)
        assert torch.equal(quaternion, labels["quaternion"]) and quaternion.shape == (4,)
