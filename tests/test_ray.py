"""``--engine ray`` end to end, on Ray instances these tests start (2 CPUs, CPU actors).

One Ray head (``ray start --head`` on 127.0.0.1, 2 CPUs) serves most tests through
``--ray-address``. It runs in its own mount namespace (``unshare --mount``, as root) where a
tmpfs lies over one folder, so an OUT there is a real unshared filesystem for its workers.
One test lets the build start its own local Ray. Every Ray process is stopped afterwards,
and Ray's temp and log files live in a tmp dir outside OUT and the repo.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gpu_render.engines.ray_cluster import one_line
from gpu_render.memory import USABLE_SHARE, largest_batch
from gpu_render.render.atlas import MAX_ATLAS_SIDE
from tests.cli import Run
from tests.dataset import assert_same_dataset

CLPR = ["--step", "0.5", "--sizes", "32", "--batch", "256", "--format", "jpg", "--workers", "1"]
#: Many small chunks: a build that lasts long enough to be interrupted twice, even when the
#: test's polling gets the CPU late on a busy 2-core machine (120 chunks).
SLOW_POSES, SLOW_BATCH = 2400, 20
SLOW = [
    "--step",
    "0.3",
    "--limit",
    str(SLOW_POSES),
    "--sizes",
    "32",
    "--batch",
    str(SLOW_BATCH),
    "--format",
    "jpg",
    "--workers",
    "1",
]
OBJECT = [
    "--object",
    "icosa",
    "--poses",
    "random:120:3",
    "--sizes",
    "32",
    "--batch",
    "40",
    "--format",
    "npy",
    "--layers",
    "--workers",
    "1",
]
RAY = ["--engine", "ray", "--worker-cpus", "1"]
SYMSOL = ["--preset", "symsol", "--shapes", "cube,cylO", "--views", "3,2", "--sizes", "32", "--batch", "2"]
#: Seconds a head may take to start, and a build to finish, on a busy 2-core machine.
START_SECONDS = 60
BUILD_SECONDS = 120


@dataclass(frozen=True)
class Head:
    address: str
    unshared: Path  # a folder the head's workers see as an empty tmpfs
    env: dict[str, str]  # for build processes: Ray's temp dir, no RAY_ADDRESS


def ray_env(tmp: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    # Test clusters on loopback: no token (a token in ~/.ray would otherwise be demanded).
    env.update(RAY_TMPDIR=tmp, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process group we started (Ray's head and everything it spawned; Ray's own
    SIGTERM handling takes seconds, and nothing of it is kept)."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the group's other members outlive its leader briefly
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.2)


def start_head(ray_tmp: str, unshared: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """``ray start --head`` (2 CPUs, its own process group) with its temp files in ``ray_tmp``;
    with ``unshared``, in a mount namespace where a tmpfs lies over that folder. Returns the
    process and the address once the head is up."""
    port = free_port()
    ray_bin = Path(sys.executable).parent / "ray"
    script = (
        f"exec {ray_bin} start --head --block --port {port} "
        f"--node-ip-address 127.0.0.1 --num-cpus 2 --num-gpus 0 --include-dashboard false "
        f"--disable-usage-stats --temp-dir {ray_tmp}"
    )
    argv = ["sh", "-c", script]
    if unshared is not None:
        argv = ["unshare", "--mount", "sh", "-c", f"mount -t tmpfs none {unshared} && {script}"]
    with open(Path(ray_tmp) / "head.log", "w") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=ray_env(ray_tmp), start_new_session=True
        )
    deadline = time.monotonic() + START_SECONDS
    while "block forever" not in (Path(ray_tmp) / "head.log").read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_group(proc)
            raise AssertionError(f"ray start --head did not come up: {(Path(ray_tmp) / 'head.log').read_text()}")
        time.sleep(0.3)
    return proc, f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Head]:
    ray_tmp = tempfile.mkdtemp(prefix="grray", dir="/tmp")  # short: Ray's sockets live under it
    unshared = tmp_path_factory.mktemp("unshared")
    try:
        proc, address = start_head(ray_tmp, unshared)
        try:
            yield Head(address, unshared, ray_env(ray_tmp))
        finally:
            stop_group(proc)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def build(*args: str | Path, env: dict[str, str]) -> Run:
    p = subprocess.run(
        [sys.executable, "-m", "gpu_render.build", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=BUILD_SECONDS,
    )
    return Run(p.returncode, p.stdout, p.stderr)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Uninterrupted local builds to compare against."""
    root = tmp_path_factory.mktemp("local")
    outs = {}
    for name, args in (("clpr", CLPR), ("slow", SLOW), ("object", OBJECT)):
        r = build(*args, "--out", root / name, env=dict(os.environ))
        assert r.code == 0, r.err
        outs[name] = root / name
    return outs


