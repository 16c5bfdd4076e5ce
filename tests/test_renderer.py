"""gpu_render.Renderer: rotations in, the build's images and labels out, from Python.

Each scene kind is compared, byte for byte, with a ``--format npy`` build of the same rotations
(``--poses file:``) and options: the cLPR cube, a SYMSOL solid (with look, camera and layers) and
a mesh file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

import gpu_render
from gpu_render.cli.options import DEFAULT_BATCH
from gpu_render.renderer import DEFAULT_BATCH as RENDERER_BATCH
from gpu_render.renderer import Renderer, RendererClosedError
from gpu_render.rotations.quaternion import quaternion_to_matrix
from gpu_render.rotations.sources import random_quaternions
from gpu_render.scene.spec import SceneSpecError
from tests.cli import run_module


def build_npy(out: Path, rotations: np.ndarray, size: int, *options: str | Path) -> Path:
    """A ``--format npy`` build of ``rotations`` (saved as the file: source) into ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    source = out.parent / f"{out.name}-rotations.npy"
    np.save(source, rotations)
    r = run_module(
        "gpu_render.build",
        "--poses",
        f"file:{source}",
        "--format",
        "npy",
        "--sizes",
        str(size),
        "--workers",
        "1",
        "--out",
        out,
        *options,
    )
    assert r.code == 0, r.err
    return out


def assert_same_labels(labels: dict[str, np.ndarray], out: Path) -> None:
    with np.load(out / "poses.npz") as poses:
        assert sorted(poses.files) == sorted(k for k in labels if k not in ("labels", "mask", "depth"))
        for key in poses.files:
            assert labels[key].dtype == poses[key].dtype and np.array_equal(labels[key], poses[key]), key


def test_cube_images_and_labels_equal_an_npy_build(tmp_path: Path) -> None:
    """Quaternions in, 30 poses in chunks of 12 (12, 12, 6), as --batch 12 cuts them."""
    quaternions = random_quaternions(30, 11)
    out = build_npy(tmp_path / "cube", quaternions, 64, "--batch", "12")
    with Renderer("clpr-cube", 64, batch=12) as r:
        images, labels = r.render(quaternions)
    assert images.dtype == np.uint8 and images.shape == (30, 64, 64, 3)
    assert np.array_equal(images, np.load(out / "images_64.npy"))
    assert_same_labels(labels, out)
    assert np.array_equal(labels["labels"], np.load(out / "labels.npy"))
    assert (images != images[:1]).any()  # the poses differ: the comparison compares something


def test_symsol_solid_with_look_and_layers_equals_an_npy_build(tmp_path: Path) -> None:
    """Matrices in, every look and camera option changed from its default, mask and depth too;
    40 poses in chunks of 16. On llvmpipe these poses drawn in one atlas differ from the build in
    a few pixels, so the comparison also pins the build's chunks and atlas tiles."""
    matrices = quaternion_to_matrix(random_quaternions(40, 5))
    look = {
        "fov": 40.0,
        "distance": 3.5,
        "light": (0.5, -1.0, -2.0),
        "color": (30, 200, 90),
        "background": (10, 20, 30),
        "antialias": True,
        "grayscale": False,
        "layers": True,
    }
    out = build_npy(
        tmp_path / "cylO",
        matrices,
        64,
        "--object",
        "cylO",
        "--fov",
        "40",
        "--distance",
        "3.5",
        "--light",
        "0.5,-1,-2",
        "--color",
        "30,200,90",
        "--background",
        "10,20,30",
        "--layers",
        "--batch",
        "16",
    )
    with Renderer("cylO", 64, batch=16, **look) as r:
        images, labels = r.render(matrices)
    assert np.array_equal(images, np.load(out / "images_64.npy"))
    assert_same_labels(labels, out)
    assert "visual_offsets" in labels and "labels" not in labels
    assert labels["mask"].dtype == np.uint8 and labels["depth"].dtype == np.float32
    assert np.array_equal(labels["mask"], np.load(out / "mask_64.npy"))
    assert np.array_equal(labels["depth"], np.load(out / "depth_64.npy"))
    assert (images[0] == (10, 20, 30)).all(axis=-1).any()  # the background colour reached the image


def test_mesh_file_equals_an_npy_build(tmp_path: Path) -> None:
    mesh = trimesh.creation.capsule(height=1.5, radius=0.5, count=(12, 12))
    mesh.apply_scale((1.0, 1.6, 0.8))
    path = tmp_path / "capsule.obj"
    mesh.export(path)
    matrices = quaternion_to_matrix(random_quaternions(9, 2))
    out = build_npy(tmp_path / "mesh", matrices, 32, "--object", f"mesh:{path}", "--grayscale", "--batch", "4")
    with Renderer(f"mesh:{path}", 32, grayscale=True, batch=4) as r:
        images, labels = r.render(matrices)
    assert np.array_equal(images, np.load(out / "images_32.npy"))
    assert_same_labels(labels, out)
    assert (images[..., 0] == images[..., 2]).all() and images.max() > 0


@pytest.fixture(scope="module")
def tet() -> Renderer:
    with Renderer("tet", 16) as r:
        yield r


