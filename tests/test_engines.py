"""Pure parts of the engines: which EGL device is a CUDA device, and how a Ray cluster is cut
into workers. No GPU and no Ray needed: the device lists and cluster resources are made up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpu_render.engines.pipeline import chunk_ranges
from gpu_render.engines.ray_cluster import Sizing, check_address, one_line, worker_sizing
from gpu_render.errors import UsageError
from gpu_render.render.context import NoOpenGLError
from gpu_render.render.egl_devices import (
    DeviceChoiceError,
    EglDevice,
    choose_egl_device,
    physical_cuda_device,
    query_egl_devices,
)
from tests.cli import run_module

#: A node whose EGL lists Mesa's software device first, then four NVIDIA GPUs in another order.
NODE = [EglDevice(0, None), EglDevice(1, 2), EglDevice(2, 0), EglDevice(3, 3), EglDevice(4, 1)]


@pytest.mark.parametrize(
    "ordinal, visible, want",
    [(0, None, 2), (1, None, 4), (3, None, 3), (0, "3", 3), (0, "1", 4), (1, "2,0", 2), (0, " 0 ", 2)],
)
def test_the_egl_device_reporting_the_cuda_device_is_chosen(ordinal: int, visible: str | None, want: int) -> None:
    choice = choose_egl_device(ordinal, NODE, visible)
    assert choice.matched and choice.index == want
    assert choice.how == f"EGL device {want} is CUDA device {NODE[want].cuda} (EGL_CUDA_DEVICE_NV)"


def test_without_device_query_the_index_is_used_and_said() -> None:
    choice = choose_egl_device(1, None, None)
    assert (choice.index, choice.matched) == (1, False)
    assert "by index (no EGL_EXT_device_query)" in choice.how
    # Ray's CUDA_VISIBLE_DEVICES=3: the process's device 0 is the node's device 3, EGL's index 3.
    assert choose_egl_device(0, None, "3").index == 3


def test_when_no_device_reports_cuda_the_index_is_used() -> None:
    mesa = [EglDevice(0, None), EglDevice(1, None)]
    choice = choose_egl_device(1, mesa, None)
    assert (choice.index, choice.matched) == (1, False)
    assert "no EGL device reports EGL_CUDA_DEVICE_NV" in choice.how
    # CUDA_VISIBLE_DEVICES means nothing to Mesa: --device 0 is EGL device 0 whatever it says.
    assert choose_egl_device(0, mesa, "5").index == 0


def test_devices_counted_after_cuda_visible_devices_are_matched_by_the_process_ordinal() -> None:
    """A driver that numbers EGL_CUDA_DEVICE_NV as this process's CUDA does: with
    CUDA_VISIBLE_DEVICES=3 only the visible GPU reports an ordinal, and it reports 0."""
    remapped = [EglDevice(0, None), EglDevice(1, None), EglDevice(2, None), EglDevice(3, 0), EglDevice(4, None)]
    choice = choose_egl_device(0, remapped, "3")
    assert choice.matched and choice.index == 3 and "of this process" in choice.how
    two = [EglDevice(0, None), EglDevice(1, 1), EglDevice(2, 0)]  # CUDA_VISIBLE_DEVICES=4,6
    assert choose_egl_device(1, two, "4,6").index == 1


def test_a_uuid_in_cuda_visible_devices_falls_back_to_the_index() -> None:
    choice = choose_egl_device(0, NODE, "GPU-8f6e2c1a-0000-0000-0000-000000000000")
    assert (choice.index, choice.matched) == (0, False)
    assert "names no CUDA ordinal" in choice.how


def test_a_cuda_device_without_an_egl_device_is_refused() -> None:
    with pytest.raises(DeviceChoiceError, match=r"CUDA device 7 has no EGL device .*\[0, 1, 2, 3\]"):
        choose_egl_device(0, NODE, "7")
    assert issubclass(DeviceChoiceError, NoOpenGLError)  # the build reports it in one line, exit 2


def test_physical_cuda_device() -> None:
    assert physical_cuda_device(2, None) == 2
    assert physical_cuda_device(2, "") == 2
    assert physical_cuda_device(1, "5,6") == 6
    assert physical_cuda_device(2, "5,6") is None


def test_this_machines_egl_devices_are_listed() -> None:
    """Mesa here: EGL_EXT_device_query is there, and no device reports a CUDA ordinal."""
    devices = query_egl_devices()
    assert devices is not None and len(devices) >= 1
    assert [d.index for d in devices] == list(range(len(devices)))
    assert choose_egl_device(0, devices, None).index == 0


def test_every_command_opens_its_gpu_in_cuda_numbering(monkeypatch: pytest.MonkeyPatch) -> None:
    """build, the presets, the stream and the service all open ``device`` N as the EGL device that
    reports CUDA device N (one numbering), through headless_on; none opens EGL index N itself."""
    import inspect

    from gpu_render.engines import local
    from gpu_render.render import egl_devices
    from gpu_render.serve import render_process
    from gpu_render.stream import render_stream

    opened: list[int] = []
    monkeypatch.setattr(egl_devices, "query_egl_devices", lambda: NODE)
    monkeypatch.setattr(egl_devices, "Headless", lambda index: opened.append(index) or index)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert [egl_devices.headless_on(n) for n in range(4)] == [2, 4, 1, 3] == opened
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # as Ray sets it: this process's device 0 is GPU 3
    assert egl_devices.headless_on(0) == 3
    for module in (render_stream, render_process):
        source = inspect.getsource(module)
        assert "headless_on(" in source and "Headless(" not in source, module.__name__
    # Every build, presets included, runs through the engines, which pick the EGL device of CUDA device N.
    assert "Headless(egl_device_for_cuda(" not in inspect.getsource(local)
    assert "choice = egl_device_for_cuda(job.device)" in inspect.getsource(local)


@pytest.mark.parametrize(
    "resources, worker_cpus, want",
    [
        ({"CPU": 2.0}, 1, Sizing(2, 1, 0, 1)),
        ({"CPU": 2.0}, None, Sizing(1, 2, 0, 1)),
        ({"CPU": 16.0}, 4, Sizing(4, 4, 0, 3)),
        ({"CPU": 96.0, "GPU": 8.0}, None, Sizing(8, 12, 1, 11)),
        ({"CPU": 96.0, "GPU": 8.0}, 24, Sizing(4, 24, 1, 23)),  # CPUs run out before GPUs
        ({"CPU": 512.0, "GPU": 64.0}, 8, Sizing(64, 8, 1, 7)),
    ],
)
def test_worker_sizing(resources: dict[str, float], worker_cpus: int | None, want: Sizing) -> None:
    assert worker_sizing(resources, worker_cpus, chunks=1000) == want


def test_a_gpu_worker_fits_on_one_gpu_node() -> None:
    """A CPU-only head (8 CPUs) and two GPU nodes: a worker's default size is the leanest GPU
    node's CPUs per GPU, never the cluster's average, which no GPU node could hold."""
    nodes = [{"CPU": 8.0}, {"CPU": 1.0, "GPU": 1.0}, {"CPU": 16.0, "GPU": 4.0}]
    resources = {"CPU": 25.0, "GPU": 5.0}
    assert worker_sizing(resources, None, chunks=100, nodes=nodes) == Sizing(5, 1, 1, 1)
    assert worker_sizing(resources, 4, chunks=100, nodes=nodes) == Sizing(4, 4, 1, 3)  # the 1-CPU node runs none
    with pytest.raises(UsageError, match="more than any GPU node"):
        worker_sizing(resources, 20, chunks=100, nodes=nodes)


def test_never_more_workers_than_chunks_nor_cpus_than_the_cluster() -> None:
    assert worker_sizing({"CPU": 64.0, "GPU": 8.0}, None, chunks=3).workers == 3
    with pytest.raises(UsageError, match="--worker-cpus 4 is more than the Ray cluster's 2 CPUs"):
        worker_sizing({"CPU": 2.0}, 4, chunks=10)


def test_chunk_ranges() -> None:
    assert chunk_ranges(5, 2) == {0: (0, 2), 1: (2, 4), 2: (4, 5)}
    assert chunk_ranges(4, 4) == {0: (0, 4)}


def test_a_closed_port_is_refused_at_once() -> None:
    with pytest.raises(UsageError, match=r"cannot join the Ray cluster at 127\.0\.0\.1:1: Connection refused"):
        check_address("127.0.0.1:1")
    check_address("auto")  # left to Ray


def test_one_line_takes_the_task_error_not_its_wrapper() -> None:
    class Wrapped(Exception):
        cause = OSError(28, "No space left on device")

    assert one_line(Wrapped("long\ntraceback")) == "OSError: [Errno 28] No space left on device"
    assert one_line(ValueError("a\n  b")) == "ValueError: a b"


def test_a_local_build_logs_the_index_fallback_and_records_it(tmp_path: Path) -> None:
    """A CUDA device asked for (CUDA_VISIBLE_DEVICES) on Mesa, which reports none: the index is
    used, one warning line says so, and the manifest records the choice."""
    out = tmp_path / "o"
    r = run_module(
        "gpu_render.build",
        "--step",
        "1.0",
        "--sizes",
        "8",
        "--limit",
        "12",
        "--workers",
        "1",
        "--out",
        out,
        env={"CUDA_VISIBLE_DEVICES": "0"},
    )
    assert r.code == 0, r.err
    assert r.err.strip().splitlines() == [
        "--device 0: EGL device 0 by index (no EGL device reports EGL_CUDA_DEVICE_NV)"
    ]
    engine = json.loads((out / "manifest.json").read_text())["engine"]
    assert engine["name"] == "local" and engine["worker_count"] == 1
    (worker,) = engine["workers"]
    assert worker["egl_device"].startswith("EGL device 0 by index") and worker["renderer"].startswith("llvmpipe")