def engine(out: Path) -> dict[str, object]:
    return json.loads((out / "manifest.json").read_text())["engine"]


def worker_pids() -> list[int]:
    """Processes of Ray actors running RenderWorker (this test module's Ray only runs ours),
    not counting their encoder processes (forked, so they carry the same title)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"ray::RenderWorker"):
                    parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return sorted(pid for pid, parent in parents.items() if parent not in parents)


def wait_for_records(out: Path, at_least: int, proc: subprocess.Popen[str]) -> int:
    """Wait until ``at_least`` chunks of ``out`` are recorded; their number."""
    deadline = time.monotonic() + BUILD_SECONDS
    while time.monotonic() < deadline:
        records = list((out / ".progress").glob("chunk_*.json")) if (out / ".progress").is_dir() else []
        if len(records) >= at_least:
            return len(records)
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no {at_least} chunk records in {out}")


def test_default_starts_a_local_ray_and_matches_a_local_build(tmp_path: Path, local: dict[str, Path]) -> None:
    """No address: the build starts its own Ray with this machine's 2 CPUs (two 1-CPU workers)."""
    ray_tmp = tempfile.mkdtemp(prefix="grray", dir="/tmp")
    try:
        r = build(*CLPR, *RAY, "--out", tmp_path / "o", env=ray_env(ray_tmp))
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert r.code == 0, r.err
    assert r.out.startswith("built 2197 of 2197 poses") and "poses/s on 2 Ray workers (llvmpipe" in r.out, r.out
    assert_same_dataset(tmp_path / "o", local["clpr"])
    e = engine(tmp_path / "o")
    assert e["name"] == "ray" and e["address"] == "local" and e["worker_count"] == 2
    assert [w["renderer"].startswith("llvmpipe") for w in e["workers"]] == [True, True]
    assert all(w["node"] and w["egl_device"].startswith("EGL device 0") for w in e["workers"])
    assert len({w["pid"] for w in e["workers"]}) == 2


def test_object_npy_with_layers_on_a_head_by_address(tmp_path: Path, head: Head, local: dict[str, Path]) -> None:
    r = build(*OBJECT, *RAY, "--ray-address", head.address, "--out", tmp_path / "o", env=head.env)
    assert r.code == 0, r.err
    assert_same_dataset(tmp_path / "o", local["object"])
    assert engine(tmp_path / "o")["address"] == head.address


def test_preset_symsol_on_ray_equals_its_local_build(tmp_path: Path, head: Head) -> None:
    """``--preset symsol --engine ray``: the same chunks, records and label files as a local build."""
    r = build(*SYMSOL, "--workers", "1", "--out", tmp_path / "local", env=dict(os.environ))
    assert r.code == 0, r.err
    r = build(*SYMSOL, *RAY, "--ray-address", head.address, "--out", tmp_path / "ray", env=head.env)
    assert r.code == 0, r.err
    assert r.out.startswith("built 10 of 10 symsol images") and "on 2 Ray workers (llvmpipe" in r.out, r.out
    assert_same_dataset(tmp_path / "ray", tmp_path / "local")


def test_a_killed_worker_is_restarted_and_its_chunk_redone(tmp_path: Path, head: Head, local: dict[str, Path]) -> None:
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "gpu_render.build", *SLOW, *RAY, "--ray-address", head.address, "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=head.env)
    try:
        wait_for_records(out, 2, proc)
        victims = worker_pids()
        assert len(victims) == 2, victims
        os.kill(victims[0], signal.SIGKILL)
        _stdout, stderr = proc.communicate(timeout=BUILD_SECONDS)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert_same_dataset(out, local["slow"])
    assert engine(out)["worker_restarts"] >= 1


