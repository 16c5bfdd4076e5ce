"""A build that survives: kill -9 and resume, determinism, shards, write failures."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gpu_render.cli import build
from gpu_render.dataset import sink
from tests.cli import run_module
from tests.conftest import REFERENCE_ARGS
from tests.dataset import assert_same_dataset

# 2197 poses in 35 chunks of 64; enough work that kills land at many different moments.
ARGS = (*REFERENCE_ARGS, "--workers", "1")
POSES = 2197


def _kill_when(out: Path, fmt: str, ready, timeout: float = 120) -> int:
    """Start a build and SIGKILL it as soon as ``ready(out)`` holds; return its exit code."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpu_render.build", *ARGS, "--format", fmt, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if ready(out):
                    proc.send_signal(signal.SIGKILL)
                    break
            except OSError:
                pass  # a folder appeared or vanished while we looked
            time.sleep(0.002)
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()


def _images_written(size: int, count: int) -> Callable[[Path], bool]:
    return lambda out: len(os.listdir(out / str(size))) >= count


def _chunks_recorded(count: int) -> Callable[[Path], bool]:
    return lambda out: len([n for n in os.listdir(out / ".progress") if n.startswith("chunk_")]) >= count


@pytest.mark.parametrize(
    "fmt, ready",
    [
        ("jpg", lambda out: (out / "manifest.json").exists()),  # before any image
        ("jpg", _images_written(96, 150)),  # inside the 3rd chunk
        ("jpg", _images_written(64, 700)),
        ("jpg", _images_written(96, 1300)),
        ("jpg", _images_written(32, 2100)),  # in the last chunks
        ("npy", _chunks_recorded(3)),  # the memory-mapped .partial files are half written
        ("npy", _chunks_recorded(30)),
    ],
    ids=["jpg-start", "jpg-7pct", "jpg-30pct", "jpg-60pct", "jpg-95pct", "npy-10pct", "npy-85pct"],
)
def test_kill_9_then_resume_gives_the_same_bytes(
    tmp_path: Path, reference_builds: dict[str, Path], fmt: str, ready
) -> None:
    out = tmp_path / "o"
    code = _kill_when(out, fmt, ready)
    assert code == -signal.SIGKILL, "the build finished before it could be killed"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is False
    r = run_module("gpu_render.build", *ARGS, "--format", fmt, "--out", out)
    assert r.code == 0, r.err
    assert_same_dataset(out, reference_builds[fmt])


