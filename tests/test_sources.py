"""Rotation sources and the rich labels of poses.npz."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gpu_render.render.clpr_reference import render_one
from gpu_render.rotations.euler import clpr_euler, euler_to_matrix
from gpu_render.rotations.quaternion import geodesic, matrix_to_quaternion, quaternion_to_matrix, rotation_angle
from gpu_render.rotations.sources import healpix_centres, parse_source, random_quaternions, so3_grid
from gpu_render.scene.clpr_cube import CENTRE, NODES
from gpu_render.scene.plan import PosePlan, keypoints
from tests.cli import assert_build_refused, run_module

LABEL_TOLERANCE = 1e-9
SOURCES = ["clpr", "so3-grid:1", "random:500:3"]


def nearest_neighbour_angles(q: np.ndarray) -> np.ndarray:
    """(N,) geodesic distance from each rotation to its nearest other one, radians."""
    dots = np.abs(q @ q.T)
    np.fill_diagonal(dots, -1)
    return 2 * np.arccos(np.clip(dots.max(axis=1), 0, 1))


@pytest.fixture(scope="module")
def quaternion_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("src") / "quats.npy"
    np.save(path, random_quaternions(40, seed=11) * np.array([1, 1, 1, 1]))
    return path


def _plans(quaternion_file: Path) -> dict[str, PosePlan]:
    specs = [*SOURCES, f"file:{quaternion_file}"]
    return {spec: PosePlan.from_source(parse_source(spec, 0.5 if spec == "clpr" else None)) for spec in specs}


def test_matrix_applied_to_centred_corners_reproduces_labels(quaternion_file: Path) -> None:
    for spec, plan in _plans(quaternion_file).items():
        r = plan.rich_labels((32,))["matrix"]
        centred = NODES - NODES.mean(axis=0)
        q = np.einsum("nij,kj->nki", r, centred)  # x_camera = R @ x_cube, cube centred
        q = q - (q.min(axis=1) + q.max(axis=1))[:, None] / 2 + CENTRE
        assert np.abs(q - plan.labels[..., :3]).max() < LABEL_TOLERANCE, spec


def test_quaternion_matrix_and_euler_agree(quaternion_file: Path) -> None:
    for spec, plan in _plans(quaternion_file).items():
        rich = plan.rich_labels((32, 64))
        q, r = rich["quaternion"], rich["matrix"]
        assert q.shape == (len(r), 4) and (q[:, 0] >= 0).all()
        assert np.allclose(np.linalg.norm(q, axis=1), 1, atol=1e-12)
        assert np.abs(quaternion_to_matrix(q) - r).max() < 1e-12, spec
        # euler_clpr re-posed through the spec's transform gives the same rotation
        assert np.abs(euler_to_matrix(rich["euler_clpr"]).transpose(0, 2, 1) - r).max() < 1e-9, spec
        assert np.array_equal(plan.labels[:, 0, 3:], rich["euler_clpr"])
        for size in (32, 64):
            assert np.array_equal(rich[f"keypoints_{size}"], plan.labels[..., :2] * size / 256)


def test_file_source_reproduces_the_given_rotations(quaternion_file: Path) -> None:
    given = np.load(quaternion_file)
    plan = PosePlan.from_source(parse_source(f"file:{quaternion_file}", None))
    assert np.abs(plan.rich_labels(())["quaternion"] - given).max() < 1e-12


def test_clpr_source_is_the_spec_grid() -> None:
    plan = PosePlan.from_source(parse_source("clpr", 0.3))
    assert np.array_equal(plan.euler, clpr_euler(0.3))
    assert plan.labels.shape == (9261, 8, 6)


def test_node_visible_matches_the_dots_on_rendered_pixels(ctx) -> None:
    """A dot changes a good share of its disc (faces of several colours, or background, meet at a
    corner); a hidden node changes nothing. Discs shared with another node are left out."""
    from gpu_render.render.clpr_renderer import Renderer

    plan = PosePlan.from_source(parse_source("random:60:5", None))
    rich = plan.rich_labels((256,))
    with Renderer(ctx, 256) as r:
        images = r.render(plan.matrix, plan.translation)
    yy, xx = np.mgrid[0:256, 0:256] + 0.5
    for i in range(len(images)):
        changed = (images[i] != render_one(plan.corners[i], 256, dots=False)).any(axis=-1)
        kp = rich["keypoints_256"][i]
        discs = [(xx - x) ** 2 + (yy - y) ** 2 <= 3.5**2 for x, y in kp]
        reach = [(xx - x) ** 2 + (yy - y) ** 2 <= 4.6**2 for x, y in kp]  # a dot's radius is 4 px
        for node in range(8):
            alone = discs[node] & ~np.any([reach[k] for k in range(8) if k != node], axis=0)
            if alone.sum() < 10:
                continue  # another corner projects onto this one
            share = changed[alone].mean()
            if rich["node_visible"][i, node]:
                assert share > 0.3, (i, node, share)
            else:
                assert share < 0.1, (i, node, share)


@pytest.mark.parametrize("level", [0, 1, 2])
def test_so3_grid_is_distinct_and_near_uniform(level: int) -> None:
    r = so3_grid(level)
    assert len(r) == 72 * 8**level
    assert np.allclose(r @ r.transpose(0, 2, 1), np.eye(3), atol=1e-12)
    nn = nearest_neighbour_angles(matrix_to_quaternion(r))
    assert nn.min() > 1e-3  # distinct rotations
    assert nn.max() / nn.min() < 3.0  # near-uniform spacing
    # spacing shrinks by half per level: the grid refines evenly
    assert 0.3 < np.median(nn) * 2**level < 1.2


def test_healpix_pixels_cover_the_sphere_evenly() -> None:
    theta, phi = healpix_centres(8)
    assert len(theta) == 768
    z = np.cos(theta)
    assert abs(z.mean()) < 1e-12  # as many north as south
    v = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), z], 1)
    assert np.abs(v.mean(axis=0)).max() < 1e-9  # balanced in every direction
    assert len(np.unique(np.round(v, 9), axis=0)) == 768


def test_random_is_deterministic_and_haar_uniform() -> None:
    a, b = random_quaternions(20000, 7), random_quaternions(20000, 7)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, random_quaternions(20000, 8))
    assert parse_source("random:5", None).seed == 0

    def ks_against_haar(q: np.ndarray) -> float:
        angle = np.sort(rotation_angle(q))  # Haar: density (1 - cos w) / pi, CDF (w - sin w) / pi
        cdf = (angle - np.sin(angle)) / np.pi
        k = np.arange(1, len(q) + 1) / len(q)
        return float(np.max(np.maximum(k - cdf, cdf - (k - 1 / len(q)))))

    critical = 1.95 / np.sqrt(20000)  # Kolmogorov-Smirnov, alpha = 0.001
    assert ks_against_haar(a) < critical
    # the test has teeth: the Euler grid's angles are far from Haar
    grid = matrix_to_quaternion(euler_to_matrix(clpr_euler(0.3)).transpose(0, 2, 1))
    assert ks_against_haar(grid[np.random.default_rng(0).choice(len(grid), 5000)]) > 1.95 / np.sqrt(5000)


def test_keypoints_scale_with_size() -> None:
    corners = np.array([[[128.0, 64.0, 0.0]] * 8])
    assert np.array_equal(keypoints(corners, 64)[0, 0], [32.0, 16.0])


def test_geodesic_distance() -> None:
    q = matrix_to_quaternion(euler_to_matrix(np.array([[0, 0, 0.0], [0, 0, 0.5]])).transpose(0, 2, 1))
    assert np.isclose(geodesic(q[0], q[1]), 0.5)


# -- through the build -------------------------------------------------------------------------


def test_build_with_a_grid_source(tmp_path: Path) -> None:
    out = tmp_path / "o"
    r = run_module("gpu_render.build", "--poses", "so3-grid:0", "--sizes", "32,64", "--format", "png", "--out", out)
    assert r.code == 0, r.err
    labels = np.load(out / "labels.npy")
    assert labels.shape == (72, 8, 6)
    with np.load(out / "poses.npz") as poses:
        assert set(poses.files) == {
            "quaternion",
            "matrix",
            "euler_clpr",
            "keypoints_32",
            "keypoints_64",
            "node_visible",
            "face_visible",
        }
        assert np.allclose(poses["matrix"], so3_grid(0), atol=1e-12)
    m = json.loads((out / "manifest.json").read_text())
    assert m["signature"]["poses"] == "so3-grid:0" and m["pose_count"] == 72
    assert run_module("gpu_render.verify", out).code == 0


def test_build_from_a_file_resumes_only_with_the_same_file(tmp_path: Path, quaternion_file: Path) -> None:
    out = tmp_path / "o"
    args = ("--poses", f"file:{quaternion_file}", "--sizes", "32", "--out", out)
    assert run_module("gpu_render.build", *args).code == 0
    assert run_module("gpu_render.verify", out).code == 0
    changed = tmp_path / "changed.npy"
    np.save(changed, random_quaternions(40, seed=12))
    r = run_module("gpu_render.build", "--poses", f"file:{changed}", "--sizes", "32", "--out", out)
    assert r.code == 2 and "other options" in r.one_line_error()


@pytest.mark.parametrize(
    "content, message",
    [
        (np.zeros((5, 2)), "expected N x 3 Euler angles, N x 4 quaternions or N x 3 x 3 matrices"),
        (np.array([[1.0, 0, 0, 0], [0.9, 0, 0, 0]]), "quaternion row 1 has norm 0.9, not 1"),
        (np.stack([np.eye(3), np.diag([1.0, 1.0, -1.0])]), "matrix row 1 is not a rotation"),
        (np.stack([np.eye(3), 1.1 * np.eye(3)]), "matrix row 1 is not a rotation"),
        (np.array([[0.1, 0.2, np.nan]]), "NaN or infinite values (row 0)"),
        ("not numpy", "is not a .npy array"),
    ],
    ids=["shape", "non-unit-quaternion", "reflection", "scaled", "nan", "text"],
)
def test_bad_rotation_files(tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "rot.npy"
    if isinstance(content, str):
        path.write_text(content)
    else:
        np.save(path, content)
    assert_build_refused(["--poses", f"file:{path}"], message, tmp_path / "o")


def test_bad_source_specs(tmp_path: Path) -> None:
    for args, message in [
        (["--poses", "so3-grid:x"], "so3-grid takes a level"),
        (["--poses", "so3-grid:9"], "so3-grid takes a level 0..5"),
        (["--poses", "random:0"], "random takes N[:SEED]"),
        (["--poses", "random:10:abc"], "random takes N[:SEED]"),
        (["--poses", "healpix"], "unknown pose source"),
        (["--poses", "file:/nonexistent.npy"], "No such file"),
        (["--poses", "random:10", "--step", "0.2"], "--step applies to --poses clpr only"),
    ]:
        assert_build_refused(args, message, tmp_path / "o")
