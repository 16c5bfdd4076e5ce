"""Reading a ``--layout imagenet3d`` tree as ImageNet3D's own tools read it (FORMATS.md): the
annotation npz, the CAD model's OFF file and ``render_utils.proj2d``'s projection."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_annotations(path: Path) -> np.ndarray:
    """As ImageNet3D's tools do: the object array of one dict per object."""
    return dict(np.load(path, allow_pickle=True))["annotations"]


def read_off(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """As ImageNet3D's tools read a CAD file: the vertex count from the first number of the
    second line, then that many vertex lines (float32), then faces of four numbers (3 i j k).
    Returns vertices (V, 3) float32 and faces (F, 3) int32."""
    lines = path.read_text().splitlines()
    assert lines[0] == "OFF"
    n = int(lines[1].split(" ")[0])
    vertices = np.array([[float(x) for x in line.split()] for line in lines[2 : 2 + n]], dtype=np.float32)
    faces = np.array([[int(x) for x in line.split()] for line in lines[2 + n :]], dtype=np.int32)
    assert vertices.shape == (n, 3) and faces.shape[1] == 4 and (faces[:, 0] == 3).all()
    return vertices, faces[:, 1:]


def project(x: np.ndarray, a: dict) -> np.ndarray:
    """FORMATS.md's PASCAL3D+ projection as ImageNet3D's tools apply it: ``viewport`` is the
    focal length in pixels (``focal`` unused). x (P, 3) model frame; returns (P, 2) px."""
    az, el, th, d, m = a["azimuth"], a["elevation"], a["theta"], a["distance"], a["viewport"]
    c = d * np.array([np.cos(el) * np.sin(az), -np.cos(el) * np.cos(az), np.sin(el)])
    phi = el - np.pi / 2
    rx = np.array([[1, 0, 0], [0, np.cos(phi), -np.sin(phi)], [0, np.sin(phi), np.cos(phi)]])
    rz = np.array([[np.cos(-az), -np.sin(-az), 0], [np.sin(-az), np.cos(-az), 0], [0, 0, 1]])
    r = rx @ rz
    p = (np.diag([m, m, -1.0]) @ (r @ x.T - (r @ c)[:, None])).T
    u, v = p[:, 0] / p[:, 2], p[:, 1] / p[:, 2]
    u, v = np.cos(th) * u - np.sin(th) * v, np.sin(th) * u + np.cos(th) * v
    return np.stack([a["px"] + u, a["py"] - v], axis=1)


def cad_box(out: Path, a: dict) -> np.ndarray:
    """The box of the annotation's CAD model (``CAD/{class}/{cad_index:02d}.off``) projected
    by ``a`` as :func:`project` does, clipped to the image ``[0, width] x [0, height]``:
    (4,) float64 x1, y1, x2, y2, pixels."""
    vertices, faces = read_off(out / "CAD" / a["class"] / f"{int(a['cad_index']):02d}.off")
    assert faces.max() < len(vertices)
    got = project(vertices.astype(np.float64), a)
    box = np.array([got[:, 0].min(), got[:, 1].min(), got[:, 0].max(), got[:, 1].max()])
    return np.clip(box, 0.0, [float(a["width"]), float(a["height"])] * 2)
