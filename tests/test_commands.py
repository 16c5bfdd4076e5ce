"""The commands as a user starts them: ``python -m gpu_render``, ``--version`` and ``--help`` of
every command, as modules and as the console scripts an install puts on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from gpu_render import __version__
from gpu_render.cli.commands import COMMANDS, MAIN_SCRIPT, prog_name
from tests.cli import run_module
from tests.conftest import REPO

VERSION_LINE = f"gpu_render {__version__}"
#: Every way to start a command: (python -m module, its extra arguments).
STARTS = [
    ("gpu_render", []),
    *((c.module, []) for c in COMMANDS),
    ("gpu_render.build", ["--preset", "symsol"]),
    ("gpu_render.build", ["--preset", "modelnet10-so3"]),
]


def test_python_m_gpu_render_lists_the_commands() -> None:
    r = run_module("gpu_render")
    assert r.code == 0 and r.err == ""
    assert r.out.startswith("usage: python -m gpu_render COMMAND")
    for name in ("build", "verify", "preview", "serve"):
        assert f"\n  {name} " in r.out, name
    assert len(r.out.splitlines()) < 20  # a short help


def test_python_m_gpu_render_runs_a_command() -> None:
    r = run_module("gpu_render", "verify", "--help")
    assert r.code == 0 and r.out.startswith("usage: python -m gpu_render.verify")


def test_unknown_command_is_one_line_and_exit_2() -> None:
    r = run_module("gpu_render", "bulid")
    assert r.code == 2 and r.out == ""
    line = r.one_line_error()
    assert "unknown command 'bulid'" in line and "build, verify, preview, serve" in line


@pytest.mark.parametrize(("module", "extra"), STARTS, ids=[" ".join([m, *e]) for m, e in STARTS])
def test_version_on_every_command(module: str, extra: list[str]) -> None:
    r = run_module(module, *extra, "--version")
    assert (r.code, r.out, r.err) == (0, VERSION_LINE + "\n", "")


def test_the_version_is_written_once() -> None:
    """pyproject.toml takes the version from gpu_render/__init__.py; nothing else writes it."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    assert project["tool"]["hatch"]["version"]["path"] == "gpu_render/__init__.py"
    assert __version__.count(".") == 2 and all(part.isdigit() for part in __version__.split("."))


@pytest.mark.parametrize("command", COMMANDS, ids=[c.name for c in COMMANDS])
def test_help_as_a_module_names_the_module(command) -> None:
    r = run_module(command.module, "--help")
    assert r.code == 0 and r.out.startswith(f"usage: python -m {command.module} ")
    assert "--version" in r.out


def test_every_command_has_a_console_script() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[MAIN_SCRIPT] == "gpu_render.__main__:main"
    for c in COMMANDS:
        assert scripts[c.script] == f"{c.main_module}:main", c
    assert len(scripts) == len(COMMANDS) + 1


def test_prog_name() -> None:
    assert prog_name("gpu_render.build", "/venv/bin/gpu-render-build") == "gpu-render-build"
    assert prog_name("gpu_render.build", "/repo/gpu_render/build.py") == "python -m gpu_render.build"
    assert prog_name("gpu_render.serve", "/x/gpu_render/serve/__main__.py") == "python -m gpu_render.serve"
    assert prog_name("gpu_render", "-c") == "python -m gpu_render"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, installed into a folder of its own: (its site folder; scripts in site/bin)."""
    tmp = tmp_path_factory.mktemp("installed")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "wheels"), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp / "wheels").glob("gpu_render-*.whl")
    with zipfile.ZipFile(wheel) as z:
        metadata = z.read(f"gpu_render-{__version__}.dist-info/METADATA").decode()
    assert f"\nVersion: {__version__}\n" in metadata
    site = tmp / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    return site


def _script(site: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([str(site / "bin" / name), *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("command", COMMANDS, ids=[c.name for c in COMMANDS])
def test_console_script_help_and_version(installed: Path, command) -> None:
    p = _script(installed, command.script, "--help")
    assert p.returncode == 0 and p.stdout.startswith(f"usage: {command.script} "), p.stdout[:200]
    p = _script(installed, command.script, "--version")
    assert (p.returncode, p.stdout) == (0, VERSION_LINE + "\n")


def test_console_script_lists_the_commands(installed: Path) -> None:
    p = _script(installed, MAIN_SCRIPT)
    assert p.returncode == 0 and p.stdout.startswith(f"usage: {MAIN_SCRIPT} COMMAND")
    assert all(f"\n  {c.name} " in p.stdout for c in COMMANDS)
    p = _script(installed, "gpu-render-build", "--preset", "symsol", "--help")
    assert p.returncode == 0 and p.stdout.startswith("usage: gpu-render-build ")


def test_the_build_command_starts_without_the_mesh_library() -> None:
    """trimesh (and the scipy it brings, ~1 CPU-s) loads only when a mesh file is read, so a
    build of the cube or a solid does not pay for it in every process."""
    code = (
        "import sys, gpu_render.cli.build, gpu_render.cli.verify\n"
        "print(sorted({'trimesh', 'scipy'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
