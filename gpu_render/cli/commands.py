"""The package's commands, their names and the one version line they all print.

Each command runs as ``python -m gpu_render.NAME`` or as the console script ``gpu-render-NAME``
(pyproject.toml's ``[project.scripts]``); its ``--help`` names it the way it was started.
The version is ``gpu_render.__version__``, the one place it is written (pyproject.toml reads
it from there).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """name: what follows ``python -m gpu_render``; module: the module run with ``-m``;
    script: the console script; summary: one line of what it does; entry: the module whose
    ``main(argv)`` runs it (``module`` itself, or its ``__main__`` for a package)."""

    name: str
    module: str
    script: str
    summary: str
    entry: str = ""

    @property
    def main_module(self) -> str:
        return self.entry or self.module


COMMANDS: tuple[Command, ...] = (
    Command(
        "build",
        "gpu_render.build",
        "gpu-render-build",
        "render a dataset into OUT (the cLPR cube, a SYMSOL solid, a mesh file; --preset: a benchmark's layout)",
        entry="gpu_render.cli.build",
    ),
    Command(
        "verify",
        "gpu_render.verify",
        "gpu-render-verify",
        "check that a built dataset is complete and correct (exit 0), or list its problems (exit 1)",
        entry="gpu_render.cli.verify",
    ),
    Command(
        "preview",
        "gpu_render.preview",
        "gpu-render-preview",
        "look at any scene live in a window, drawn by the build's renderer",
        entry="gpu_render.cli.preview",
    ),
    Command(
        "serve",
        "gpu_render.serve",
        "gpu-render-serve",
        "answer render requests over HTTP (the [serve] extra)",
        entry="gpu_render.serve.__main__",
    ),
)

#: The console script of ``python -m gpu_render``: the list of commands.
MAIN_SCRIPT = "gpu-render"


def version_line() -> str:
    """``gpu_render X.Y.Z``: what every command's ``--version`` prints."""
    from gpu_render import __version__

    return f"gpu_render {__version__}"


def prog_name(module: str, argv0: str | None = None) -> str:
    """The name a command's usage line shows: the console script's own name when it was started
    as one (``gpu-render-build``), else ``python -m MODULE``.

    argv0: the program as started (default ``sys.argv[0]``).
    """
    started = os.path.basename(sys.argv[0] if argv0 is None else argv0)
    if started.startswith(MAIN_SCRIPT):
        return started
    return f"python -m {module}"
