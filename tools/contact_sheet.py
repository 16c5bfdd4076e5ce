"""Render a contact sheet with the project's own renderers.

    python tools/contact_sheet.py --out docs/contact_sheet.png
    python tools/contact_sheet.py --objects --out docs/objects.png

cLPR: poses are spread evenly over the grid (``--step``), drawn at ``--size`` px with the GPU
renderer on a headless context, and laid out ``--columns`` wide with a thin gap.

``--objects``: one row per object (the cLPR cube, the eight SYMSOL solids and a mesh file
that trimesh makes, a twisted torus written as OFF), ``--columns`` random rotations each
(seed 0), drawn by the scene renderer with the default camera and look (shaded, 4x MSAA).

``--symsol DIR`` / ``--modelnet DIR``: a sheet of a built ``--preset`` output, read back from
its own layout: the first ``--columns`` training images of each SYMSOL shape
(``DIR/train/images``), or the first training views of the first model of each category in
``DIR/train_*V.Rawjpg.lmdb`` (decoded from the LMDB's JPEG bytes), shown at ``--size`` px.

    python tools/contact_sheet.py --symsol /tmp/symsol --columns 6 --size 112 --out docs/symsol.png
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from gpu_render.dataset.writer import atomic_write_bytes
from gpu_render.render.backends import backend
from gpu_render.render.clpr_renderer import Renderer
from gpu_render.render.context import Headless, NoOpenGLError
from gpu_render.rotations.euler import clpr_euler, clpr_pose_count, euler_to_matrix
from gpu_render.scene.clpr_labels import translation

GAP_COLOUR = (255, 255, 255)


def sheet(images: np.ndarray, columns: int, gap: int) -> np.ndarray:
    """Tile (N, S, S, 3) uint8 images into one (rows*(S+gap)+gap, columns*(S+gap)+gap, 3) image."""
    n, s = len(images), images.shape[1]
    rows = -(-n // columns)
    out = np.empty((rows * (s + gap) + gap, columns * (s + gap) + gap, 3), dtype=np.uint8)
    out[...] = GAP_COLOUR
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        y, x = gap + r * (s + gap), gap + c * (s + gap)
        out[y : y + s, x : x + s] = image
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("docs/contact_sheet.png"))
    p.add_argument("--step", type=float, default=0.1)
    p.add_argument("--count", type=int, default=24)
    p.add_argument("--columns", type=int, default=8)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--antialias", action="store_true")
    p.add_argument("--objects", action="store_true", help="one row per object instead of cLPR poses")
    p.add_argument("--symsol", type=Path, default=None, metavar="DIR", help="a --preset symsol output: a row per shape")
    p.add_argument(
        "--modelnet",
        type=Path,
        default=None,
        metavar="DIR",
        help="a --preset modelnet10-so3 output: a row per category",
    )
    a = p.parse_args(argv)
    if a.count < 1 or a.columns < 1 or not 8 <= a.size <= 4096 or not a.step > 0:
        print("contact_sheet: error: --count, --columns >= 1, --size in 8..4096, --step > 0", file=sys.stderr)
        return 2
    if a.objects:
        return object_sheet(a.out, a.columns, a.size)
    if a.symsol is not None or a.modelnet is not None:
        return preset_sheet(a.out, a.symsol, a.modelnet, a.columns, a.size)
    total = clpr_pose_count(a.step)
    index = np.linspace(0, total - 1, a.count).round().astype(int)
    m = euler_to_matrix(clpr_euler(a.step)[index])
    try:
        with Headless() as gl, Renderer(gl.ctx, a.size, antialias=a.antialias) as r:
            images = r.render(m, translation(m))
    except NoOpenGLError as exc:
        print(f"contact_sheet: error: {exc}", file=sys.stderr)
        return 2
    buf = io.BytesIO()
    Image.fromarray(sheet(images, a.columns, gap=2)).save(buf, format="PNG", optimize=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(a.out, buf.getvalue())
    print(f"wrote {a.out}: poses {', '.join(map(str, index[:4]))}, ... of {total}")
    return 0


def demo_mesh(folder: Path) -> Path:
    """A mesh file with no symmetry: a torus, twisted and stretched, written as OFF."""
    import trimesh

    torus = trimesh.creation.torus(major_radius=1.0, minor_radius=0.35, major_sections=96, minor_sections=32)
    v = torus.vertices.copy()
    v[:, 2] += 0.5 * v[:, 0] * (v[:, 0] > 0)  # lift one side: no mirror symmetry left
    v *= (1.6, 1.0, 1.2)
    torus.vertices = v
    path = folder / "twisted_torus.off"
    path.write_text(trimesh.exchange.off.export_off(torus))
    return path


def object_sheet(out: Path, columns: int, size: int) -> int:
    """One row per object: the cLPR cube, the SYMSOL eight and a mesh file."""
    import tempfile

    from gpu_render.dataset.mesh_files import load_mesh_file
    from gpu_render.rotations.sources import PoseSource
    from gpu_render.scene.scene import ClprScene, ObjectScene
    from gpu_render.scene.solids import BUILTIN_OBJECTS, builtin_object

    rows = []
    with tempfile.TemporaryDirectory() as tmp, Headless() as gl:
        scenes = [ClprScene(antialias=True)] + [ObjectScene(builtin_object(n)) for n in BUILTIN_OBJECTS]
        scenes.append(ObjectScene(load_mesh_file(demo_mesh(Path(tmp)))))
        source = PoseSource("random", count=columns, seed=0)
        for scene in scenes:
            plan = scene.plan(source)
            b = backend(scene)
            renderer = b.renderer(gl.ctx, size, columns)
            try:
                rows.append(renderer.render_instances(b.instances(plan, 0, columns)))
            finally:
                renderer.close()
    images = np.concatenate(rows)
    buf = io.BytesIO()
    Image.fromarray(sheet(images, columns, gap=2)).save(buf, format="PNG", optimize=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buf.getvalue())
    print(f"wrote {out}: {len(scenes)} objects x {columns} random rotations at {size} px")
    return 0


def preset_sheet(out: Path, symsol: Path | None, modelnet: Path | None, columns: int, size: int) -> int:
    """A row per SYMSOL shape or ModelNet10 category, read back from a built preset output."""
    rows: list[Image.Image] = []
    if symsol is not None:
        from gpu_render.dataset.layouts.symsol import SYMSOL_SHAPES

        for shape in SYMSOL_SHAPES:
            paths = sorted((symsol / "train" / "images").glob(f"{shape}_*.png"))[:columns]
            rows += [Image.open(p).convert("RGB") for p in paths]
    else:
        import lmdb

        assert modelnet is not None
        folder = max(modelnet.glob("train_*V.Rawjpg.lmdb"), key=lambda f: int(f.name.split("_")[1].split("V")[0]))
        env = lmdb.open(str(folder), readonly=True, lock=False)
        seen: set[str] = set()
        with env.begin() as txn:
            for key, _value in txn.cursor():
                category = key.decode().rsplit("_", 1)[0]
                if category not in seen and key.decode().endswith(".v001"):
                    seen.add(category)
                    model = key.decode().split(".")[0]
                    for v in range(1, columns + 1):
                        data = txn.get(f"{model}.v{v:03d}".encode())
                        if data is not None:
                            rows.append(Image.open(io.BytesIO(data)).convert("RGB"))
        env.close()
    if not rows:
        print("contact_sheet: error: no images found in the preset output", file=sys.stderr)
        return 2
    images = np.stack([np.asarray(im.resize((size, size), Image.LANCZOS)) for im in rows])
    buf = io.BytesIO()
    Image.fromarray(sheet(images, columns, gap=2)).save(buf, format="PNG", optimize=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buf.getvalue())
    print(f"wrote {out}: {len(images)} images at {size} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
