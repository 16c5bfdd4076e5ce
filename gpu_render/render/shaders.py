"""Load GLSL programs from files by name; compile errors name the file and line.

A line ``#include "NAME"`` is replaced by the text of the file NAME in the same folder (once
per program; includes do not nest), so shaders share code such as ``marks.glsl``.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import moderngl


class ShaderError(RuntimeError):
    """A shader file is missing or failed to compile or link."""


_STAGES = (("vert", "vertex_shader"), ("frag", "fragment_shader"))
_INCLUDE = re.compile(r'^[ \t]*#include[ \t]+"([^"]+)"[ \t]*$', re.MULTILINE)


def shader_dir() -> Path:
    """The folder that holds the ``.vert``/``.frag`` files.

    An installed wheel carries them as ``gpu_render/shaders``; a source checkout (and an
    editable install) keeps them in the top-level ``shaders/``.
    """
    packaged = Path(str(resources.files("gpu_render"))) / "shaders"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2] / "shaders"
    if checkout.is_dir():
        return checkout
    raise ShaderError(f"no shader folder: looked in {packaged} and {checkout}")


def _locate(message: str, path: Path) -> str:
    """Rewrite a driver's compile log so each error starts with ``file:line``."""
    lines = []
    for line in message.splitlines():
        # Mesa: "0:12(3): error: ..."; NVIDIA: "0(12) : error ..."
        m = re.match(r"\s*\d+[:(](\d+)[)(]", line)
        lines.append(f"{path}:{m.group(1)}: {line.strip()}" if m else line)
    return "\n".join(lines)


def load_program(
    ctx: moderngl.Context, name: str, folder: Path | None = None, fragment: str | None = None
) -> moderngl.Program:
    """Compile and link ``{folder}/{name}.vert`` and ``{folder}/{fragment or name}.frag``.

    folder: where the files are; default :func:`shader_dir`. fragment: another fragment
    shader's name, for programs that share a vertex shader.
    Raises ShaderError naming the file (and line, where the driver gives one).
    """
    folder = shader_dir() if folder is None else folder
    sources: dict[str, str] = {}
    paths: dict[str, Path] = {}
    for ext, stage in _STAGES:
        path = folder / f"{fragment if (fragment and ext == 'frag') else name}.{ext}"
        try:
            sources[stage] = _with_includes(folder, path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ShaderError(f"cannot read shader {exc.filename or path}: {exc.strerror}") from exc
        paths[stage] = path
    try:
        return ctx.program(vertex_shader=sources["vertex_shader"], fragment_shader=sources["fragment_shader"])
    except moderngl.Error as exc:
        raise ShaderError(_explain(str(exc), paths)) from exc


def _with_includes(folder: Path, text: str) -> str:
    """``text`` with each ``#include "NAME"`` line replaced by the file's text, followed by a
    ``#line`` directive so that compile errors after it keep the including file's line numbers.
    Raises OSError naming an included file that cannot be read."""
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        m = _INCLUDE.match(line)
        if m:
            lines[number - 1] = (folder / m.group(1)).read_text(encoding="utf-8") + f"\n#line {number + 1}"
    return "\n".join(lines)


def _explain(message: str, paths: dict[str, Path]) -> str:
    """Attach the right file to moderngl's message, which names the failing stage."""
    for stage, path in paths.items():
        if stage in message:
            return f"{path}: compile error\n" + _locate(message, path)
    names = " + ".join(str(p) for p in paths.values())
    return f"{names}: {message.strip()}"
