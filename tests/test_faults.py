"""Faults a build must survive: a dying or stopped encoder process, a second build of the same
OUT, and requests too large to build. Each ends within seconds (a stopped encoder within the
stall bound), with one line and exit status 2, and leaves OUT resumable."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpu_render.cli import arg_types, build, options
from gpu_render.dataset import writer
from gpu_render.dataset.lock import BuildLock, lock_path
from gpu_render.engines import api
from gpu_render.errors import UsageError
from tests.cli import Run, run_module
from tests.conftest import REFERENCE_ARGS
from tests.dataset import assert_same_dataset

# 2197 poses in 35 chunks of 64: long enough (~1.5 s of jpg here) to hit a build mid-run.
ARGS = REFERENCE_ARGS
CHUNKS = 35
TINY = ("--step", "1.0", "--sizes", "32", "--batch", "64", "--workers", "1")
#: Address-space cap for the refusal tests: far below what the refused requests would allocate.
MEMORY_CAP = 3 * 2**30


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # the process ended while we looked
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _recorded(out: Path) -> int:
    try:
        return len(os.listdir(out / ".progress"))
    except FileNotFoundError:
        return 0


# -- a dying encoder process ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jpg", "npy"])
def test_killed_encoder_stops_the_build_and_resume_gives_the_same_bytes(
    tmp_path: Path, reference_builds: dict[str, Path], fmt: str
) -> None:
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpu_render.build", *ARGS, "--format", fmt, "--workers", "2", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while len(workers) < 2 or _recorded(out) < 3:  # the encoders are busy with the 4th chunk
            assert proc.poll() is None, "the build ended before an encoder could be killed"
            assert time.monotonic() < deadline, "the build did not start"
            workers = workers if len(workers) == 2 else _children(proc.pid)
            time.sleep(0.002)
        os.kill(workers[0], signal.SIGKILL)
        killed_at = time.monotonic()
        _, err = proc.communicate(timeout=30)  # the build notices: it never waits forever
        assert time.monotonic() - killed_at < 30
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, err
    line = Run(proc.returncode, "", err).one_line_error()
    assert f"encoder process {workers[0]} was killed by SIGKILL" in line
    assert "re-run the same command to resume" in line
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is False
    assert 3 <= _recorded(out) < CHUNKS
    assert not (out / ".lock").exists()  # released, and removed, on the way out
    assert not any(_children(proc.pid))  # no encoder outlives the build

    r = run_module("gpu_render.build", *ARGS, "--format", fmt, "--workers", "2", "--out", out)
    assert r.code == 0, r.err
    assert_same_dataset(out, reference_builds[fmt])


#: The bound on an encoder's time without progress in the stalled-encoder test, s (120 by default).
STALL_SECONDS = 5


def test_a_stopped_encoder_stops_the_build_and_resume_gives_the_same_bytes(
    tmp_path: Path, reference_builds: dict[str, Path]
) -> None:
    """SIGSTOP leaves an encoder alive but without progress: after STALL_SECONDS the build treats
    it as dead (exit 2, one line) and kills it; the same command, without the short bound, resumes."""
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "gpu_render.build", *ARGS, "--format", "jpg", "--workers", "2", "--out", str(out)]
    env = {**os.environ, "GPU_RENDER_ENCODER_STALL_SECONDS": str(STALL_SECONDS)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while len(workers) < 2 or _recorded(out) < 3:
            assert proc.poll() is None, "the build ended before an encoder could be stopped"
            assert time.monotonic() < deadline, "the build did not start"
            workers = workers if len(workers) == 2 else _children(proc.pid)
            time.sleep(0.002)
        os.kill(workers[0], signal.SIGSTOP)
        stopped_at = time.monotonic()
        _, err = proc.communicate(timeout=STALL_SECONDS + 60)
        waited = time.monotonic() - stopped_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.kill(workers[0], signal.SIGKILL)  # only if the build failed to end it
    assert proc.returncode == 2, err
    assert STALL_SECONDS <= waited < STALL_SECONDS + 60
    line = Run(proc.returncode, "", err).one_line_error()
    assert f"encoder process {workers[0]} made no progress for {STALL_SECONDS} s (stopped by a signal)" in line
    assert line.endswith("so it is treated as dead; re-run the same command to resume")
    assert json.loads((out / "manifest.json").read_text())["complete"] is False
    assert 3 <= _recorded(out) < CHUNKS
    assert not (out / ".lock").exists()
    assert not Path(f"/proc/{workers[0]}").exists()  # the stopped encoder was ended, not left behind

    r = run_module("gpu_render.build", *ARGS, "--format", "jpg", "--workers", "2", "--out", out)
    assert r.code == 0, r.err
    assert_same_dataset(out, reference_builds["jpg"])


@pytest.mark.parametrize("value", ["0", "-3", "soon", "inf", "nan"])
def test_a_bad_stall_bound_is_one_line(tmp_path: Path, value: str) -> None:
    r = run_module("gpu_render.build", *TINY, "--out", tmp_path / "o", env={"GPU_RENDER_ENCODER_STALL_SECONDS": value})
    assert r.code == 2
    assert r.one_line_error() == (
        f"gpu_render.build: error: GPU_RENDER_ENCODER_STALL_SECONDS must be a number of seconds above 0, got {value!r}"
    )


@pytest.fixture
def alarm() -> Iterator[None]:
    """Fail a test that runs a build in this process if it has not returned within 60 s."""

    def expired(_signum: int, _frame: object) -> None:
        raise TimeoutError("the build did not end within 60 s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _crash_from(first: int, how: Callable[[], None]) -> Callable[..., list[bytes]]:
    """An ImageSink.write that does ``how`` (in the encoder process) for poses from ``first`` on."""
    real = writer.ImageSink.write

    def write(self: writer.ImageSink, size: int, start: int, images: np.ndarray) -> list[bytes]:
        if start >= first:
            how()
        return real(self, size, start, images)

    return write


def _raise() -> None:
    raise ValueError("simulated encoder bug")


@pytest.mark.parametrize(
    "how, message",
    [
        (_raise, "failed writing poses 640..671 at 32 px: ValueError: simulated encoder bug"),
        (lambda: os._exit(3), "exited with status 3"),
        (lambda: os.kill(os.getpid(), signal.SIGTERM), "was killed by SIGTERM"),
    ],
    ids=["raises", "exits", "signal"],
)
def test_failing_encoder_stops_the_build_with_one_line(
    tmp_path: Path,
    reference_builds: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    alarm: None,
    how: Callable[[], None],
    message: str,
) -> None:
    out = tmp_path / "o"
    # The encoders are forked from this process, so they inherit the patched method.
    monkeypatch.setattr(writer.ImageSink, "write", _crash_from(640, how))
    assert build.main([*ARGS, "--format", "jpg", "--workers", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gpu_render.build: error: encoder process "), err
    assert message in err[0] and "re-run the same command to resume" in err[0]
    assert json.loads((out / "manifest.json").read_text())["complete"] is False
    records = [json.loads(p.read_text()) for p in (out / ".progress").iterdir()]
    assert records and all(r["stop"] <= 640 for r in records)  # no chunk with a lost file is recorded
    assert not (out / ".lock").exists()

    monkeypatch.undo()
    assert build.main([*ARGS, "--format", "jpg", "--workers", "2", "--out", str(out)]) == 0
    assert_same_dataset(out, reference_builds["jpg"])


# -- one writer per OUT ---------------------------------------------------------------------


def test_two_plain_builds_of_one_out(tmp_path: Path) -> None:
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "gpu_render.build", *ARGS, "--format", "jpg", "--workers", "1", "--out", str(out)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p, *p.communicate(timeout=120)) for p in procs]
    assert sorted(p.returncode for p in procs) == [0, 2], [err for _, _, err in results]
    (winner, out_text, _), (_loser, _, err) = sorted(results, key=lambda r: r[0].returncode)
    assert out_text.startswith("built 2197 of 2197 poses")
    line = Run(2, "", err).one_line_error()
    assert f"--out {out} is locked by another build (pid {winner.pid} on host " in line
    assert "started 20" in line and "wait for it to finish, or choose another --out" in line
    assert not (out / ".lock").exists()
    r = run_module("gpu_render.verify", out)
    assert r.code == 0, r.out


def test_a_held_lock_refuses_at_once_and_names_its_holder(tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    with BuildLock(out):
        holder = json.loads(lock_path(out, None).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] and holder["started"].endswith("Z")
        t0 = time.monotonic()
        r = run_module("gpu_render.build", *TINY, "--out", out)
        assert r.code == 2 and time.monotonic() - t0 < 30
        assert f"locked by another build (pid {os.getpid()} on host {holder['host']}" in r.one_line_error()
        assert sorted(p.name for p in out.iterdir()) == [".lock"]  # nothing else was touched
        # A shard takes only its own lock, so shards (and their sealing build) never wait on it.
        r = run_module("gpu_render.build", *TINY, "--shard", "1/2", "--out", out)
        assert r.code == 0, r.err
    assert not (out / ".lock").exists()
    r = run_module("gpu_render.build", *TINY, "--out", out)
    assert r.code == 0, r.err
    assert sorted(p.name for p in out.iterdir()) == ["32", "labels.npy", "manifest.json", "poses.npz"]


def test_a_shard_lock_blocks_only_that_shard(tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    with BuildLock(out, (0, 2)):
        r = run_module("gpu_render.build", *TINY, "--shard", "0/2", "--out", out)
        assert r.code == 2 and "locked by another build of shard 0/2" in r.one_line_error()
        assert run_module("gpu_render.build", *TINY, "--shard", "1/2", "--out", out).code == 0
        assert (out / ".lock-shard-0-of-2").exists() and not (out / ".lock-shard-1-of-2").exists()
    assert run_module("gpu_render.build", *TINY, "--shard", "0/2", "--out", out).code == 0
    sealed = run_module("gpu_render.build", *TINY, "--out", out)
    assert sealed.code == 0 and sealed.out.startswith(f"sealed {out}:") and "already built" in sealed.out
    assert run_module("gpu_render.verify", out).code == 0


def test_a_stale_lock_file_neither_blocks_nor_looks_foreign(tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / ".lock").write_text('{"pid": 1, "host": "gone", "started": "2018-01-01T00:00:00Z"}\n')
    (out / ".lock-shard-0-of-3").write_text("")
    r = run_module("gpu_render.build", *TINY, "--out", out)  # as after a kill -9
    assert r.code == 0, r.err
    assert not (out / ".lock").exists()
    assert run_module("gpu_render.verify", out).code == 0


def test_a_foreign_folder_gets_no_lock_file(tmp_path: Path) -> None:
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"not ours")
    r = run_module("gpu_render.build", *TINY, "--out", out)
    assert r.code == 2 and "not a gpu_render dataset" in r.one_line_error()
    assert sorted(p.name for p in out.iterdir()) == ["holiday.jpg"]


def test_overwrite_keeps_the_lock(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert run_module("gpu_render.build", *TINY, "--out", out).code == 0
    with BuildLock(out):  # another build is at work: --overwrite must not take OUT from it
        r = run_module("gpu_render.build", *TINY, "--sizes", "16", "--overwrite", "--out", out)
        assert r.code == 2 and "locked by another build" in r.one_line_error()
        assert (out / "32").is_dir() and (out / ".lock").exists()
    r = run_module("gpu_render.build", *TINY, "--sizes", "16", "--overwrite", "--out", out)
    assert r.code == 0, r.err
    assert sorted(p.name for p in out.iterdir()) == ["16", "labels.npy", "manifest.json", "poses.npz"]


# -- requests too large to build --------------------------------------------------------------


def _capped(*args: str | Path) -> Run:
    """``gpu_render.build ARGS`` with its address space capped at MEMORY_CAP."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    p = subprocess.run(
        [sys.executable, "-m", "gpu_render.build", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap,
    )
    return Run(p.returncode, p.stdout, p.stderr)