@pytest.mark.parametrize(
    "rotations, message",
    [
        (np.zeros((2, 3)), "rotations must be (N, 3, 3) rotation matrices or (N, 4) unit quaternions"),
        (np.eye(3), "got shape (3, 3)"),
        (np.zeros((0, 4)), "with N >= 1, got shape (0, 4)"),
        ([[1, 0, 0, 0], [1, 0, 0]], "rotations is not an array of numbers"),
        (np.array([["a", "b", "c", "d"]]), "rotations must hold real numbers"),
        (np.array([[1.0, 0, 0, 0], [np.nan, 0, 0, 1]]), "rotations has NaN or infinite values (row 1)"),
        (np.array([[1.0, 0, 0, 0], [0.6, 0, 0, 0.6]]), "rotations: quaternion row 1 has norm 0.848528, not 1"),
        (np.stack([np.eye(3), -np.eye(3)]), "rotations: matrix row 1 is not a rotation"),
        (np.stack([np.eye(3), 2 * np.eye(3)]), "rotations: matrix row 1 is not a rotation"),
    ],
)
def test_bad_rotations_are_one_line_value_errors(tet: Renderer, rotations: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        tet.render(rotations)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"object": "dodeca"}, "object: unknown object 'dodeca'"),
        ({"object": "clpr-cube", "fov": 40}, "fov makes no sense for object clpr-cube"),
        ({"object": "clpr-cube", "layers": True}, "layers makes no sense for object clpr-cube"),
        ({"object": "icosa", "size": 4}, "size: must be an image side of 8..4096 px, got 4"),
        ({"object": "icosa", "light": (0, 0, 0)}, "light: must be a direction"),
        ({"object": "icosa", "shininess": 2}, "shininess: not a scene option"),
        ({"object": "icosa", "antialias": "yes"}, "antialias: must be True or False"),
        ({"object": "mesh:missing.obj"}, "object: missing.obj: no such mesh file"),
    ],
)
def test_bad_options_are_one_line_errors_in_python_spelling(kwargs: dict, message: str) -> None:
    with pytest.raises(SceneSpecError) as info:
        Renderer(**kwargs)
    text = str(info.value)
    assert isinstance(info.value, ValueError) and message in text and "\n" not in text and "--" not in text


@pytest.mark.parametrize(
    "kwargs, message",
    [({"batch": 0}, "batch: must be an integer >= 1"), ({"device": -1}, "device: must be an integer >= 0")],
)
def test_bad_batch_and_device(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Renderer("tet", 16, **kwargs)


def test_context_manager_and_close_free_the_context() -> None:
    with Renderer("icosa", 16) as r:
        ctx = r._context().ctx
        images, _ = r.render(np.array([[1.0, 0, 0, 0]]))
        assert images.shape == (1, 16, 16, 3) and not r.closed
    assert r.closed and type(ctx.mglo).__name__ == "InvalidObject"  # the GL context is released
    with pytest.raises(RendererClosedError, match="this Renderer is closed"):
        r.render(np.array([[1.0, 0, 0, 0]]))
    r.close()  # twice is fine
    with pytest.raises(RendererClosedError):
        r.__enter__()
    plain = Renderer("tet", 16)
    plain.close()
    assert plain.closed and "closed" in repr(plain)


def test_renderers_of_other_batch_lengths_are_kept_few() -> None:
    """Each call draws with the renderer a build of that many poses uses; only a few are kept."""
    q = random_quaternions(5, 3)
    with Renderer("clpr-cube", 16, batch=4) as r:
        first, _ = r.render(q[:1])
        for n in (2, 3, 5, 1):
            images, labels = r.render(q[:n])
            assert images.shape[0] == n and labels["quaternion"].shape == (n, 4)
        assert len(r._renderers) <= 2
        again, _ = r.render(q[:1])
    assert np.array_equal(first, again)


def test_default_batch_is_the_builds() -> None:
    assert RENDERER_BATCH == DEFAULT_BATCH


def test_import_stays_light_until_renderer_is_used() -> None:
    code = (
        "import sys, gpu_render; assert 'moderngl' not in sys.modules and 'numpy' not in sys.modules; "
        "from gpu_render import Renderer, SceneSpec; assert 'moderngl' in sys.modules; "
        "assert Renderer.__module__ == 'gpu_render.renderer' and SceneSpec.__module__ == 'gpu_render.scene.spec'"
    )
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert gpu_render.Renderer is Renderer
    with pytest.raises(AttributeError, match="has no attribute 'Renderr'"):
        gpu_render.Renderr  # noqa: B018


def test_the_readmes_python_example_runs() -> None:
    """The README's "Python" section, run as written, with ``quaternions`` an (N, 4) array."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Python\n") :]
    code = section[section.index("```python\n") + len("```python\n") : section.index("```\n", 10)]
    assert "from gpu_render import Renderer" in code
    assert len([line for line in code.splitlines() if line.strip()]) == 3  # three lines of code
    names: dict[str, object] = {"quaternions": random_quaternions(3, 1)}
    exec(compile(code, "README.md", "exec"), names)
    images, labels = names["images"], names["labels"]
    assert images.shape == (3, 224, 224, 3) and images.dtype == np.uint8 and images.max() > 0
    assert np.allclose(labels["quaternion"], random_quaternions(3, 1), atol=1e-12)