def test_progress_counts_work_already_done(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert _kill_when(out, "jpg", _chunks_recorded(10)) == -signal.SIGKILL
    done = len(os.listdir(out / ".progress"))
    r = run_module("gpu_render.build", *ARGS, "--format", "jpg", "--out", out)
    assert r.code == 0
    built = int(r.out.split()[1])
    assert built == POSES - 64 * done  # only the missing chunks were built


def test_two_builds_are_byte_identical(tmp_path: Path, reference_builds: dict[str, Path]) -> None:
    for fmt in ("jpg", "npy"):
        r = run_module("gpu_render.build", *ARGS, "--format", fmt, "--out", tmp_path / fmt, "--workers", "2")
        assert r.code == 0, r.err
        assert_same_dataset(tmp_path / fmt, reference_builds[fmt])


def test_png_builds_are_byte_identical(tmp_path: Path) -> None:
    args = ("--step", "1.0", "--sizes", "48,256", "--format", "png", "--batch", "50")
    for name in ("a", "b"):
        assert run_module("gpu_render.build", *args, "--out", tmp_path / name).code == 0
    assert_same_dataset(tmp_path / "a", tmp_path / "b")


def test_three_shards_equal_the_single_build(tmp_path: Path, reference_builds: dict[str, Path]) -> None:
    # Built apart (three machines), then copied together and sealed.
    union = tmp_path / "union"
    for k in range(3):
        part = tmp_path / f"machine{k}"
        r = run_module("gpu_render.build", *ARGS, "--format", "jpg", "--shard", f"{k}/3", "--out", part)
        assert r.code == 0, r.err
        assert "seal the dataset with" in r.out
        assert not (part / "manifest.json").exists()  # a shard never writes the shared manifest
        shutil.copytree(part, union, dirs_exist_ok=True)
    sealed = run_module("gpu_render.build", *ARGS, "--format", "jpg", "--out", union)
    assert sealed.code == 0 and sealed.out.startswith(f"sealed {union}:") and "already built" in sealed.out
    again = run_module("gpu_render.build", *ARGS, "--format", "jpg", "--out", union)
    assert again.code == 0 and "nothing to do" in again.out  # sealed: a second run writes nothing
    assert_same_dataset(union, reference_builds["jpg"])


def test_concurrent_shards_share_one_out(tmp_path: Path, reference_builds: dict[str, Path]) -> None:
    out = tmp_path / "shared"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gpu_render.build",
                *ARGS,
                "--format",
                "jpg",
                "--shard",
                f"{k}/3",
                "--out",
                str(out),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for k in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    assert sorted(p.name for p in (out / "shards").iterdir()) == [f"part-{k}-of-3.json" for k in range(3)]
    assert run_module("gpu_render.build", *ARGS, "--format", "jpg", "--out", out).code == 0
    assert_same_dataset(out, reference_builds["jpg"])


def test_shard_refusals(tmp_path: Path) -> None:
    for args, message in [
        (("--shard", "3/3"), "0 <= K < N"),
        (("--shard", "x"), "takes K/N"),
        (("--shard", "0/2", "--format", "npy"), "--shard needs --format jpg or png"),
        (("--shard", "0/2", "--overwrite"), "cannot be combined"),
    ]:
        r = run_module("gpu_render.build", "--step", "1.0", *args, "--out", tmp_path / "o")
        assert r.code == 2 and message in r.one_line_error()


def test_changed_options_refuse_to_resume(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert _kill_when(out, "jpg", _chunks_recorded(2)) == -signal.SIGKILL
    for changed in (("--sizes", "32,64"), ("--batch", "32"), ("--format", "png"), ("--antialias",)):
        args = dict(zip(ARGS[::2], ARGS[1::2], strict=False))
        r = run_module(
            "gpu_render.build", *[x for k, v in args.items() for x in (k, v)], "--format", "jpg", *changed, "--out", out
        )
        assert r.code == 2 and "other options" in r.one_line_error(), changed
    assert json.loads((out / "manifest.json").read_text())["signature"]["sizes"] == [32, 64, 96]


# -- write failures ---------------------------------------------------------------------------


def test_injected_disk_full_stops_cleanly_and_resumes(
    tmp_path: Path,
    reference_builds: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "o"
    real = sink.atomic_write_bytes  # what the encoder processes write each image with
    calls = {"n": 0}

    def flaky(path: Path, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] > 1500:  # the disk fills up partway through the images
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, data)

    monkeypatch.setattr(sink, "atomic_write_bytes", flaky)
    assert build.main([*ARGS, "--format", "jpg", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and "re-run the same command" in err[0]
    assert json.loads((out / "manifest.json").read_text())["complete"] is False

    monkeypatch.setattr(sink, "atomic_write_bytes", real)  # space is back
    assert build.main([*ARGS, "--format", "jpg", "--out", str(out)]) == 0
    assert_same_dataset(out, reference_builds["jpg"])


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    return (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
        ).returncode
        == 0
    )


@pytest.mark.parametrize("fmt, room", [("jpg", "3m"), ("npy", "1m")])
def test_real_full_disk_stops_cleanly_and_resumes(
    tmp_path: Path, reference_builds: dict[str, Path], fmt: str, room: str
) -> None:
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, room):
        pytest.skip("cannot mount a tmpfs here (needs root); the injected-fault test covers the logic")
    try:
        out = disk / "o"
        r = run_module("gpu_render.build", *ARGS, "--format", fmt, "--out", out)
        assert r.code == 2
        line = r.one_line_error()
        assert "No space left on device" in line and "re-run the same command" in line
        subprocess.run(["mount", "-o", "remount,size=256m", str(disk)], check=True)
        r = run_module("gpu_render.build", *ARGS, "--format", fmt, "--out", out)
        assert r.code == 0, r.err
        assert_same_dataset(out, reference_builds[fmt])
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_shards_encoders_name_their_temporaries_after_the_shard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shard's resume removes only temporaries tagged with its shard, so its encoder
    processes (forked before the writer exists) must carry the tag too."""
    from gpu_render.dataset import atomic

    log = tmp_path / "names.log"
    original = atomic._tmp_name

    def logged(path: str) -> str:
        name = original(path)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)  # one write per name: safe across processes
        os.write(fd, (os.path.basename(name) + "\n").encode())
        os.close(fd)
        return name

    monkeypatch.setattr(atomic, "_tmp_name", logged)
    out = tmp_path / "out"
    assert build.main([*ARGS, "--format", "jpg", "--shard", "1/2", "--workers", "2", "--out", str(out)]) == 0
    names = log.read_text().split()
    images = [n for n in names if n.endswith(".jpg" + n[n.index(".tmp-") :])]
    assert images and len(images) > len(names) // 2  # the encoders' own writes are among them
    assert all(".tmp-s1of2-" in n for n in names), sorted({n for n in names if ".tmp-s1of2-" not in n})[:3]
