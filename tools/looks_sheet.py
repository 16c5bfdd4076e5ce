"""A contact sheet of the richer looks, made with the project's own build command.

    python tools/looks_sheet.py --out docs/looks.png

Three mesh files are made here (no download): a torus as OBJ + MTL with two materials (a
``map_Kd`` brick texture outside, a plain ``Kd`` inside), a sphere as GLB with a
``baseColorTexture``, and a twisted torus as PLY with vertex colours; and ``--photos``
background photographs as smooth numpy colour fields with stripes. Each mesh is built with
``python -m gpu_render.build --lights render4cnn --specular 0.3 --backgrounds DIR`` (random
rotations, ``--columns`` images at ``--size`` px, PNG), and the images are laid out one row per
mesh with a thin white gap.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

GAP = 2


def torus(rings: int = 48, sides: int = 24, twist: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A torus (radii 1 and 0.4), outward faces: (vertices (V, 3), faces (F, 3), uv (V, 2)).
    Seams repeat their vertices so that uv runs 0..1 around both circles."""
    a, b = np.meshgrid(np.linspace(0, 2 * np.pi, rings + 1), np.linspace(0, 2 * np.pi, sides + 1), indexing="ij")
    r = 0.4 * (1 + 0.3 * np.sin(twist * a))
    x = (1 + r * np.cos(b)) * np.cos(a)
    y = (1 + r * np.cos(b)) * np.sin(a)
    z = r * np.sin(b)
    vertices = np.stack([x, y, z], axis=-1).reshape(-1, 3)
    uv = np.stack([a / (2 * np.pi) * 4, b / (2 * np.pi)], axis=-1).reshape(-1, 2)
    idx = np.arange((rings + 1) * (sides + 1)).reshape(rings + 1, sides + 1)
    q = np.stack([idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]], axis=-1).reshape(-1, 4)
    faces = np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]])
    return vertices, faces, uv


def bricks(side: int = 128) -> np.ndarray:
    """(side, side, 3) uint8: red bricks with pale mortar, rows offset by half a brick."""
    y, x = np.mgrid[0:side, 0:side]
    row = y // 16
    mortar = (y % 16 < 2) | (((x + 16 * (row % 2)) % 32) < 2)
    shade = 0.85 + 0.15 * np.sin(row * 1.7 + (x + 16 * (row % 2)) // 32 * 2.3)
    img = np.where(mortar[..., None], [215, 210, 200], np.array([170, 60, 40]) * shade[..., None])
    return img.astype(np.uint8)


def write_meshes(folder: Path) -> list[Path]:
    """The three mesh files in ``folder``; returns their paths."""
    model = folder / "torus"
    model.mkdir(parents=True)
    Image.fromarray(bricks()).save(model / "bricks.png")
    (model / "model.mtl").write_text("newmtl brick\nKd 1 1 1\nmap_Kd bricks.png\n\nnewmtl paint\nKd 0.15 0.45 0.8\n")
    v, f, uv = torus()
    outside = (v[f].mean(axis=1)[:, :2] ** 2).sum(axis=1) > 1.0
    lines = ["mtllib model.mtl", *(f"v {a:.6f} {b:.6f} {c:.6f}" for a, b, c in v)]
    lines += [f"vt {a:.6f} {b:.6f}" for a, b in uv]
    for name, rows in (("brick", f[outside]), ("paint", f[~outside])):
        lines.append(f"usemtl {name}")
        lines += [f"f {a + 1}/{a + 1} {b + 1}/{b + 1} {c + 1}/{c + 1}" for a, b, c in rows]
    (model / "model.obj").write_text("\n".join(lines) + "\n")

    sphere = trimesh.creation.uv_sphere(radius=1.0, count=[32, 48])
    lon = np.arctan2(sphere.vertices[:, 1], sphere.vertices[:, 0]) / (2 * np.pi) + 0.5
    lat = np.arccos(np.clip(sphere.vertices[:, 2], -1, 1)) / np.pi
    rng = np.random.default_rng(1)
    field = sum(
        np.sin(rng.uniform(1, 6) * np.mgrid[0:128, 0:256][1] / 40 + rng.uniform(0, 6)) for _ in range(4)
    ) + np.cos(np.mgrid[0:128, 0:256][0] / 12)
    land = field > 0.6
    picture = np.where(land[..., None], [70, 140, 60], [30, 80, 170]).astype(np.uint8)
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=Image.fromarray(picture))
    visual = trimesh.visual.TextureVisuals(uv=np.stack([lon, 1 - lat], axis=1), material=material)
    globe = folder / "globe.glb"
    trimesh.Trimesh(sphere.vertices, sphere.faces, visual=visual, process=False).export(globe)

    v, f, _ = torus(twist=3.0)
    colours = np.concatenate([(0.5 + 0.5 * np.sin(v * [2.0, 3.0, 4.0])) * 255, np.full((len(v), 1), 255)], axis=1)
    knot = folder / "twisted.ply"
    trimesh.Trimesh(v, f, vertex_colors=colours.round().astype(np.uint8), process=False).export(knot)
    return [model / "model.obj", globe, knot]


def write_photos(folder: Path, count: int) -> None:
    """``count`` photographs of 160..320 px a side: smooth colour fields with soft stripes."""
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True)
    for i in range(count):
        w, h = (int(s) for s in rng.integers(160, 320, 2))
        y, x = np.mgrid[0:h, 0:w]
        base = rng.uniform(40, 200, 3)
        f, angle = rng.uniform(0.02, 0.08), rng.uniform(0, np.pi)
        stripes = np.sin(f * (x * np.cos(angle) + y * np.sin(angle)))
        img = base + 50 * stripes[..., None] * rng.uniform(-1, 1, 3) + 30 * (y / h)[..., None]
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"photo{i}.jpg", quality=92)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="the PNG to write")
    p.add_argument("--columns", type=int, default=6)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--photos", type=int, default=8)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        meshes = write_meshes(root / "meshes")
        write_photos(root / "photos", a.photos)
        rows = []
        for k, mesh in enumerate(meshes):
            out = root / f"build{k}"
            cmd = [sys.executable, "-m", "gpu_render.build", "--object", f"mesh:{mesh}", "--out", str(out)]
            cmd += ["--poses", f"random:{a.columns}:{k}", "--sizes", str(a.size), "--format", "png"]
            cmd += ["--lights", "render4cnn", "--specular", "0.3", "--backgrounds", str(root / "photos")]
            cmd += ["--look-seed", str(k)]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr.strip(), file=sys.stderr)
                return done.returncode
            files = sorted((out / str(a.size)).rglob("*.png"))
            rows.append([np.asarray(Image.open(f).convert("RGB")) for f in files])
    s = a.size
    sheet = np.full((len(rows) * (s + GAP) - GAP, a.columns * (s + GAP) - GAP, 3), 255, np.uint8)
    for r, images in enumerate(rows):
        for c, image in enumerate(images):
            sheet[r * (s + GAP) : r * (s + GAP) + s, c * (s + GAP) : c * (s + GAP) + s] = image
    a.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(a.out, optimize=True)
    print(f"wrote {a.out}: {len(rows)} meshes x {a.columns} images at {s} px")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
