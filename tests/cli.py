"""Run the project's command-line tools as a user would: a fresh Python process each time."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def one_line_error(self) -> str:
        """The stderr of a refused command: exactly one line, no traceback."""
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got: {self.err!r}"
        assert "Traceback" not in self.err
        return lines[0]


def run_module(module: str, *args: str | Path, env: dict[str, str] | None = None, timeout: float = 300) -> Run:
    full_env = {**os.environ, **(env or {})}
    p = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    return Run(p.returncode, p.stdout, p.stderr)


def assert_build_refused(args: list[str | Path], message: str, out: Path) -> None:
    """``gpu_render.build ARGS --out OUT`` exits 2 with one line containing ``message`` and creates nothing."""
    r = run_module("gpu_render.build", *args, "--out", out)
    assert r.code == 2, (args, r.err)
    assert message in r.one_line_error(), args
    assert not out.exists(), args