def interrupt(cmd: list[str], env: dict[str, str], out: Path, at_least: int) -> int:
    """Start a build, kill -9 it once ``at_least`` chunks of ``out`` are recorded; how many were."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        return wait_for_records(out, at_least, proc)
    finally:
        proc.kill()
        proc.communicate()


def test_builds_resume_across_engines(tmp_path: Path, head: Head, local: dict[str, Path]) -> None:
    """A local build killed, resumed by Ray, that killed too, resumed by a local build: the
    dataset is byte-identical to an uninterrupted one."""
    out = tmp_path / "o"
    build_cmd = [sys.executable, "-m", "gpu_render.build", *SLOW, "--out", str(out)]
    first = interrupt(build_cmd, dict(os.environ), out, 2)
    second = interrupt([*build_cmd, *RAY, "--ray-address", head.address], head.env, out, first + 2)
    assert first < second < -(-SLOW_POSES // SLOW_BATCH)
    deadline = time.monotonic() + 30
    while worker_pids():  # Ray ends a dead driver's actors; none may write beside the local build
        assert time.monotonic() < deadline, "Ray workers outlived their driver"
        time.sleep(0.2)
    assert json.loads((out / "manifest.json").read_text())["complete"] is False
    r = build(*SLOW, "--out", out, env=dict(os.environ))
    assert r.code == 0, r.err
    built = int(r.out.split()[1])
    assert second * SLOW_BATCH <= SLOW_POSES - built < SLOW_POSES, r.out  # it resumed, and did not start over
    assert_same_dataset(out, local["slow"])
    assert engine(out)["name"] == "local"


def test_out_unshared_with_the_workers_is_one_line(tmp_path: Path, head: Head) -> None:
    out = head.unshared / "o"
    r = build(*CLPR, *RAY, "--ray-address", head.address, "--out", out, env=head.env)
    assert r.code == 2
    line = r.one_line_error()
    assert f"--out {out} is not on a filesystem every Ray worker sees" in line, line
    assert "No such file or directory" in line and "put OUT on a shared filesystem" in line
    assert not list(out.glob(".ray-probe*"))
    assert not (out / ".progress").exists() or not list((out / ".progress").iterdir())


def test_bad_address_is_one_line(tmp_path: Path, head: Head) -> None:
    address = f"127.0.0.1:{free_port()}"
    r = build(*CLPR, *RAY, "--ray-address", address, "--out", tmp_path / "o", env=head.env)
    assert r.code == 2
    assert f"cannot join the Ray cluster at {address}: Connection refused" in r.one_line_error()
    assert not (tmp_path / "o").exists()


def test_missing_ray_is_one_line(tmp_path: Path) -> None:
    """Ray not installed: an import of ``ray`` that fails, as it does without the extra."""
    shadow = tmp_path / "noray" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow.parent), os.environ.get("PYTHONPATH", "")])}
    r = build(*CLPR, "--engine", "ray", "--out", tmp_path / "o", env=env)
    assert r.code == 2
    assert r.one_line_error() == "gpu_render.build: error: --engine ray: this needs ray: pip install 'gpu_render[ray]'"
    assert not (tmp_path / "o").exists()


def test_a_chunk_that_keeps_failing_stops_the_build_with_one_line(
    tmp_path: Path, head: Head, local: dict[str, Path]
) -> None:
    """A real fault: a folder where one image must go, so every try of its chunk fails."""
    out = tmp_path / "o"
    interrupt([sys.executable, "-m", "gpu_render.build", *SLOW, "--out", str(out)], dict(os.environ), out, 1)
    recorded = {int(p.stem.split("_")[1]) for p in (out / ".progress").glob("chunk_*.json")}
    chunk = max(set(range(-(-SLOW_POSES // SLOW_BATCH))) - recorded)  # one the interrupted build had not done
    pose = chunk * SLOW_BATCH
    blocker = out / "32" / f"cube1_index_{pose + 1}.jpg"
    blocker.mkdir()
    r = build(*SLOW, *RAY, "--ray-address", head.address, "--out", out, env=head.env)
    assert r.code == 2
    line = r.one_line_error()
    first, last = chunk * SLOW_BATCH, min(SLOW_POSES, (chunk + 1) * SLOW_BATCH) - 1
    assert f"chunk {chunk} (poses {first}..{last}) failed 3 times on Ray: IsADirectoryError" in line, line
    assert line.endswith("re-run the same command to resume")
    assert not (out / ".progress" / f"chunk_{chunk:06d}.json").exists()
    blocker.rmdir()
    r = build(*SLOW, "--out", out, env=dict(os.environ))
    assert r.code == 0, r.err
    assert_same_dataset(out, local["slow"])


def live_workers(proc: subprocess.Popen[str], not_these: list[int]) -> list[int]:
    """Render actors' processes other than ``not_these`` (killed already), once there is one."""
    deadline = time.monotonic() + BUILD_SECONDS
    while time.monotonic() < deadline:
        pids = [pid for pid in worker_pids() if pid not in not_these]
        if pids:
            return pids
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("no render worker came back")


