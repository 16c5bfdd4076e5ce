"""Bad input near the limits of float64 is refused with exactly one line on stderr: no numpy
RuntimeWarning (overflow, invalid value) is printed before it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.cli import run_module

NAN_PRODUCTS = [[1e200, 1e200, 0], [1e200, -1e200, 0], [0, 0, 1]]  # products +inf and -inf: NaN in R R^T


@pytest.mark.parametrize(
    "rows, message",
    [
        (np.full((3, 4), 1e200), "quaternion row 0 has norm inf, not 1"),
        (np.full((3, 3, 3), 1e200), "matrix row 0 is not a rotation"),
        (np.array([NAN_PRODUCTS] * 3), "matrix row 0 is not a rotation"),
    ],
)
def test_pose_files_with_huge_numbers(rows: np.ndarray, message: str, tmp_path: Path) -> None:
    np.save(tmp_path / "poses.npy", rows)
    r = run_module(
        "gpu_render.build",
        "--object",
        "cube",
        "--poses",
        f"file:{tmp_path / 'poses.npy'}",
        "--sizes",
        "16",
        "--out",
        tmp_path / "o",
    )
    assert r.code == 2
    assert message in r.one_line_error()
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "corners",
    [
        ["1e300 0 0", "0 1e300 0", "0 0 1e300"],  # the bounding sphere's radius overflows
        ["1.7e308 0 0", "-1.7e308 1e300 0", "1.7e308 0 1e300"],  # so does the bounding box's centre
    ],
)
def test_mesh_files_with_huge_coordinates(corners: list[str], tmp_path: Path) -> None:
    mesh = tmp_path / "huge.off"
    mesh.write_text("OFF\n3 1 0\n" + "\n".join(corners) + "\n3 0 1 2\n")
    r = run_module(
        "gpu_render.build", "--object", f"mesh:{mesh}", "--poses", "random:2", "--sizes", "16", "--out", tmp_path / "o"
    )
    assert r.code == 2
    assert "the vertex coordinates are too large" in r.one_line_error()
