"""Compare pose sources: how evenly do their rotations cover SO(3)?

    python tools/so3_coverage.py --sources clpr,so3-grid:3,random:250047 --step 0.1 \
        --out docs/so3_coverage.png --json docs/so3_coverage.json

For each source it reports the count, the nearest-neighbour geodesic distances (min, median,
max), how many rotations have a neighbour closer than --duplicate degrees, and how far their
rotation angles are from the Haar measure (Kolmogorov-Smirnov distance). The picture shows,
per source, each rotation where it points the cube's z axis (Hammer equal-area projection),
coloured by its local density in SO(3) against a uniform source's (teal: even), and the
histogram of rotation angles against the Haar density.
Needs scipy (a KD-tree) besides the project: pip install 'gpu_render[tools]'.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from gpu_render.cli.arg_types import source_arg
from gpu_render.dataset.writer import atomic_write_bytes
from gpu_render.errors import UsageError
from gpu_render.extras import MissingExtra, require
from gpu_render.rotations.quaternion import matrix_to_quaternion, rotation_angle
from gpu_render.rotations.sources import row_matrices


def nearest_neighbours(q: np.ndarray) -> np.ndarray:
    """Geodesic distance from each unit quaternion to its nearest other one: (N,) radians.

    q and -q are the same rotation, so the tree holds both; the nearest point that is not
    the query itself (nor its negation) is the nearest rotation.
    """
    n = len(q)
    tree = require("scipy.spatial").cKDTree(np.concatenate([q, -q]))
    _dist, idx = tree.query(q, k=3)
    other = np.where((idx[:, 1] % n) == np.arange(n), idx[:, 2], idx[:, 1]) % n
    dot = np.abs(np.sum(q * q[other], axis=1))
    return 2 * np.arccos(np.clip(dot, 0.0, 1.0))


def haar_ks(q: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance between the rotation angles and the Haar law (CDF (w - sin w)/pi)."""
    angle = np.sort(rotation_angle(q))
    cdf = (angle - np.sin(angle)) / np.pi
    k = np.arange(1, len(q) + 1) / len(q)
    return float(np.max(np.maximum(k - cdf, cdf - (k - 1 / len(q)))))


def coverage(spec: str, q: np.ndarray, duplicate_deg: float) -> dict[str, float | int | str]:
    nn = np.degrees(nearest_neighbours(q))
    return {
        "source": spec,
        "count": len(q),
        "nn_min_deg": float(nn.min()),
        "nn_median_deg": float(np.median(nn)),
        "nn_max_deg": float(nn.max()),
        "near_duplicates": int((nn < duplicate_deg).sum()),
        "haar_ks": haar_ks(q),
    }


# -- the picture ---------------------------------------------------------------------------

PANEL_W, PANEL_H, HIST_W = 360, 180, 220
BACK = (255, 255, 255)
INK = (30, 30, 30)


def _ramp(t: np.ndarray) -> np.ndarray:
    """Density 0..1 -> RGB, dark blue through teal to yellow."""
    stops = np.array([[20, 20, 60], [40, 90, 160], [40, 170, 150], [170, 210, 80], [250, 230, 60]], float)
    x = np.clip(t, 0, 1) * (len(stops) - 1)
    i = np.minimum(x.astype(int), len(stops) - 2)
    f = (x - i)[..., None]
    return (stops[i] * (1 - f) + stops[i + 1] * f).astype(np.uint8)


def local_density(q: np.ndarray, expected: float = 30.0) -> np.ndarray:
    """Each rotation's neighbour count within a geodesic radius, over what Haar-uniform
    rotations would give there: (N,) ratio, 1 for a perfectly even source.

    The radius is chosen so that a uniform source of this size expects ``expected``
    neighbours: a ball of radius rho holds (rho - sin rho) / pi of SO(3).
    """
    n = len(q)
    share = min(0.5, expected / n)
    lo, hi = 0.0, np.pi
    for _ in range(60):  # solve (rho - sin rho) / pi = share
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if (mid - np.sin(mid)) / np.pi < share else (lo, mid)
    rho = (lo + hi) / 2
    chord = np.sqrt(2 - 2 * np.cos(rho / 2))  # |q - q'| for quaternions rho apart
    tree = require("scipy.spatial").cKDTree(np.concatenate([q, -q]))
    counts = tree.query_ball_point(q, chord, return_length=True) - 1  # not itself
    return counts / (n * (rho - np.sin(rho)) / np.pi)


def hammer_map(r: np.ndarray, density: np.ndarray) -> np.ndarray:
    """Each rotation drawn where it sends the cube's z axis (Hammer equal-area projection),
    coloured by its local density: teal is even, blue thin, yellow crowded (log2 scale, 1/8x..8x).

    Returns (PANEL_H, PANEL_W, 3) uint8.
    """
    axis = r[:, :, 2]  # R @ e_z
    lat = np.arcsin(np.clip(axis[:, 1], -1, 1))  # "up" is the camera's y
    lon = np.arctan2(axis[:, 0], -axis[:, 2])  # centre: pointing at the viewer
    d = np.sqrt(1 + np.cos(lat) * np.cos(lon / 2))
    x = 2 * np.sqrt(2) * np.cos(lat) * np.sin(lon / 2) / d
    y = np.sqrt(2) * np.sin(lat) / d
    col = ((x / (2 * np.sqrt(2)) + 1) / 2 * (PANEL_W - 1)).round().astype(int)
    row = ((1 - (y / np.sqrt(2) + 1) / 2) * (PANEL_H - 1)).round().astype(int)
    yy, xx = np.mgrid[0:PANEL_H, 0:PANEL_W]
    u = (xx / (PANEL_W - 1) * 2 - 1) * 2 * np.sqrt(2)
    v = (1 - yy / (PANEL_H - 1) * 2) * np.sqrt(2)
    inside = (u / (2 * np.sqrt(2))) ** 2 + (v / np.sqrt(2)) ** 2 <= 1
    img = np.full((PANEL_H, PANEL_W, 3), 235, dtype=np.uint8)
    img[~inside] = BACK
    level = np.log2(np.maximum(density, 1 / 64))
    order = np.argsort(level)  # the most crowded drawn last, on top
    colour = _ramp((level[order] + 3) / 6)
    spots = [(0, 0)] if len(r) > 60000 else [(0, 0), (0, 1), (1, 0), (1, 1)]  # sparse sources: 2x2 px
    for dr, dc in spots:
        img[np.minimum(row[order] + dr, PANEL_H - 1), np.minimum(col[order] + dc, PANEL_W - 1)] = colour
    return img


