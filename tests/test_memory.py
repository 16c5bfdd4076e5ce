"""Memory for the image buffers, checked before they are allocated (gpu_render/memory.py): the
bytes a batch needs and the largest batch that fits, what is available, and the refusals of the
build, the stream and the service's render process. GPU_RENDER_MEMORY_LIMIT stands in for a
machine with less memory."""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gpu_render import memory
from gpu_render.cli.stopped import report_stop
from gpu_render.dataset.encoder_pool import EncoderPool
from gpu_render.dataset.writer import ImageSink
from gpu_render.errors import UsageError
from gpu_render.render.atlas import MAX_ATLAS_SIDE
from gpu_render.scene.scene import ClprScene
from gpu_render.stream import RenderStream
from tests.cli import Run, run_module

#: A build whose 512 px chunks outgrow a 64 MiB limit unless the batch is small.
BIG = ("--step", "1.0", "--limit", "40", "--sizes", "512", "--format", "jpg", "--workers", "1")


def test_batch_bytes_counts_the_slots_staging_and_layers() -> None:
    image = {32: 32 * 32 * 3, 64: 64 * 64 * 3}
    slots = 3 * 512 * (image[32] + image[64])
    staging = 512 * image[32] + 256 * image[64]  # one atlas column: 16384 // 64 = 256 tiles at 64 px
    assert memory.batch_bytes(512, (32, 64), 3, False, 16384) == slots + staging
    assert memory.batch_bytes(512, (32, 64), 3, True, 16384) == slots + staging + 512 * 64 * 64 * 5
    assert memory.batch_bytes(1, (4096,), 2, False, 16384) == 3 * 4096 * 4096 * 3


def test_batch_bytes_shared_part_is_what_the_encoder_pool_allocates(tmp_path: Path) -> None:
    sizes, batch, slots = (16, 48), 20, 3
    pool = EncoderPool(ImageSink(tmp_path, "jpg"), sizes, batch, 1, slots)
    try:
        shared = sum(a.nbytes for i in range(pool.slot_count) for a in pool.slot(i).values())
    finally:
        pool.terminate()
    staging = memory.batch_bytes(batch, sizes, 0, False, MAX_ATLAS_SIDE)
    assert memory.batch_bytes(batch, sizes, slots, False, MAX_ATLAS_SIDE) == shared + staging


@pytest.mark.parametrize("available", [10**6, 10**8, 3 * 10**9, 19 * 2**30, 2**40])
@pytest.mark.parametrize("sizes, layers", [((2048,), False), ((32, 64, 128, 256), False), ((224,), True)])
def test_largest_batch_is_the_largest_that_fits(available: int, sizes: tuple[int, ...], layers: bool) -> None:
    fit = memory.largest_batch(available, sizes, 3, layers, MAX_ATLAS_SIDE)
    assert fit == 0 or memory.batch_bytes(fit, sizes, 3, layers, MAX_ATLAS_SIDE) <= available
    assert memory.batch_bytes(fit + 1, sizes, 3, layers, MAX_ATLAS_SIDE) > available


def test_largest_batch_of_nothing_and_the_ceiling() -> None:
    assert memory.largest_batch(100, (2048,), 3, False, MAX_ATLAS_SIDE) == 0
    assert memory.largest_batch(2**62, (8,), 1, False, MAX_ATLAS_SIDE, ceiling=1000) == 1000


def test_the_default_2048_build_needs_about_19_gb() -> None:
    """The default --batch 512 at 2048 px: three slots of 512 x 2048^2 x 3 bytes."""
    need = memory.batch_bytes(512, (2048,), 3, False, MAX_ATLAS_SIDE)
    assert 19e9 < need < 20e9


@pytest.mark.parametrize(
    "text, value",
    [("123", 123), ("512M", 512 * 2**20), ("1.5G", 3 * 2**29), ("2GiB", 2**31), (" 64k ", 65536), ("1T", 2**40)],
)
def test_parse_bytes(text: str, value: int) -> None:
    assert memory.parse_bytes(text) == value


@pytest.mark.parametrize("text", ["", "lots", "-5M", "1X", "G"])
def test_parse_bytes_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        memory.parse_bytes(text)


def test_available_memory_reads_the_machine_or_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(memory.LIMIT_ENV, raising=False)
    found = memory.available_memory()
    lines = Path("/proc/meminfo").read_text().splitlines()
    meminfo = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in lines}
    assert found is not None and 0 < found[0] <= meminfo["MemTotal"]
    monkeypatch.setenv(memory.LIMIT_ENV, "3G")
    assert memory.available_memory() == (3 * 2**30, memory.LIMIT_ENV)
    monkeypatch.setenv(memory.LIMIT_ENV, "plenty")
    with pytest.raises(UsageError, match="GPU_RENDER_MEMORY_LIMIT must be a number of bytes"):
        memory.available_memory()


def test_buffer_size_gives_what_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(memory.LIMIT_ENV, "100M")  # 80 MiB usable
    assert memory.buffer_size(10 * 2**20, 50 * 2**20) == 50 * 2**20
    assert memory.buffer_size(10 * 2**20, 90 * 2**20) == 10 * 2**20
    with pytest.raises(MemoryError, match=r"need 90\.0 MiB of shared memory, more than 80% of the 100\.0 MiB"):
        memory.buffer_size(90 * 2**20, 90 * 2**20)


