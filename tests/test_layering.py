"""The package's folders are its pipeline: scene -> render -> dataset. This test keeps them so.

Rules (imports read from the source with ast, including imports inside functions):
- rotations/ imports nothing else of the project: SO(3) math and pose sources.
- scene/ imports only rotations/: pure data and math, no GL, no files.
- render/ never imports dataset/ or the command-line modules: it knows nothing of files.
- dataset/ never imports render/, GL or the command-line modules: the writer knows nothing of
  options or GL.
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
CLI = {"gpu_render.build", "gpu_render.verify", "gpu_render.preview", "gpu_render.options", "gpu_render.scene_options"}
COMMANDS = {"gpu_render.build", "gpu_render.verify", "gpu_render.preview", "gpu_render.options"}
STREAM = "gpu_render.stream"

FORBIDDEN = {
    "rotations": {"gpu_render.scene", "gpu_render.render", "gpu_render.dataset", "moderngl", STREAM, *CLI},
    "scene": {"gpu_render.render", "gpu_render.dataset", "moderngl", "glfw", "trimesh", STREAM, *CLI},
    "render": {"gpu_render.dataset", STREAM, *CLI},
    "dataset": {"gpu_render.render", "moderngl", "glfw", STREAM, *CLI},
    "stream": {"gpu_render.dataset", "moderngl", "glfw", *COMMANDS},
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
    bad = []
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        for name in sorted(imports_of(path)):
            for banned in FORBIDDEN[folder]:
                if name == banned or name.startswith(banned + "."):
                    bad.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return bad


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_layer_imports(folder: str) -> None:
    assert (PACKAGE / folder).is_dir()
    assert list((PACKAGE / folder).glob("*.py")), folder
    assert violations(folder) == []


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    """The checker itself: a relative import of dataset from render is resolved and named."""
    render = PACKAGE / "render"
    probe = render / "_layering_probe.py"
    probe.write_text("from ..dataset import writer\n")
    try:
        assert any("_layering_probe.py imports gpu_render.dataset" in v for v in violations("render"))
    finally:
        probe.unlink()


def test_only_the_torch_module_of_stream_imports_torch() -> None:
    importers = sorted(
        path.name for path in (PACKAGE / "stream").rglob("*.py")
        if any(name == "torch" or name.startswith("torch.") for name in imports_of(path))
    )
    assert importers == ["torch_stream.py"]
