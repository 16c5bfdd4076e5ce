"""Comparing two dataset folders byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

#: Manifest fields that describe a run rather than the dataset.
RUN_FIELDS = ("seconds", "finished_at", "options", "renderer", "engine")


def files(out: Path) -> dict[str, bytes]:
    """Every file under ``out`` except the manifest, by relative path."""
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def assert_same_dataset(got: Path, want: Path) -> None:
    """Same files with the same bytes, and manifests equal but for run-specific fields."""
    a, b = files(got), files(want)
    assert sorted(a) == sorted(b), f"file sets differ: {sorted(set(a) ^ set(b))[:5]}"
    differing = [name for name in a if a[name] != b[name]]
    assert not differing, f"{len(differing)} files differ, e.g. {differing[:5]}"
    ma, mb = (json.loads((p / "manifest.json").read_text()) for p in (got, want))
    for key in RUN_FIELDS:
        ma.pop(key, None)
        mb.pop(key, None)
    assert ma == mb
    assert ma["complete"] is True