# -- the build ---------------------------------------------------------------------------------


def test_the_build_refuses_a_batch_that_does_not_fit_and_names_one_that_does(tmp_path: Path) -> None:
    out = tmp_path / "o"
    limit = {memory.LIMIT_ENV: "64M"}
    r = run_module("gpu_render.build", *BIG, "--out", out, env=limit)
    assert r.code == 2, r.err
    line = r.one_line_error()
    need = memory.human(memory.batch_bytes(40, (512,), 3, False, MAX_ATLAS_SIDE))  # the slots hold the 40 poses
    assert line.startswith(f"gpu_render.build: error: --batch 512 at sizes 512 (3 chunks in flight) needs {need} ")
    assert "more than 80% of the 64.0 MiB available (GPU_RENDER_MEMORY_LIMIT)" in line
    fit = memory.largest_batch(int(64 * 2**20 * 0.8), (512,), 3, False, MAX_ATLAS_SIDE)
    assert f"; use --batch {fit} or less (in a new --out" in line
    assert not out.exists()  # refused before anything was made
    r = run_module("gpu_render.build", *BIG, "--batch", str(fit), "--out", out, env=limit)
    assert r.code == 0, r.err
    assert r.out.startswith("built 40 of 40 poses")
    r = run_module("gpu_render.build", *BIG, "--batch", str(fit + 1), "--out", tmp_path / "o2", env=limit)
    assert r.code == 2 and "use --batch" in r.one_line_error()


def test_a_bad_memory_limit_is_one_line(tmp_path: Path) -> None:
    r = run_module("gpu_render.build", *BIG, "--out", tmp_path / "o", env={memory.LIMIT_ENV: "half"})
    assert r.code == 2
    assert (
        r.one_line_error() == "gpu_render.build: error: GPU_RENDER_MEMORY_LIMIT must be a number of bytes "
        "(or with K, M, G or T), got 'half'"
    )


def test_out_of_memory_does_not_suggest_a_rerun(tmp_path: Path) -> None:
    """The kernel refuses the slots (ENOMEM, here under an address-space cap the memory check does
    not see): the line says what to change, not to run the same command again."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))

    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "gpu_render.build", *BIG, "--sizes", "4096", "--batch", "40", "--out", str(out)]
    p = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap,
        check=False,
        env={**os.environ, memory.LIMIT_ENV: "1T"},
    )  # the check passes: the kernel refuses
    line = Run(p.returncode, p.stdout, p.stderr).one_line_error()
    assert p.returncode == 2
    assert line == (
        "gpu_render.build: error: out of memory: Cannot allocate memory; free memory, or use a smaller "
        "--batch (in a new --out) or fewer --sizes"
    )


def test_report_stop_on_memory_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert report_stop("p", MemoryError("Unable to allocate 17.2 GiB for an array")) == 2
    assert report_stop("p", OSError(errno.ENOMEM, "Cannot allocate memory")) == 2
    assert report_stop("p", OSError(errno.ENOSPC, "No space left on device")) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "p: error: out of memory: Unable to allocate 17.2 GiB for an array; " + memory_fix()
    assert err[1] == "p: error: out of memory: Cannot allocate memory; " + memory_fix()
    assert err[2].endswith("fix that and re-run the same command to resume")  # a full disk: fix it, re-run


def memory_fix() -> str:
    return "free memory, or use a smaller --batch (in a new --out) or fewer --sizes"


# -- the stream and the service ----------------------------------------------------------------


def test_the_stream_refuses_a_batch_that_does_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(memory.LIMIT_ENV, "256M")
    fit = memory.largest_batch(int(256 * 2**20 * 0.8), (512,), 2, False, MAX_ATLAS_SIDE)
    with pytest.raises(UsageError) as info:
        RenderStream("cylO", "random:inf", 512, batch=512)
    need = memory.human(memory.batch_bytes(512, (512,), 2, False, MAX_ATLAS_SIDE))
    assert str(info.value).startswith(f"batch 512 at 512 px needs {need} of memory for its image buffers")
    assert str(info.value).endswith(f"; use batch={fit} or less")
    assert RenderStream("cylO", "random:inf", 512, batch=fit).options.batch == fit
    assert RenderStream("cylO", "random:40", 512, batch=512).options.capacity == 40  # a short source holds less


def test_the_render_process_makes_the_buffer_that_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    from gpu_render.serve.render_process import RenderProcess

    monkeypatch.setenv(memory.LIMIT_ENV, "40M")  # 32 MiB usable: 256 poses at 256 px (48 MiB) do not fit
    process = RenderProcess(0, 256, 2)
    process.start()
    try:
        rows = np.repeat(np.eye(3)[None], 3, axis=0)
        (images,), _ = process.draw("cube", ClprScene(), 256, rows)
        assert images.shape == (3, 256, 256, 3) and images.any()
        assert process._buffer is not None and len(process._buffer) == 3 * 256 * 256 * 3  # not 256 poses' worth
        with pytest.raises(MemoryError, match=r"need 36\.0 MiB of shared memory, more than 80% of the 40\.0 MiB"):
            process.draw("cube", ClprScene(), 2048, rows)
        assert process.alive  # the render process was never asked to fill it
        (again,), _ = process.draw("cube", ClprScene(), 256, rows)
        assert np.array_equal(again, images)
    finally:
        process.stop()