def angle_histogram(q: np.ndarray) -> np.ndarray:
    """Histogram of rotation angles (bars) against the Haar density (line): (PANEL_H, HIST_W, 3)."""
    img = Image.new("RGB", (HIST_W, PANEL_H), BACK)
    draw = ImageDraw.Draw(img)
    bins = 36
    hist, _edges = np.histogram(rotation_angle(q), bins=bins, range=(0, np.pi), density=True)
    top = 2.0 / np.pi * 1.15  # the Haar density peaks at 2/pi
    bw = (HIST_W - 20) / bins
    for k, h in enumerate(hist):
        height = min(1.0, h / top) * (PANEL_H - 30)
        draw.rectangle([10 + k * bw, PANEL_H - 15 - height, 10 + (k + 1) * bw - 1, PANEL_H - 15], fill=(120, 160, 210))
    w = np.linspace(0, np.pi, 100)
    haar = (1 - np.cos(w)) / np.pi
    pts = [
        (10 + wi / np.pi * (HIST_W - 20), PANEL_H - 15 - hi / top * (PANEL_H - 30))
        for wi, hi in zip(w, haar, strict=False)
    ]
    draw.line(pts, fill=(200, 40, 40), width=2)
    draw.text((10, PANEL_H - 13), "0", fill=INK)
    draw.text((HIST_W - 20, PANEL_H - 13), "pi", fill=INK)
    draw.text((40, 2), "rotation angle vs Haar", fill=INK)
    return np.asarray(img)


def picture(rows: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, dict]]) -> Image.Image:
    title_h = 18
    sheet = Image.new("RGB", (PANEL_W + HIST_W + 30, len(rows) * (PANEL_H + title_h + 10) + 10), BACK)
    draw = ImageDraw.Draw(sheet)
    y = 10
    for spec, r, q, density, stats in rows:
        draw.text(
            (10, y),
            f"{spec}: {stats['count']} rotations, nearest neighbour {stats['nn_min_deg']:.3f}/"
            f"{stats['nn_median_deg']:.2f}/{stats['nn_max_deg']:.2f} deg (min/median/max)",
            fill=INK,
        )
        y += title_h
        sheet.paste(Image.fromarray(hammer_map(r, density)), (10, y))
        sheet.paste(Image.fromarray(angle_histogram(q)), (PANEL_W + 20, y))
        y += PANEL_H + 10
    return sheet


def markdown(table: list[dict]) -> str:
    lines = [
        "| source | rotations | NN min | NN median | NN max | near-duplicates | KS vs Haar | density p1–p99 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in table:
        lines.append(
            f"| `{s['source']}` | {s['count']} | {s['nn_min_deg']:.4f}° | {s['nn_median_deg']:.3f}° | "
            f"{s['nn_max_deg']:.3f}° | {s['near_duplicates']} | {s['haar_ks']:.4f} | "
            f"{s['density_p01']:.2f}–{s['density_p99']:.2f}× |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sources", default="clpr,so3-grid:3,random:250047")
    p.add_argument("--step", type=float, default=0.1, help="step of the clpr source")
    p.add_argument("--duplicate", type=float, default=0.25, help="near-duplicate threshold, degrees")
    p.add_argument("--out", type=Path, default=Path("docs/so3_coverage.png"))
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    try:
        require("scipy.spatial")  # the KD-tree: the [tools] extra
    except MissingExtra as exc:
        print(exc.command_error("so3_coverage"), file=sys.stderr)
        return 2
    rows, table = [], []
    try:
        for spec in a.sources.split(","):
            source = source_arg(spec, a.step if spec == "clpr" else None)
            m, _ = row_matrices(source)
            r = m.transpose(0, 2, 1)
            q = matrix_to_quaternion(r)
            stats = coverage(spec if spec != "clpr" else f"clpr --step {a.step}", q, a.duplicate)
            print(json.dumps(stats), flush=True)
            density = local_density(q)
            stats["density_p01"], stats["density_p99"] = (float(x) for x in np.percentile(density, [1, 99]))
            rows.append((stats["source"], r, q, density, stats))
            table.append(stats)
    except UsageError as exc:
        print(f"so3_coverage: error: {exc}", file=sys.stderr)
        return 2
    buf = io.BytesIO()
    picture(rows).save(buf, format="PNG", optimize=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(a.out, buf.getvalue())
    if a.json:
        atomic_write_bytes(a.json, (json.dumps(table, indent=2) + "\n").encode())
    print(markdown(table))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
