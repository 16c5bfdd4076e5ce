"""Atomic writes: a file appears complete under its final name, or not at all."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from gpu_render.dataset import writer


def test_atomic_write_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "a.jpg"
    writer.atomic_write_bytes(target, b"first")
    writer.atomic_write_bytes(str(target), b"second")  # str paths too: the build's hot loop uses them
    assert target.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["a.jpg"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "a.jpg"
    target.write_bytes(b"old")

    def full(fd: int, data) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError, match="No space"):
        writer.atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.jpg"]


def test_replacing_block_that_fails_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "labels.npy"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), writer.replacing(target) as tmp:
        Path(tmp).write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    with pytest.raises(RuntimeError), writer.replacing(tmp_path / "never.npy"):
        raise RuntimeError("failed before creating the temporary")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["labels.npy"]