def test_the_memory_cap_leaves_room_for_a_real_build(tmp_path: Path) -> None:
    # So that the refusals below show a check, not a process that could not start.
    r = _capped(*TINY, "--format", "npy", "--out", tmp_path / "o")
    assert r.code == 0, r.err


@pytest.mark.parametrize("step", ["1e-9", "1e-300", "5e-324"])
def test_a_step_too_small_is_refused_without_allocating(tmp_path: Path, step: str) -> None:
    r = _capped("--step", step, "--out", tmp_path / "o")
    assert r.code == 2, r.err
    line = r.one_line_error()
    assert f"argument --step: {step} gives " in line
    assert "more poses than an int64 holds; at most 50000000 poses are supported" in line
    assert not (tmp_path / "o").exists()


def test_a_step_beyond_the_pose_limit_names_the_count(tmp_path: Path) -> None:
    r = _capped("--step", "0.01", "--out", tmp_path / "o")
    assert r.code == 2
    assert "--step: 0.01 gives 250047000 poses; at most 50000000 poses are supported" in r.one_line_error()


def test_an_npy_build_that_cannot_fit_is_refused_up_front(tmp_path: Path) -> None:
    vfs = os.statvfs(tmp_path)
    free = vfs.f_bavail * vfs.f_frsize
    image = 4096 * 4096 * 3
    n = int(free * 1.2) // image + 1  # well beyond the room, even if some is freed meanwhile
    out = tmp_path / "o"
    r = _capped("--poses", f"random:{n}", "--sizes", "4096", "--format", "npy", "--out", out)
    assert r.code == 2, r.err
    line = r.one_line_error()
    assert f"--out {out}: No space left on device for {n} poses at sizes 4096 as npy: they need " in line
    assert f"but the filesystem of {tmp_path} has " in line and "re-run the same command" in line
    assert not out.exists()


