"""SceneSpec: every scene option checked in one place, in Python spelling; the command line is
an adapter that parses text into one and words its refusals with ``--``."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest

from gpu_render.cli.scene_options import cli_message, parse_scene
from gpu_render.errors import UsageError
from gpu_render.scene.camera import Pinhole
from gpu_render.scene.scene import ClprScene, ObjectScene
from gpu_render.scene.solids import builtin_object
from gpu_render.scene.spec import SceneSpec, SceneSpecError


def test_defaults_and_normalised_values() -> None:
    spec = SceneSpec()
    assert (spec.object, spec.size, spec.antialias, spec.grayscale, spec.layers) == (
        "clpr-cube",
        224,
        None,
        False,
        False,
    )
    given = SceneSpec(
        object="icosa",
        size=np.int64(64),
        fov=np.float32(40),
        light=[1, 2, 3],
        color="#ff8000",
        background=np.array([1, 2, 3]),
        antialias=np.bool_(False),
    )
    assert given == SceneSpec(
        object="icosa",
        size=64,
        fov=40.0,
        light=(1.0, 2.0, 3.0),
        color=(255, 128, 0),
        background=(1, 2, 3),
        antialias=False,
    )
    assert type(given.size) is int and type(given.fov) is float and type(given.antialias) is bool
    assert type(given.background[0]) is int and hash(given) == hash(dataclasses.replace(given))
    with pytest.raises(dataclasses.FrozenInstanceError):
        given.fov = 50.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"object": "dodeca"}, "object: unknown object 'dodeca': use clpr-cube, one of tet, "),
        ({"object": "mesh:"}, "object: unknown object 'mesh:'"),
        ({"object": 3}, "object: unknown object 3"),
        ({"size": 7}, "size: must be an image side of 8..4096 px, got 7"),
        ({"size": 64.0}, "size: must be an image side of 8..4096 px, got 64"),
        ({"size": True}, "size: must be an image side"),
        ({"object": "tet", "fov": 0.5}, "fov: must be 1..170 degrees, got 0.5"),
        ({"object": "tet", "fov": "30"}, "fov: must be a number of degrees, got '30'"),
        ({"object": "tet", "fov": float("nan")}, "fov: must be 1..170 degrees, got nan"),
        ({"object": "tet", "distance": 1.0}, "distance: must be above 1 (the camera stays outside"),
        ({"object": "tet", "distance": 1001}, "and at most 1000, got 1001"),
        ({"object": "tet", "light": (0, 0, 0)}, "light: must be a direction: not the zero vector"),
        ({"object": "tet", "light": (1e-200, 0, 0)}, "length is 0 or infinite"),
        ({"object": "tet", "light": (1, 2)}, "light: takes 3 finite numbers (x, y, z), got (1, 2)"),
        ({"object": "tet", "light": "1,2,3"}, "light: takes 3 finite numbers"),
        ({"object": "tet", "light": (1, float("inf"), 0)}, "light: takes 3 finite numbers"),
        ({"object": "tet", "color": (256, 0, 0)}, "color: takes R,G,B with each an integer in 0..255"),
        ({"object": "tet", "color": (0.5, 0, 0)}, "color: takes R,G,B with each an integer in 0..255"),
        ({"object": "tet", "background": "#12345g"}, "background: takes R,G,B (0..255) or #rrggbb, got '#12345g'"),
        ({"object": "tet", "background": 7}, "background: takes R,G,B (0..255) or #rrggbb, got 7"),
        ({"object": "tet", "antialias": 1}, "antialias: must be True or False, got 1"),
        ({"object": "tet", "grayscale": None}, "grayscale: must be True or False, got None"),
        ({"object": "tet", "layers": "yes"}, "layers: must be True or False, got 'yes'"),
        ({"fov": 30}, "fov makes no sense for object clpr-cube (orthographic, flat colours); it applies to"),
        ({"background": (0, 0, 0)}, "background makes no sense for object clpr-cube"),
        ({"grayscale": True}, "grayscale makes no sense for object clpr-cube"),
        ({"layers": True}, "layers makes no sense for object clpr-cube; it applies to the SYMSOL solids"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_field(kwargs: dict, message: str) -> None:
    with pytest.raises(SceneSpecError) as info:
        SceneSpec(**kwargs)
    text = str(info.value)
    assert message in text and "\n" not in text and "--" not in text
    assert text.startswith(info.value.field) and info.value.field in SceneSpec.__dataclass_fields__
    assert isinstance(info.value, ValueError) and isinstance(info.value, UsageError)


def test_the_cube_takes_antialias_and_the_switches_off() -> None:
    assert SceneSpec(antialias=True, grayscale=False, layers=False).scene() == ClprScene(antialias=True)
    assert SceneSpec().scene() == ClprScene(antialias=False)


def test_create_refuses_unknown_keywords() -> None:
    with pytest.raises(SceneSpecError, match=r"^shininess: not a scene option; the scene takes object, size, fov"):
        SceneSpec.create(object="tet", shininess=3)
    assert SceneSpec.create(object="tet", fov=20) == SceneSpec("tet", fov=20.0)


def test_errors_pickle_and_the_command_line_spells_them_with_dashes() -> None:
    with pytest.raises(SceneSpecError) as value:
        SceneSpec(object="tet", fov=500)
    with pytest.raises(SceneSpecError) as conflict:
        SceneSpec(light=(1, 0, 0))
    assert cli_message(value.value) == "argument --fov: must be 1..170 degrees, got 500"
    assert cli_message(conflict.value).startswith("--light makes no sense for --object clpr-cube (orthographic")
    again = pickle.loads(pickle.dumps(conflict.value))
    assert type(again) is SceneSpecError and str(again) == str(conflict.value) and again.conflict


@pytest.mark.parametrize(
    "argv, kwargs",
    [
        (["--object", "cone", "--fov", "0"], {"object": "cone", "fov": 0.0}),
        (["--object", "cone", "--light", "0,0,0"], {"object": "cone", "light": (0, 0, 0)}),
        (["--object", "cone", "--color", "300,0,0"], {"object": "cone", "color": (300, 0, 0)}),
        (["--object", "cone", "--distance", "0.5"], {"object": "cone", "distance": 0.5}),
        (["--fov", "40"], {"fov": 40.0}),
        (["--grayscale"], {"grayscale": True}),
        (["--object", "teapot"], {"object": "teapot"}),
    ],
)
def test_the_command_line_refuses_what_the_spec_refuses(argv: list[str], kwargs: dict) -> None:
    with pytest.raises(SceneSpecError) as spec_error:
        SceneSpec(**kwargs)
    with pytest.raises(UsageError) as cli_error:
        parse_scene(argv)
    assert str(cli_error.value) == cli_message(spec_error.value)


def test_scene_is_the_command_lines_scene() -> None:
    spec = SceneSpec(
        object="cylO",
        fov=40,
        distance=3.0,
        light=(1, -1, -2),
        color=(10, 20, 30),
        background=(1, 2, 3),
        antialias=False,
        grayscale=True,
    )
    scene = spec.scene()
    assert isinstance(scene, ObjectScene) and scene.object is builtin_object("cylO")
    assert scene.camera == Pinhole(fov_deg=40.0, distance=3.0)
    look = scene.look
    assert (look.albedo, look.background, look.light, look.antialias, look.grayscale) == (
        (10, 20, 30),
        (1, 2, 3),
        (1.0, -1.0, -2.0),
        False,
        True,
    )
    argv = [
        "--object",
        "cylO",
        "--fov",
        "40",
        "--distance",
        "3",
        "--light",
        "1,-1,-2",
        "--color",
        "10,20,30",
        "--background",
        "1,2,3",
        "--no-antialias",
        "--grayscale",
    ]
    assert parse_scene(argv) == scene
    assert SceneSpec(object="icosa").scene() == parse_scene(["--object", "icosa"])
    assert SceneSpec(object="icosa").scene().look.antialias  # objects default to 4x MSAA


def test_mesh_files_are_read_by_the_callers_reader(tmp_path: Path) -> None:
    spec = SceneSpec(object=f"mesh:{tmp_path / 'part.off'}")
    with pytest.raises(TypeError, match="needs read_mesh"):
        spec.scene()
    seen: list[Path] = []

    def reader(path: Path) -> tuple:
        seen.append(path)
        return builtin_object("tet"), "ab" * 32

    scene = spec.scene(reader)
    assert seen == [tmp_path / "part.off"] and isinstance(scene, ObjectScene) and scene.source_sha256 == "ab" * 32

    def refuses(path: Path) -> tuple:
        raise ValueError(f"{path}: no triangles in the mesh file\n(points only)")

    with pytest.raises(SceneSpecError) as info:
        spec.scene(refuses)
    assert str(info.value) == f"object: {tmp_path / 'part.off'}: no triangles in the mesh file (points only)"
