"""``--layout imagenet3d``'s bbox: the CAD model projected as ImageNet3D's ``proj2d`` projects it
lands on the annotated box, for many poses of a thin-tipped solid (tetX), a cone and a needle
mesh, at 224 px and at 96 px with a wide field of view; the box holds every pixel the object
covers; and the box function's conventions (clipping, the principal point, an object outside)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpu_render.cli import build
from gpu_render.scene.camera import image_boxes, projected_boxes
from tests.imagenet3d_tools import cad_box, read_annotations

#: The contract: the projected CAD's box within this of the annotated box.
BBOX_TOLERANCE_PX = 2.0
#: What the build achieves: the same box, up to floating-point rounding.
EXACT_PX = 1e-6
#: A covered pixel's centre may sit this far outside the true silhouette (the rasterizer's
#: fixed-point vertex positions).
RASTER_SLACK_PX = 0.01
#: (name, extra build arguments): 60 poses at 224 px, 40 at 96 px with a 50° field of view.
CAMERAS = {
    "224": ["--poses", "random:60:3", "--sizes", "224"],
    "96-fov50": ["--poses", "random:40:4", "--sizes", "96", "--fov", "50"],
}


def needle(path: Path) -> Path:
    """A long, thin box (2 x 0.04 x 0.04, slightly skewed so that no symmetry hides a tip) as an OFF file."""
    import trimesh

    mesh = trimesh.creation.box(extents=(2.0, 0.04, 0.04))
    mesh.vertices[:, 1] += 0.05 * mesh.vertices[:, 0] ** 2
    mesh.export(path)
    return path


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """(object, camera) -> a --layout imagenet3d build with --layers (the mask, to compare)."""
    root = tmp_path_factory.mktemp("bbox")
    objects = {"tetX": "tetX", "cone": "cone", "needle": f"mesh:{needle(root / 'needle.off')}"}
    outs = {}
    for name, spec in objects.items():
        for camera, args in CAMERAS.items():
            out = root / f"{name}-{camera}"
            assert (
                build.main(
                    [
                        "--object",
                        spec,
                        *args,
                        "--layout",
                        "imagenet3d",
                        "--layers",
                        "--batch",
                        "32",
                        "--workers",
                        "1",
                        "--out",
                        str(out),
                    ]
                )
                == 0
            )
            outs[(name, camera)] = out
    return outs


@pytest.mark.parametrize("name", ["tetX", "cone", "needle"])
@pytest.mark.parametrize("camera", list(CAMERAS))
def test_the_projected_cad_lands_on_the_bbox_and_holds_the_mask(
    builds: dict[tuple[str, str], Path], name: str, camera: str
) -> None:
    out = builds[(name, camera)]
    size = int(CAMERAS[camera][3])
    cls = "needle" if name == "needle" else name
    mask = np.load(out / f"mask_{size}.npy")
    worst = 0.0
    for i in range(len(mask)):
        (a,) = read_annotations(out / "annotations" / cls / f"{cls}_{i:06d}.npz")
        error = float(np.abs(cad_box(out, a) - a["bbox"]).max())
        assert error <= BBOX_TOLERANCE_PX, (i, error)
        worst = max(worst, error)
        rows, cols = np.nonzero(mask[i])
        assert len(rows), i  # the object is in view
        x1, y1, x2, y2 = a["bbox"]
        assert 0 <= x1 < x2 <= size and 0 <= y1 < y2 <= size
        # every covered pixel's centre lies in the box (pixel (col, row) covers [col, col+1) x [row, row+1))
        assert x1 - RASTER_SLACK_PX <= cols.min() + 0.5 and cols.max() + 0.5 <= x2 + RASTER_SLACK_PX, i
        assert y1 - RASTER_SLACK_PX <= rows.min() + 0.5 and rows.max() + 0.5 <= y2 + RASTER_SLACK_PX, i
    assert worst < EXACT_PX, worst


def test_a_thin_tip_reaches_beyond_the_covered_pixels(builds: dict[tuple[str, str], Path]) -> None:
    """Where the mask's last covered pixel stops short of a tip, the box still reaches it: the
    box is the projection's, not the sampled pixels'."""
    beyond = 0.0
    for (name, camera), out in builds.items():
        size = int(CAMERAS[camera][3])
        mask = np.load(out / f"mask_{size}.npy")
        for i in range(len(mask)):
            (a,) = read_annotations(out / "annotations" / name / f"{name}_{i:06d}.npz")
            rows, cols = np.nonzero(mask[i])
            covered = np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], dtype=np.float64)
            beyond = max(beyond, float(np.max((covered - a["bbox"]) * [1, 1, -1, -1])))
    assert beyond > 1.0  # some tip lies more than a pixel past the last covered pixel's far edge


def test_image_boxes_clip_to_the_image_and_mark_an_object_outside() -> None:
    pixels = np.array(
        [
            [[10.0, 20.0], [30.5, 5.25], [12.0, 40.0]],  # inside a 64 x 48 image
            [[-5.0, -3.0], [70.0, 50.0], [20.0, 20.0]],  # crosses every border
            [[65.0, 10.0], [80.0, 20.0], [70.0, 30.0]],  # wholly right of the image
            [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]],  # a point on the corner
        ]
    )
    got = image_boxes(pixels, 64, 48)
    assert got.dtype == np.float64 and got.shape == (4, 4)
    assert got[0].tolist() == [10.0, 5.25, 30.5, 40.0]
    assert got[1].tolist() == [0.0, 0.0, 64.0, 48.0]
    assert got[2].tolist() == [-1.0, -1.0, -1.0, -1.0]
    assert got[3].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert image_boxes(np.zeros((2, 0, 2)), 8, 8).tolist() == [[-1.0] * 4] * 2
    with pytest.raises(ValueError, match=r"\(N, P, 2\)"):
        image_boxes(np.zeros((3, 2)), 8, 8)


def test_projected_boxes_use_the_principal_points_convention() -> None:
    """The object's centre projects to the principal point (S/2, S/2), the image's centre; a
    symmetric object's box is symmetric about it; blocks of poses give the same boxes."""
    size, f, d = 96, 100.0, 4.0
    k = np.array([[f, 0.0, size / 2], [0.0, f, size / 2], [0.0, 0.0, 1.0]])
    square = np.array([[-1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 1.0, 0.0]])
    box = projected_boxes(square, np.eye(3)[None], np.array([0.0, 0.0, d]), k, size, size)
    assert np.allclose(box, [[48 - f / d, 48 - f / d, 48 + f / d, 48 + f / d]], rtol=0, atol=1e-12)
    rng = np.random.default_rng(0)
    q = rng.normal(size=(50, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    r = np.stack(
        [
            1 - 2 * (y * y + z * z),
            2 * (x * y - w * z),
            2 * (x * z + w * y),
            2 * (x * y + w * z),
            1 - 2 * (x * x + z * z),
            2 * (y * z - w * x),
            2 * (x * z - w * y),
            2 * (y * z + w * x),
            1 - 2 * (x * x + y * y),
        ],
        axis=1,
    ).reshape(-1, 3, 3)
    points = rng.uniform(-0.5, 0.5, size=(200, 3))
    whole = projected_boxes(points, r, np.array([0.0, 0.0, d]), k, size, size)
    import gpu_render.scene.camera as camera

    small = camera.BOX_BLOCK
    try:
        camera.BOX_BLOCK = 600  # three poses a block
        assert np.array_equal(projected_boxes(points, r, np.array([0.0, 0.0, d]), k, size, size), whole)
    finally:
        camera.BOX_BLOCK = small
    uv = camera.project(points, r, np.array([0.0, 0.0, d]), k)
    assert np.array_equal(whole[:, 0], uv[..., 0].min(axis=1)) and np.array_equal(whole[:, 3], uv[..., 1].max(axis=1))
