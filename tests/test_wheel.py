"""A non-editable install carries the shaders and renders from anywhere."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO

PROBE = """
import numpy as np, gpu_render
from gpu_render.render.context import Headless
from gpu_render.render.clpr_renderer import Renderer
from gpu_render.render.shaders import shader_dir
from gpu_render.rotations.euler import euler_to_matrix
from gpu_render.scene.clpr_labels import translation
m = euler_to_matrix(np.array([[0.3, 0.6, 0.9]]))
with Headless() as h, Renderer(h.ctx, 32) as r:
    img = r.render(m, translation(m))
print(gpu_render.__file__)
print(shader_dir())
print(len(np.unique(img.reshape(-1, 3), axis=0)))
"""


def test_wheel_carries_shaders_and_renders(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("gpu_render-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "gpu_render/shaders/cube.vert" in names and "gpu_render/shaders/cube.frag" in names
    assert "gpu_render/py.typed" in names  # type checkers read the package's annotations (PEP 561)

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    p = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=elsewhere,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    module_file, shaders, colours = p.stdout.split()
    assert module_file.startswith(str(site)) and shaders == str(site / "gpu_render" / "shaders")
    assert int(colours) >= 4  # background, faces and dots: a real picture