def test_pose_count_beyond_memory_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "physical_memory", lambda: 2**30)
    with pytest.raises(UsageError, match=r"random:1000000 gives 1000000 poses, whose labels need about 1\.4 GiB"):
        options.parse_build_args(["--poses", "random:1000000", "--limit", "5"])  # the source is made whole
    with pytest.raises(UsageError, match=r"this machine has 1\.0 GiB \(at most 715827 poses\)"):
        options.parse_build_args(["--step", "0.07"])  # 90**3 = 729000 poses
    assert options.parse_build_args(["--step", "0.07", "--limit", "1000"]).pose_count == 1000


@settings(max_examples=300, deadline=None, database=None)
@given(st.floats(min_value=1e-3, max_value=1e4, allow_nan=False, allow_infinity=False))
def test_grid_pose_count_is_the_length_of_arange_cubed(step: float) -> None:
    assert arg_types.grid_pose_count(step) == len(np.arange(0, 6.3, step)) ** 3


def test_grid_pose_count_at_the_edges() -> None:
    for step in (0.1, 0.3, 1.0, 6.3, 6.3 * (1 + 1e-16), 2.1, 0.7, 0.9, 1e300):
        assert arg_types.grid_pose_count(step) == len(np.arange(0, 6.3, step)) ** 3, step
    assert arg_types.grid_pose_count(1e-9) == 6_300_000_000**3
    assert arg_types.grid_pose_count(5e-324) >= 2**63
