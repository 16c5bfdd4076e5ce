"""The package's folders are its pipeline: scene -> render -> dataset. This test keeps them so.

Rules (imports read from the source with ast, including imports inside functions):
- rotations/ imports nothing else of the project: SO(3) math and pose sources.
- scene/ imports only rotations/: pure data and math, no GL, no files.
- render/ never imports dataset/ or the command-line modules: it knows nothing of files.
- dataset/ never imports render/, GL or the command-line modules: the writer knows nothing of
  options or GL.
- serve/ (the HTTP service) is a command of its own: no layer imports it, and it imports no
  other command (build, verify, preview, their options).
- client.py (the service's HTTP client) imports no GL and nothing that draws or writes: it runs
  wherever numpy and httpx do.
- presets/ (``--preset``) sits beside the build: it may use every layer and verify's checks, but
  never imports the build or preview commands; and no layer below imports presets/.
- engines/ joins render/ and dataset/ (it may import both, and the options dataclass) but never
  the command-line entry points (build, verify, preview); and no layer below it imports it.
- Ray is optional: no module imports it at its top level, only inside the functions that need it.
- stream/ (render on demand) never imports dataset/ (it writes nothing), GL directly (contexts come
  from render/context.py) or the commands (build, verify, preview, options); it parses its options
  with the shared scene_options and arg_types. Only stream/torch_stream.py imports torch. No
  other layer imports stream/.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gpu_render"
ENTRY_POINTS = {
    "gpu_render.build",
    "gpu_render.verify",
    "gpu_render.preview",
    "gpu_render.cli.build",
    "gpu_render.cli.verify",
    "gpu_render.cli.preview",
}
CLI = {
    *ENTRY_POINTS,
    "gpu_render.cli.options",
    "gpu_render.cli.scene_options",
    "gpu_render.cli.rebuild",
    "gpu_render.cli.stopped",
    "gpu_render.cli.preview_poses",
    "gpu_render.cli.preview_loops",
    "gpu_render.serve",
    "gpu_render.client",
}
COMMANDS = {*ENTRY_POINTS, "gpu_render.cli.options"}
ENGINES = "gpu_render.engines"
PRESETS = "gpu_render.presets"
STREAM = "gpu_render.stream"

FORBIDDEN = {
    "rotations": {
        "gpu_render.scene",
        "gpu_render.render",
        "gpu_render.dataset",
        "moderngl",
        ENGINES,
        PRESETS,
        STREAM,
        *CLI,
    },
    "scene": {"gpu_render.render", "gpu_render.dataset", "moderngl", "glfw", "trimesh", ENGINES, PRESETS, STREAM, *CLI},
    "render": {"gpu_render.dataset", ENGINES, PRESETS, STREAM, *CLI},
    "dataset": {"gpu_render.render", "moderngl", "glfw", ENGINES, PRESETS, STREAM, *CLI},
    "engines": {*ENTRY_POINTS, "gpu_render.serve", "gpu_render.client", PRESETS, STREAM},
    "presets": {"gpu_render.build", "gpu_render.preview", "gpu_render.serve", "gpu_render.client", STREAM},
    "serve": {
        "gpu_render.build",
        "gpu_render.verify",
        "gpu_render.preview",
        "gpu_render.cli.options",
        "gpu_render.client",
        ENGINES,
        PRESETS,
        STREAM,
    },
    "stream": {
        "gpu_render.dataset",
        "moderngl",
        "glfw",
        "gpu_render.serve",
        "gpu_render.client",
        ENGINES,
        PRESETS,
        *COMMANDS,
    },
}
#: Single modules with rules of their own, by path under gpu_render/.
MODULE_FORBIDDEN = {
    "client.py": {
        "gpu_render.render",
        "gpu_render.dataset",
        "gpu_render.serve",
        "gpu_render.scene",
        "moderngl",
        "glfw",
        "fastapi",
        "uvicorn",
        STREAM,
    },
}


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)
    return names


def violations(folder: str) -> list[str]:
    """What the modules under ``folder`` (or the one module ``folder`` names) import against its rules."""
    module = folder.endswith(".py")
    rules = MODULE_FORBIDDEN[folder] if module else FORBIDDEN[folder]
    bad = []
    for path in [PACKAGE / folder] if module else sorted((PACKAGE / folder).rglob("*.py")):
        for name in sorted(imports_of(path)):
            for banned in rules:
                if name == banned or name.startswith(banned + "."):
                    bad.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return bad


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_layer_imports(folder: str) -> None:
    assert (PACKAGE / folder).is_dir()
    assert list((PACKAGE / folder).glob("*.py")), folder
    assert violations(folder) == []


@pytest.mark.parametrize("module", sorted(MODULE_FORBIDDEN))
def test_module_imports(module: str) -> None:
    assert (PACKAGE / module).is_file()
    assert violations(module) == []


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    """The checker itself: a relative import of dataset from render is resolved and named."""
    render = PACKAGE / "render"
    probe = render / "_layering_probe.py"
    probe.write_text("from ..dataset import writer\n")
    try:
        assert any("_layering_probe.py imports gpu_render.dataset" in v for v in violations("render"))
    finally:
        probe.unlink()


def top_level_imports(path: Path) -> set[str]:
    """Modules ``path`` imports at module level (not inside functions or classes)."""
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module or "")
    return names


def test_ray_is_imported_only_where_it_is_used() -> None:
    """``--engine local`` and every other command work without the [ray] extra installed."""
    eager = [
        str(p.relative_to(PACKAGE.parent))
        for p in sorted(PACKAGE.rglob("*.py"))
        if any(n == "ray" or n.startswith("ray.") for n in top_level_imports(p))
    ]
    assert eager == []
    assert "ray" in imports_of(PACKAGE / "engines" / "ray_cluster.py")  # the rule looks at a real import


def test_only_the_torch_module_of_stream_imports_torch() -> None:
    importers = sorted(
        path.name
        for path in (PACKAGE / "stream").rglob("*.py")
        if any(name == "torch" or name.startswith("torch.") for name in imports_of(path))
    )
    assert importers == ["torch_stream.py"]
