"""A missing optional module gives one line saying which extra installs it, spelled one way:
``this needs MODULE: pip install 'gpu_render[EXTRA]'``. Each case runs in a fresh Python whose
import system refuses the module, as an install without the extra does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from gpu_render.extras import EXTRA_OF, MAIN_MODULE, MissingExtra, install_hint, needs, require
from tests.conftest import REPO

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

HINT = re.compile(r"this needs ([A-Za-z_]\w*): pip install 'gpu_render\[([a-z]+)\]'")

#: Installed first in every child: a finder that says the named top-level modules do not exist.
BLOCKER = """
import sys
class _Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Missing())
"""


def run_without(blocked: set[str], code: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh Python where the modules ``blocked`` cannot be imported."""
    program = f"BLOCKED = {sorted(blocked)!r}\n{BLOCKER}\n{code}"
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=300, cwd=cwd)


def one_line(p: subprocess.CompletedProcess[str]) -> str:
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    return lines[0]


API = [
    ({"torch"}, "from gpu_render import TorchDataset", "torch", "torch"),
    ({"torch"}, "from gpu_render.stream import StreamingDataset", "torch", "torch"),
    ({"httpx"}, "from gpu_render.client import RenderClient", "httpx", "serve"),
]


@pytest.mark.parametrize(("blocked", "statement", "module", "extra"), API, ids=[a[1].split()[1] for a in API])
def test_python_api_raises_import_error_with_the_hint(
    blocked: set[str], statement: str, module: str, extra: str
) -> None:
    code = f"""
try:
    {statement}
except ImportError as exc:
    print(type(exc).__mro__[1].__name__, exc.name, str(exc), sep="|")
else:
    print("imported")
"""
    p = run_without(blocked, code)
    assert p.returncode == 0, p.stderr
    hint = f"gpu_render: this needs {module}: pip install 'gpu_render[{extra}]'"
    assert p.stdout.strip() == f"ModuleNotFoundError|{module}|{hint}"


def module_main(module: str, *args: str) -> str:
    return (
        f"import runpy, sys\nsys.argv = [{module!r}, *{list(args)!r}]\n"
        f"runpy.run_module({module!r}, run_name='__main__')"
    )


def test_serve_without_fastapi_is_one_line_and_exit_2() -> None:
    p = run_without({"fastapi"}, module_main("gpu_render.serve", "--port", "0"))
    assert p.returncode == 2
    assert one_line(p) == "gpu_render.serve: error: this needs fastapi: pip install 'gpu_render[serve]'"


def test_serve_without_uvicorn_names_uvicorn() -> None:
    p = run_without({"uvicorn"}, module_main("gpu_render.serve", "--port", "0"))
    assert p.returncode == 2
    assert one_line(p) == "gpu_render.serve: error: this needs uvicorn: pip install 'gpu_render[serve]'"


def test_build_on_ray_without_ray_is_one_line_and_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "o"
    p = run_without(
        {"ray"}, module_main("gpu_render.build", "--step", "1.0", "--sizes", "8", "--engine", "ray", "--out", str(out))
    )
    assert p.returncode == 2
    assert one_line(p) == "gpu_render.build: error: --engine ray: this needs ray: pip install 'gpu_render[ray]'"
    assert not out.exists()


@pytest.mark.parametrize(
    ("tool", "blocked", "args", "line"),
    [
        (
            "so3_coverage.py",
            {"scipy"},
            ["--sources", "random:10"],
            "so3_coverage: error: this needs scipy: pip install 'gpu_render[tools]'",
        ),
        (
            "bench_wds.py",
            {"webdataset"},
            ["--shards", "1", "--per-shard", "1"],
            "bench_wds: error: this needs webdataset: pip install 'gpu_render[webdataset]'",
        ),
    ],
)
def test_tools_without_their_extra(tmp_path: Path, tool: str, blocked: set[str], args: list[str], line: str) -> None:
    out = tmp_path / "x.png"
    code = (
        f"import runpy, sys\nsys.path.insert(0, {str(REPO / 'tools')!r})\n"
        f"sys.argv = [{tool!r}, *{args!r}, '--out', {str(out)!r}] if {tool!r} == 'so3_coverage.py' "
        f"else [{tool!r}, *{args!r}]\n"
        f"runpy.run_path({str(REPO / 'tools' / tool)!r}, run_name='__main__')"
    )
    p = run_without(blocked, code, cwd=tmp_path)
    assert p.returncode == 2 and one_line(p) == line
    assert list(tmp_path.iterdir()) == []


def test_every_hint_names_an_extra_that_installs_the_module() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for module, extra in EXTRA_OF.items():
        match = HINT.fullmatch(install_hint(module))
        assert match and match.groups() == (module, extra), module
        assert extra in extras, extra
    for extra, module in MAIN_MODULE.items():
        names = [re.split(r"[<>=\[; ]", req)[0].lower().replace("-", "_") for req in extras[extra]]
        assert module.lower() in names, (extra, names)


def test_one_spelling_of_install_hints_in_the_package() -> None:
    """Every ``pip install`` the package or its tools print or document names an extra as 'gpu_render[x]'."""
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    seen = 0
    for path in [*(REPO / "gpu_render").rglob("*.py"), *(REPO / "tools").glob("*.py")]:
        if path.name == "extras.py":  # the template itself
            continue
        for found in re.finditer(r"pip install ('[^']*'|[^\s`\"]+)", path.read_text()):
            target = found.group(1)
            if target in ("-q", "--no-deps", "NAME"):
                continue
            seen += 1
            quoted = re.fullmatch(r"'gpu_render\[([a-z]+)\]'", target)
            assert quoted and quoted.group(1) in extras, (path.name, target)
    assert seen >= 5


def test_needs_and_require_in_process() -> None:
    with pytest.raises(MissingExtra) as caught:
        with needs("tools"):
            raise ModuleNotFoundError("No module named 'scipy.spatial'", name="scipy.spatial")
    assert str(caught.value) == "gpu_render: this needs scipy: pip install 'gpu_render[tools]'"
    assert caught.value.name == "scipy" and isinstance(caught.value, ImportError)
    assert caught.value.command_error("x") == "x: error: this needs scipy: pip install 'gpu_render[tools]'"
    with pytest.raises(KeyError):
        install_hint("numpy")  # a core dependency: no extra brings it
    with pytest.raises(MissingExtra, match=r"this needs no_such_module_here: pip install 'gpu_render\[bench\]'"):
        require("no_such_module_here", "bench")


def test_a_broken_import_inside_the_package_is_not_called_a_missing_extra() -> None:
    """An ImportError from gpu_render itself (a name moved between its modules) is a fault of the
    package: it propagates as it is, never dressed as "this needs gpu_render: pip install ..."."""
    broken = ImportError(
        "cannot import name 'X' from 'gpu_render.cli.scene_options'", name="gpu_render.cli.scene_options"
    )
    with pytest.raises(ImportError) as caught:
        with needs("serve"):
            raise broken
    assert caught.value is broken and not isinstance(caught.value, MissingExtra)


def test_serve_starts_its_app_modules() -> None:
    """Every module of the service imports (a moved name once made the command print an install
    hint for gpu_render itself and never start)."""
    import importlib

    for name in ("app", "models", "scenes", "worker", "server", "render_process", "answers", "apidocs"):
        importlib.import_module(f"gpu_render.serve.{name}")