def test_three_killed_workers_are_replaced_and_the_build_completes(
    tmp_path: Path, head: Head, local: dict[str, Path]
) -> None:
    """Each worker may be restarted 3 times: three kills -9 of render actors' processes (with
    progress between them, so no chunk is held by all three) cost three restarts, not more."""
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "gpu_render.build", *SLOW, *RAY, "--ray-address", head.address, "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=head.env)
    killed: list[int] = []
    try:
        recorded = wait_for_records(out, 2, proc)
        for _ in range(3):
            victim = live_workers(proc, killed)[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
            # A killed worker's chunks go to the next free worker, which records them within a
            # few steps: wait for those, so that the next kill cannot hit the same chunk.
            recorded = wait_for_records(out, recorded + 4, proc)
        assert recorded < -(-SLOW_POSES // SLOW_BATCH)  # every kill hit a running build
        _, stderr = proc.communicate(timeout=BUILD_SECONDS)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 0, stderr
    assert_same_dataset(out, local["slow"])
    assert engine(out)["worker_restarts"] == 3
    assert len(engine(out)["workers"]) == 2


def test_a_cluster_with_no_live_node_stops_the_build_within_a_minute(tmp_path: Path, local: dict[str, Path]) -> None:
    """Ray's agent killed on the only node: the raylet goes with it, and every worker. The build
    exits 2 within 60 s with one line naming what is left and the command that resumes it on
    this machine, and that command finishes the dataset byte-identical to a local build."""
    ray_tmp = tempfile.mkdtemp(prefix="grray", dir="/tmp")
    out = tmp_path / "o"
    try:
        head, address = start_head(ray_tmp)
        try:
            cmd = [sys.executable, "-m", "gpu_render.build", *SLOW, *RAY, "--ray-address", address, "--out", str(out)]
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ray_env(ray_tmp)
            )
            try:
                wait_for_records(out, 2, proc)
                agent = [pid for pid in process_group(head.pid) if cmdline(pid).startswith(b"ray::DashboardAgent")]
                assert len(agent) == 1, agent
                os.kill(agent[0], signal.SIGKILL)
                killed_at = time.monotonic()
                _, stderr = proc.communicate(timeout=90)
                waited = time.monotonic() - killed_at
            finally:
                proc.kill()
                proc.communicate()
        finally:
            stop_group(head)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 2, stderr
    assert waited < 60
    line = Run(2, "", stderr).one_line_error()
    assert line.startswith("gpu_render.build: error: no live node of the Ray cluster can run a worker (1 CPU): "), line
    chunks = -(-SLOW_POSES // SLOW_BATCH)
    left = int(line.split(f" of {chunks} chunks are left; ")[0].rsplit(" ", 1)[1])
    # The driver counts what it was told: a worker may have recorded a chunk just before it died.
    assert chunks - len(list((out / ".progress").glob("chunk_*.json"))) <= left < chunks, line
    marker = "re-run the same command once the cluster is back, or resume on this machine with: "
    assert marker in line, line
    resume = shlex.split(line.split(marker, 1)[1])
    assert resume[:3] == ["python", "-m", "gpu_render.build"] and "--engine" not in resume
    r = subprocess.run(
        [sys.executable, *resume[1:]], capture_output=True, text=True, timeout=BUILD_SECONDS, check=False
    )
    assert r.returncode == 0, r.stderr
    assert_same_dataset(out, local["slow"])
    assert engine(out)["name"] == "local"


def process_group(pgid: int) -> list[int]:
    """Processes in process group ``pgid`` (a head we started and what it spawned)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    found.append(int(entry.name))
            except ProcessLookupError:
                continue
    return found


def cmdline(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


def test_one_line_names_an_actor_death_without_rays_ids() -> None:
    from ray.exceptions import ActorDiedError

    died = ActorDiedError()
    died.error_msg = (
        "The actor died unexpectedly before finishing this task.\n\tclass_name: RenderWorker\n"
        "\tactor_id: 8e058015235a335f3501a7ff01000000\n\tpid: 12875\nThe actor is dead because its "
        "owner has died. Owner Id: 01000000ffffffffffffffffffffffffffffffffffffffffffffffff Owner "
        "worker exit type: SYSTEM_ERROR Worker exit detail: Owner's node has crashed."
    )
    assert one_line(died) == (
        "ActorDiedError: The actor died unexpectedly before finishing this task. The actor is "
        "dead because its owner has died. Owner Id: ... Owner worker exit type: SYSTEM_ERROR "
        "Worker exit detail: Owner's node has crashed."
    )


def test_a_worker_whose_buffers_do_not_fit_its_node_is_one_line(tmp_path: Path) -> None:
    """The local Ray's workers inherit GPU_RENDER_MEMORY_LIMIT: each refuses its 2 chunk slots,
    and the build says which --batch fits, without suggesting a rerun."""
    ray_tmp = tempfile.mkdtemp(prefix="grray", dir="/tmp")
    try:
        r = build(
            *CLPR,
            *RAY,
            "--sizes",
            "512",
            "--out",
            tmp_path / "o",
            env={**ray_env(ray_tmp), "GPU_RENDER_MEMORY_LIMIT": "256M"},
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert r.code == 2
    line = r.one_line_error()
    assert line.startswith(
        "gpu_render.build: error: a Ray worker could not start: --batch 256 at sizes 512 (2 chunks in flight) needs "
    ), line
    fit = largest_batch(int(256 * 2**20 * USABLE_SHARE), (512,), 2, False, MAX_ATLAS_SIDE)
    assert line.endswith(f"use --batch {fit} or less (in a new --out: a dataset resumes only with its own --batch)")
