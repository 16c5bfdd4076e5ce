"""``python -m gpu_render.build`` end to end, in all three formats, and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from gpu_render import __version__
from gpu_render.render import clpr_reference as reference
from gpu_render.rotations.euler import clpr_euler, euler_to_matrix
from gpu_render.scene.clpr_labels import clpr_labels, posed_corners
from tests.cli import assert_build_refused, run_module
from tests.pixels import assert_agree

STEP = "1.0"  # 7^3 = 343 poses
POSES = 343
SIZES = (32, 64, 128, 256)
JPEG_CLOSE = 0.99  # q100 4:4:4 JPEG vs the reference: per image, pixels within 8 per channel


def expected_labels(step: float = 1.0, count: int | None = None) -> np.ndarray:
    euler = clpr_euler(step, 0, count)
    return clpr_labels(euler, posed_corners(euler_to_matrix(euler)))


_BUILDS: dict[str, tuple[str, Path, str]] = {}


def build_once(fmt: str, factory: pytest.TempPathFactory) -> tuple[str, Path, str]:
    """The default build at --step 1.0 in ``fmt``, made once per test session."""
    if fmt not in _BUILDS:
        out = factory.mktemp(f"build-{fmt}") / "clpr"
        r = run_module("gpu_render.build", "--step", STEP, "--format", fmt, "--out", out)
        assert r.code == 0, r.err
        _BUILDS[fmt] = (fmt, out, r.out)
    return _BUILDS[fmt]


@pytest.fixture(params=["jpg", "png", "npy"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, str]:
    return build_once(request.param, tmp_path_factory)


def _load_all(fmt: str, out: Path, size: int) -> np.ndarray:
    if fmt == "npy":
        return np.load(out / f"images_{size}.npy", mmap_mode="r")
    return np.stack(
        [np.asarray(Image.open(out / str(size) / f"cube1_index_{i + 1}.{fmt}").convert("RGB")) for i in range(POSES)]
    )


def test_layout_and_file_counts(built: tuple[str, Path, str]) -> None:
    fmt, out, _ = built
    names = sorted(p.name for p in out.iterdir())
    if fmt == "npy":
        assert names == sorted(["labels.npy", "manifest.json", "poses.npz"] + [f"images_{s}.npy" for s in SIZES])
    else:
        assert names == sorted(["labels.npy", "manifest.json", "poses.npz"] + [str(s) for s in SIZES])
        for s in SIZES:
            files = sorted(p.name for p in (out / str(s)).iterdir())
            assert len(files) == POSES
            assert set(files) == {f"cube1_index_{i}.{fmt}" for i in range(1, POSES + 1)}


def test_every_image_decodes_at_its_size(built: tuple[str, Path, str]) -> None:
    fmt, out, _ = built
    for s in SIZES:
        if fmt == "npy":
            images = np.load(out / f"images_{s}.npy", mmap_mode="r")
            assert isinstance(images, np.memmap)
            assert images.shape == (POSES, s, s, 3) and images.dtype == np.uint8
            continue
        for i in range(POSES):
            with Image.open(out / str(s) / f"cube1_index_{i + 1}.{fmt}") as im:
                im.load()
                assert im.size == (s, s) and im.mode == "RGB"
                assert im.format == {"jpg": "JPEG", "png": "PNG"}[fmt]


def test_jpeg_is_quality_100_without_subsampling(tmp_path_factory: pytest.TempPathFactory) -> None:
    _, out, _ = build_once("jpg", tmp_path_factory)
    with Image.open(out / "64" / "cube1_index_5.jpg") as im:
        assert JpegImagePlugin.get_sampling(im) == 0  # 4:4:4
        assert all((q == 1).all() for q in map(np.asarray, im.quantization.values()))  # q100 tables are all 1


def test_images_show_the_reference_picture(built: tuple[str, Path, str]) -> None:
    fmt, out, _ = built
    picks = np.arange(0, POSES, 17)
    corners = expected_labels()[picks, :, :3]
    for s in (32, 256):
        got = _load_all(fmt, out, s)[picks]
        want = reference.render(corners, s)
        assert_agree(f"build-{fmt}-{s}", np.ascontiguousarray(got), want, each=JPEG_CLOSE if fmt == "jpg" else 0.999)


def test_labels_file(built: tuple[str, Path, str]) -> None:
    _, out, _ = built
    labels = np.load(out / "labels.npy")
    assert labels.dtype == np.float64 and labels.shape == (POSES, 8, 6)
    assert np.array_equal(labels, expected_labels())


def test_manifest(built: tuple[str, Path, str]) -> None:
    fmt, out, stdout = built
    m = json.loads((out / "manifest.json").read_text())
    assert m["generator"] == "gpu_render" and m["version"] == __version__
    assert m["complete"] is True
    assert m["pose_count"] == POSES and m["sizes"] == list(SIZES) and m["format"] == fmt
    assert m["signature"]["step"] == 1.0 and m["signature"]["poses"] == "clpr" and m["options"]["format"] == fmt
    assert isinstance(m["renderer"], str) and m["renderer"]
    assert m["seconds"] > 0
    assert m["chunks"]["0"]["start"] == 0 and m["chunks"]["0"]["stop"] == POSES
    assert len(m["chunks"]["0"]["sha256"]) == 64
    assert f"built {POSES} of {POSES} poses" in stdout and "poses/s" in stdout


def test_limit_and_batch_make_chunks(tmp_path: Path) -> None:
    out = tmp_path / "o"
    r = run_module(
        "gpu_render.build",
        "--step",
        "0.5",
        "--limit",
        "50",
        "--batch",
        "16",
        "--sizes",
        "32",
        "--format",
        "png",
        "--out",
        out,
    )
    assert r.code == 0, r.err
    m = json.loads((out / "manifest.json").read_text())
    assert m["pose_count"] == 50
    assert [(c["start"], c["stop"]) for c in m["chunks"].values()] == [(0, 16), (16, 32), (32, 48), (48, 50)]
    assert len(list((out / "32").iterdir())) == 50
    assert np.array_equal(np.load(out / "labels.npy"), expected_labels(0.5, 50))


def test_rerun_of_a_complete_build_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "o"
    args = ("--step", "1.0", "--limit", "20", "--sizes", "32", "--format", "png", "--out", out)
    assert run_module("gpu_render.build", *args).code == 0
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}
    assert {p.name for p in before} >= {"manifest.json", "labels.npy", "poses.npz"}
    again = run_module("gpu_render.build", *args)
    assert again.code == 0 and "already holds all 20 poses" in again.out
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()} == before


def test_antialias_option(tmp_path: Path) -> None:
    out = tmp_path / "o"
    r = run_module(
        "gpu_render.build",
        "--step",
        "1.0",
        "--limit",
        "8",
        "--sizes",
        "64",
        "--format",
        "npy",
        "--antialias",
        "--out",
        out,
    )
    assert r.code == 0, r.err
    images = np.load(out / "images_64.npy")
    aliased = reference.render(expected_labels(1.0, 8)[..., :3], 64)
    assert not np.array_equal(images, aliased)
    assert len(np.unique(images.reshape(-1, 3), axis=0)) > len(np.unique(aliased.reshape(-1, 3), axis=0))
    assert json.loads((out / "manifest.json").read_text())["signature"]["antialias"] is True


# -- refusals: one line, exit 2, nothing touched -------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--step", "0"], "--step: must be a positive number"),
        (["--step", "-0.5"], "--step: must be a positive number"),
        (["--step", "abc"], "--step: must be a number"),
        (["--step", "nan"], "--step: must be a positive number"),
        (["--sizes", "4"], "image size 4 is outside 8..4096"),
        (["--sizes", "8192"], "image size 8192 is outside 8..4096"),
        (["--sizes", "32,big"], "--sizes: takes integers"),
        (["--sizes", "31.5"], "--sizes: takes integers"),
        (["--format", "gif"], "invalid choice: 'gif'"),
        (["--limit", "0"], "--limit: must be at least 1"),
        (["--batch", "many"], "--batch: must be an integer"),
    ],
)
def test_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    assert_build_refused(args, message, tmp_path / "o")


def test_out_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("mine")
    r = run_module("gpu_render.build", "--step", "1.0", "--out", tmp_path / "f")
    assert r.code == 2 and "is a file" in r.one_line_error()
    assert (tmp_path / "f").read_text() == "mine"


def test_out_not_writable(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("mine")
    r = run_module("gpu_render.build", "--step", "1.0", "--out", tmp_path / "f" / "sub")  # a file as parent
    assert r.code == 2 and "not writable" in r.one_line_error()
    r = run_module("gpu_render.build", "--step", "1.0", "--out", "/proc/gpu_render_out")  # read-only even for root
    assert r.code == 2 and "not writable" in r.one_line_error()


def test_out_holds_something_else(tmp_path: Path) -> None:
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"not ours")
    r = run_module("gpu_render.build", "--step", "1.0", "--out", out)
    assert r.code == 2 and "not a gpu_render dataset" in r.one_line_error()
    assert sorted(p.name for p in out.iterdir()) == ["holiday.jpg"]
    (out / "manifest.json").write_text('{"generator": "someone else"}')
    r = run_module("gpu_render.build", "--step", "1.0", "--out", out)
    assert r.code == 2 and "was not written by gpu_render" in r.one_line_error()


def test_other_options_refuse_to_mix(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert run_module("gpu_render.build", "--step", "1.0", "--limit", "5", "--sizes", "32", "--out", out).code == 0
    r = run_module("gpu_render.build", "--step", "1.0", "--limit", "6", "--sizes", "32", "--out", out)
    assert r.code == 2 and "other options" in r.one_line_error() and "pose_count" in r.err
    assert len(list((out / "32").iterdir())) == 5
    r = run_module("gpu_render.build", "--step", "1.0", "--limit", "6", "--sizes", "64", "--out", out, "--overwrite")
    assert r.code == 0, r.err
    assert sorted(p.name for p in out.iterdir()) == ["64", "labels.npy", "manifest.json", "poses.npz"]
    assert len(list((out / "64").iterdir())) == 6


def test_no_opengl_says_what_to_install(tmp_path: Path) -> None:
    # glvnd finds no EGL vendor at all: what a machine without any driver looks like.
    r = run_module(
        "gpu_render.build",
        "--step",
        "1.0",
        "--out",
        tmp_path / "o",
        env={"__EGL_VENDOR_LIBRARY_FILENAMES": str(tmp_path / "none.json")},
    )
    assert r.code == 2
    line = r.one_line_error()
    assert "no headless OpenGL" in line and "apt-get install" in line
    assert not (tmp_path / "o").exists()


def test_unknown_device(tmp_path: Path) -> None:
    r = run_module("gpu_render.build", "--step", "1.0", "--device", "99", "--out", tmp_path / "o")
    assert r.code == 2 and "EGL device 99" in r.one_line_error()


def test_image_sink_writes_each_image_under_its_2018_name(tmp_path: Path) -> None:
    from gpu_render.dataset.encode import encode_jpeg
    from gpu_render.dataset.writer import ImageSink, file_digest

    images = reference.render(posed_corners(euler_to_matrix(clpr_euler(1.0)[:3])), 32)
    sink = ImageSink(tmp_path, "jpg")
    (tmp_path / "32").mkdir()
    digests = sink.write(32, 5, images)
    for i, image in enumerate(images):
        data = (tmp_path / "32" / f"cube1_index_{i + 6}.jpg").read_bytes()
        assert data == encode_jpeg(image)
        assert digests[i] == file_digest(data)
    assert sorted(p.name for p in (tmp_path / "32").iterdir()) == [f"cube1_index_{i}.jpg" for i in (6, 7, 8)]
    with pytest.raises(ValueError, match=r"\(n, 32, 32, 3\)"):
        sink.write(32, 0, images[:, :16])
