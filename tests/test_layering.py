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
- engines/ joins render/ and dataset/ (it may import both) and takes a build job of its own,
  never anything of the command line (cli/); and no layer below it imports it.
- Ray is optional: no module imports it at its top level, only inside the functions that need it.
- stream/ (render on demand) never imports dataset/ (it writes nothing), GL directly (contexts come
  from render/context.py) or the commands (build, verify, preview, options); it parses its options
  with the shared scene_options and arg_types. Only stream/torch_stream.py imports torch. No
  other layer imports stream/.
- The package's own top level: errors.py, extras.py, progress.py, child_process.py and memory.py
  are leaves every layer may use, and import no other part of the package (memory.py raises
  errors.UsageError); ``python -m gpu_render.build``, ``.verify`` and ``.preview`` and
  ``__main__.py`` only hand over to cli/.
- No import cycles anywhere in gpu_render: the graph of every import between its modules, at
  module level or inside functions (those under ``if TYPE_CHECKING:`` never run and are left
  out), has no cycle.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
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
    "gpu_render.cli",  # every module of the command line
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
    "engines": {*ENTRY_POINTS, "gpu_render.cli", "gpu_render.serve", "gpu_render.client", PRESETS, STREAM},
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
#: Top-level modules that every layer may use: they import nothing else of the package but these.
LEAVES = {
    "errors.py": set(),
    "extras.py": set(),
    "progress.py": set(),
    "child_process.py": set(),
    "memory.py": {"gpu_render.errors"},
}
#: Entry points kept at the top level for ``python -m gpu_render.NAME``: they hand over to cli/.
SHIMS = ("__main__.py", "build.py", "verify.py", "preview.py")
#: Import cycles (each as the set of its modules) that are still being taken apart; every
#: other cycle fails the test, and so does an entry here that no longer is a cycle.
KNOWN_CYCLES: set[frozenset[str]] = set()
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


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` blocks (never run)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                yield child
                yield from _runtime_nodes(child)
            continue
        yield node
        yield from _runtime_nodes(node)


def module_name(path: Path, package: Path = PACKAGE) -> str:
    """The dotted name of the module at ``path`` (a package's ``__init__.py`` is the package)."""
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, package: Path = PACKAGE, type_checking: bool = True) -> set[str]:
    """Absolute names of every module ``path`` imports, at module level or in functions (relative
    imports resolved); ``from M import x`` gives both ``M`` and ``M.x``. type_checking: also the
    imports under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(), str(path))
    here = ".".join(path.relative_to(package.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(tree) if type_checking else _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)
    return names


def violations(folder: str, package: Path = PACKAGE) -> list[str]:
    """What the modules under ``folder`` (or the one module ``folder`` names) import against its rules."""
    module = folder.endswith(".py")
    rules = MODULE_FORBIDDEN[folder] if module else FORBIDDEN[folder]
    bad = []
    for path in [package / folder] if module else sorted((package / folder).rglob("*.py")):
        for name in sorted(imports_of(path, package)):
            for banned in rules:
                if name == banned or name.startswith(banned + "."):
                    bad.append(f"{path.relative_to(package.parent)} imports {name}")
    return bad


@functools.cache
def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports when it runs (module level or in functions).

    An import names the most specific module it reaches: ``from gpu_render.dataset import atomic``
    is an edge to ``gpu_render.dataset.atomic``, ``from gpu_render import __version__`` one to
    ``gpu_render``. The parent packages Python runs on the way are not edges: every module would
    otherwise sit in a cycle with a package ``__init__`` that imports any of its children.
    """
    paths = {module_name(p, package): p for p in sorted(package.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        targets = set()
        for imported in imports_of(path, package, type_checking=False):
            if imported in paths:
                targets.add(imported)
        # "from M import x" yields M and M.x: where M.x is a module, M itself was only the way there
        graph[name] = {t for t in targets if not any(o.startswith(t + ".") for o in targets)} - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[tuple[frozenset[str], list[str]]]:
    """Each set of modules that import one another, directly or not (a strongly connected
    component of more than one module, by Tarjan's algorithm), with one shortest cycle through
    it, ``[a, b, ..., a]`` from its first module by name."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(frozenset(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(((g, _shortest_cycle(graph, g)) for g in groups), key=lambda found: found[1])


def _shortest_cycle(graph: dict[str, set[str]], group: frozenset[str]) -> list[str]:
    """A shortest cycle inside ``group`` through its first module (breadth-first search)."""
    start = min(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while start not in came_from:
        reached = []
        for v in frontier:
            for w in sorted(graph[v] & group):
                if w not in came_from:
                    came_from[w] = v
                    reached.append(w)
        frontier = reached
    path = [start]
    while len(path) == 1 or path[-1] != start:
        path.append(came_from[path[-1]])
    return path[::-1]


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_layer_imports(folder: str) -> None:
    assert (PACKAGE / folder).is_dir()
    assert list((PACKAGE / folder).glob("*.py")), folder
    assert violations(folder) == []


@pytest.mark.parametrize("module", sorted(MODULE_FORBIDDEN))
def test_module_imports(module: str) -> None:
    assert (PACKAGE / module).is_file()
    assert violations(module) == []


def _package(root: Path, files: dict[str, str]) -> Path:
    """A package ``gpu_render`` under ``root`` holding ``files`` (path -> source), for the checker's own tests."""
    package = root / "gpu_render"
    for name, source in files.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return package


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    """The checker itself: a relative import of dataset from render is resolved and named."""
    package = _package(tmp_path, {"render/__init__.py": "", "render/probe.py": "from ..dataset import writer\n"})
    assert violations("render", package) == [
        "gpu_render/render/probe.py imports gpu_render.dataset",
        "gpu_render/render/probe.py imports gpu_render.dataset.writer",
    ]


@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_leaf_modules_import_no_layer(leaf: str) -> None:
    imported = {n for n in imports_of(PACKAGE / leaf) if n == "gpu_render" or n.startswith("gpu_render.")}
    modules = import_graph()[module_name(PACKAGE / leaf)]
    assert modules <= LEAVES[leaf], f"{leaf} imports {sorted(modules - LEAVES[leaf])}"
    assert {n for n in imported if n.startswith(tuple(modules))} == imported  # nothing escaped the graph


@pytest.mark.parametrize("shim", SHIMS)
def test_entry_points_hand_over_to_the_command_line(shim: str) -> None:
    modules = import_graph()[module_name(PACKAGE / shim)]
    assert modules and all(n.startswith("gpu_render.cli.") for n in modules), f"{shim} imports {sorted(modules)}"


def test_no_import_cycles() -> None:
    """Every module of gpu_render, the top level and cli/ included, is in the graph."""
    graph = import_graph()
    assert {"gpu_render", "gpu_render.renderer", "gpu_render.cli.build", "gpu_render.dataset.writer"} <= set(graph)
    found = cycles(graph)
    new = [
        f"{' -> '.join(path)} ({len(group)} modules: {', '.join(sorted(group))})"
        for group, path in found
        if group not in KNOWN_CYCLES
    ]
    assert new == [], "import cycles: " + "; ".join(new)
    gone = KNOWN_CYCLES - {group for group, _ in found}
    assert not gone, f"no longer cycles, remove them from KNOWN_CYCLES: {sorted(sorted(g) for g in gone)}"


def test_the_cycle_check_catches_a_cycle(tmp_path: Path) -> None:
    """The checker itself: a cycle closed by an import inside a function, through a package's
    ``__init__`` and a relative import, is named; one under ``if TYPE_CHECKING:`` is not."""
    package = _package(
        tmp_path,
        {
            "__init__.py": "def load():\n    from gpu_render.dataset import reader\n",
            "dataset/__init__.py": "",
            "dataset/reader.py": "from .. import __version__\n",
            "scene/__init__.py": "",
            "scene/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from gpu_render.scene import b\n",
            "scene/b.py": "from gpu_render.scene.a import x\n",
        },
    )
    graph = import_graph(package)
    assert graph["gpu_render"] == {"gpu_render.dataset.reader"}
    assert graph["gpu_render.scene.a"] == set() and graph["gpu_render.scene.b"] == {"gpu_render.scene.a"}
    assert cycles(graph) == [
        (
            frozenset({"gpu_render", "gpu_render.dataset.reader"}),
            ["gpu_render", "gpu_render.dataset.reader", "gpu_render"],
        )
    ]


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
