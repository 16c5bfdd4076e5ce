"""Shaders load from files by name, and a compile error names the file and the line."""

from __future__ import annotations

from pathlib import Path

import moderngl
import pytest

from gpu_render.render.shaders import ShaderError, load_program, shader_dir

GOOD_FRAG = "#version 330 core\nout vec4 f_color;\nvoid main() { f_color = vec4(1.0); }\n"
GOOD_VERT = "#version 330 core\nin vec2 p;\nvoid main() { gl_Position = vec4(p, 0.0, 1.0); }\n"


def test_the_cube_shaders_are_files() -> None:
    folder = shader_dir()
    assert (folder / "cube.vert").is_file() and (folder / "cube.frag").is_file()


def test_vertex_error_names_file_and_line(ctx: moderngl.Context, tmp_path: Path) -> None:
    (tmp_path / "bad.vert").write_text(
        "#version 330 core\nin vec2 p;\n\nvoid main() { gl_Position = vec4(q, 0.0, 1.0); }\n"
    )
    (tmp_path / "bad.frag").write_text(GOOD_FRAG)
    with pytest.raises(ShaderError) as err:
        load_program(ctx, "bad", tmp_path)
    assert f"{tmp_path / 'bad.vert'}:4:" in str(err.value)


def test_fragment_error_names_file_and_line(ctx: moderngl.Context, tmp_path: Path) -> None:
    (tmp_path / "bad.vert").write_text(GOOD_VERT)
    (tmp_path / "bad.frag").write_text("#version 330 core\nout vec4 f_color;\nvoid main() { f_color = vec3(1.0); }\n")
    with pytest.raises(ShaderError) as err:
        load_program(ctx, "bad", tmp_path)
    assert f"{tmp_path / 'bad.frag'}:3:" in str(err.value)
    assert "bad.vert" not in str(err.value)


def test_missing_shader_names_the_path(ctx: moderngl.Context, tmp_path: Path) -> None:
    with pytest.raises(ShaderError, match=r"nothing\.vert"):
        load_program(ctx, "nothing", tmp_path)
