"""Textured mesh files made here, for the tests: OBJ + MTL with two materials, GLB with a
baseColorTexture, PLY with vertex colours, and photographs for backgrounds, all from numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

#: The textured faces' picture: a smooth two-colour gradient with a few soft bands (low
#: frequencies, so that mip level choice hardly changes a pixel).
TEXTURE_SIDE = 64


def gradient_texture(side: int = TEXTURE_SIDE, seed: int = 0) -> np.ndarray:
    """(side, side, 3) uint8 sRGB: a smooth colour field, different for each seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side] / side
    phase = rng.uniform(0, 2 * np.pi, 3)
    r = 0.5 + 0.4 * np.sin(2 * np.pi * x + phase[0])
    g = 0.5 + 0.4 * np.cos(2 * np.pi * y + phase[1])
    b = 0.5 + 0.3 * np.sin(2 * np.pi * (x + y) + phase[2])
    return (np.stack([r, g, b], axis=-1) * 255).round().astype(np.uint8)


def uniform_texture(colour: tuple[int, int, int], side: int = 8) -> np.ndarray:
    """(side, side, 3) uint8 of one colour."""
    return np.broadcast_to(np.asarray(colour, dtype=np.uint8), (side, side, 3)).copy()


def box_uv() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An axis-aligned cube of half-side 1 with its own 4 corners per face, so each face maps
    the whole texture: (vertices (24, 3), faces (12, 3) outward, uv (24, 2) v up)."""
    vertices, faces, uv = [], [], []
    for axis in range(3):
        for sign in (1.0, -1.0):
            u_axis, v_axis = [a for a in range(3) if a != axis]
            corners = []
            for cu, cv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                p = np.zeros(3)
                p[axis], p[u_axis], p[v_axis] = sign, cu, cv
                corners.append(p)
            base = len(vertices)
            vertices += corners
            uv += [(0, 0), (1, 0), (1, 1), (0, 1)]
            tri = [(0, 1, 2), (0, 2, 3)]
            n = np.cross(corners[1] - corners[0], corners[2] - corners[0])
            if n[axis] * sign < 0:
                tri = [(0, 2, 1), (0, 3, 2)]
            faces += [(base + a, base + b, base + c) for a, b, c in tri]
    return np.array(vertices), np.array(faces), np.array(uv, dtype=float)


def write_obj_two_materials(
    folder: Path,
    texture: np.ndarray,
    kd: tuple[float, float, float] = (0.8, 0.2, 0.1),
    name: str = "model",
    texture_ref: str = "images/tex.png",
) -> Path:
    """A cube whose +x, -x, +y, -y faces use a ``map_Kd`` texture and whose z faces use a plain
    ``Kd``: NAME.obj and NAME.mtl in ``folder``, the texture at ``texture_ref`` relative to it
    (``../images/tex.png`` lays the files out as ShapeNetCore v2 ships them). Returns the OBJ's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / texture_ref).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(texture).save(folder / texture_ref)
    (folder / f"{name}.mtl").write_text(
        f"newmtl textured\nKd 1 1 1\nmap_Kd {texture_ref}\n\nnewmtl plain\n" + "Kd {} {} {}\n".format(*kd)
    )
    vertices, faces, uv = box_uv()
    lines = [f"mtllib {name}.mtl"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    lines += [f"vt {u:.6f} {v:.6f}" for u, v in uv]
    for material, rows in (("textured", faces[:8]), ("plain", faces[8:])):
        lines.append(f"usemtl {material}")
        lines += [f"f {a + 1}/{a + 1} {b + 1}/{b + 1} {c + 1}/{c + 1}" for a, b, c in rows]
    path = folder / f"{name}.obj"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_glb(path: Path, texture: np.ndarray) -> Path:
    """A cube with a baseColorTexture on every face (trimesh writes the GLB)."""
    vertices, faces, uv = box_uv()
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=Image.fromarray(texture))
    mesh = trimesh.Trimesh(
        vertices, faces, visual=trimesh.visual.TextureVisuals(uv=uv, material=material), process=False
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    mesh.export(path)
    return path


def write_ply_colours(path: Path) -> Path:
    """An icosphere with a vertex colour per vertex (a smooth field over the sphere)."""
    sphere = trimesh.creation.icosphere(subdivisions=3)
    v = sphere.vertices
    colours = np.concatenate([(0.5 + 0.45 * v) * 255, np.full((len(v), 1), 255.0)], axis=1).round().astype(np.uint8)
    mesh = trimesh.Trimesh(v, sphere.faces, vertex_colors=colours, process=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    mesh.export(path)
    return path


def write_photos(folder: Path, sizes: list[tuple[int, int]], seed: int = 0) -> list[Path]:
    """Photographs for backgrounds: smooth colour fields of the given (width, height), as
    alternately jpg and png, some in a subfolder. Returns their paths."""
    rng = np.random.default_rng(seed)
    paths = []
    for i, (w, h) in enumerate(sizes):
        y, x = np.mgrid[0:h, 0:w]
        f = rng.uniform(0.01, 0.05, 3)
        img = np.stack([127 + 120 * np.sin(f[c] * (x + 2 * y) + c) for c in range(3)], axis=-1)
        sub = folder / ("more" if i % 2 else "")
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"photo{i}.{'png' if i % 2 else 'jpg'}"
        Image.fromarray(img.round().astype(np.uint8)).save(path, quality=95)
        paths.append(path)
    return paths
