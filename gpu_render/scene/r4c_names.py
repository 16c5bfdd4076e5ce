"""Render for CNN's image names, written and read. Pure functions.

A Render for CNN image of model ``{md5}`` of ShapeNet synset ``{synset}`` lives at
``syn_images_cropped_bkg_overlaid/{synset}/{md5}/{synset}_{md5}_a{a}_e{e}_t{t}_d{d}.png``, as its
``render_model_views.py`` names it: ``'%03d' % round(x)`` of the azimuth, the elevation, the
in-plane angle negated mod 360 and the distance (Python 3's ``round``, halves to even; so a
negative elevation prints as ``-12`` or ``-05``, and 359.6 degrees prints as ``360``).

Angles here are PASCAL3D+ viewpoints in degrees (FORMATS.md, :mod:`gpu_render.scene.viewpoint`):
azimuth a, elevation e, in-plane theta θ, distance d. The name's t is ``(-θ) mod 360``;
image2sphere's ``Pascal3DSynth`` reads ``[int(x[1:]) for x in name.split('_')[-4:-1]]`` and
uses the viewpoint ``(a, e, -t)``, which is θ again up to the names' rounding
(:func:`name_rotation`). (Render for CNN's own renderer turns its camera the other way for its
view parameter, so in its own sets t is the image's θ; docs/RENDER4CNN.md.)

**Unique names.** Two views of one model whose values round alike would get one name, and the
second would overwrite the first. :func:`unique_names` keeps both: views are named in their order,
and a view whose name an earlier view of the same model already holds gets ``-{k}`` before
``.png``, k = 1, 2, ... counting the earlier holders (``..._d003.png``, ``..._d003-1.png``).
Every other name is exactly Render for CNN's, and image2sphere's reader still parses a suffixed
name (it reads the a, e and t fields only).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from gpu_render.scene.viewpoint import rotation_from_viewpoint

#: The folder under OUT that image2sphere's ``Pascal3DSynth`` globs.
IMAGES_FOLDER = "syn_images_cropped_bkg_overlaid"

#: How names stay unique, in words, for the manifest.
NAMING_RULE = (
    "Render for CNN's {synset}_{md5}_a{a:03d}_e{e:03d}_t{t:03d}_d{d:03d}.png (round() of azimuth, elevation, "
    "(-theta) mod 360 and distance); within one model, a view whose name an earlier view already holds "
    "gets -{k} before .png, k = 1, 2, ... counting the earlier holders"
)

_NAME = re.compile(
    r"^(?P<synset>[^_/]+)_(?P<md5>[^/]+)_a(?P<a>-?\d+)_e(?P<e>-?\d+)_t(?P<t>-?\d+)_d(?P<d>-?\d+)(?:-(?P<k>[1-9]\d*))?\.png$"
)


@dataclass(frozen=True)
class NameFields:
    """What an image name holds: integer degrees (azimuth a, elevation e, t = (-θ) mod 360,
    distance d rounded), the synset and model folder names, and the collision suffix k (0 when
    the name has none)."""

    synset: str
    md5: str
    azimuth: int
    elevation: int
    t: int
    distance: int
    copy: int = 0


def _field(x: float) -> str:
    """``'%03d' % round(x)`` with Python 3's round (halves to even), as render_model_views.py."""
    if not math.isfinite(x):
        raise ValueError(f"viewpoint values must be finite, got {x}")
    return f"{round(x):03d}"  # the same digits as printf's %03d: -5 gives -05


def base_name(synset: str, md5: str, azimuth: float, elevation: float, theta: float, distance: float) -> str:
    """Render for CNN's name of one view: ``{synset}_{md5}_a{a:03d}_e{e:03d}_t{t:03d}_d{d:03d}.png``.

    azimuth, elevation, theta: the exact PASCAL3D+ viewpoint, degrees; distance: object units.
    t is ``round((-theta) % 360)`` (Python's float mod, so -0.3 gives t000 and 0.3 gives t360
    exactly as render_model_views.py does); a, e and d are rounded as they are.
    """
    if "_" in synset or "/" in synset or "/" in md5 or not synset or not md5:
        raise ValueError(
            f"synset and model names must be non-empty, without '/' (nor '_' in the synset): {synset!r}, {md5!r}"
        )
    t = (-float(theta)) % 360
    return f"{synset}_{md5}_a{_field(azimuth)}_e{_field(elevation)}_t{_field(t)}_d{_field(distance)}.png"


def unique_names(synset: str, md5: str, views: np.ndarray) -> list[str]:
    """The names of one model's views, in view order, with the collision rule of this module.

    views: (V, 4) float64 rows (azimuth, elevation, theta, distance), degrees and object units.
    Returns V distinct file names (no folder). A pure function of the model's whole list of
    views: view i's name depends only on views 0..i.
    """
    rows = np.asarray(views, dtype=np.float64).reshape(-1, 4)
    seen: dict[str, int] = {}
    names = []
    for a, e, th, d in rows.tolist():
        name = base_name(synset, md5, a, e, th, d)
        k = seen.get(name, 0)
        seen[name] = k + 1
        names.append(name if k == 0 else f"{name[: -len('.png')]}-{k}.png")
    return names


def image_path(synset: str, md5: str, name: str) -> str:
    """An image's path relative to OUT: ``syn_images_cropped_bkg_overlaid/{synset}/{md5}/{name}``."""
    return f"{IMAGES_FOLDER}/{synset}/{md5}/{name}"


def image2sphere_angles(name: str) -> tuple[int, int, int]:
    """(a, e, t) as image2sphere's ``Pascal3DSynth`` reads them from a file name (or path):
    ``[int(x[1:]) for x in basename.split('_')[-4:-1]]``."""
    base = name.rsplit("/", 1)[-1]
    fields = base.split("_")[-4:-1]
    if len(fields) != 3:
        raise ValueError(f"{name!r} is not a Render for CNN image name")
    a, e, t = (int(x[1:]) for x in fields)
    return a, e, t


def parse_name(name: str) -> NameFields:
    """Every field of a name written by :func:`unique_names` (a path's last part is read).
    Raises ValueError for any other name."""
    base = name.rsplit("/", 1)[-1]
    m = _NAME.match(base)
    if m is None:
        raise ValueError(f"{name!r} is not a Render for CNN image name")
    return NameFields(
        synset=m["synset"],
        md5=m["md5"],
        azimuth=int(m["a"]),
        elevation=int(m["e"]),
        t=int(m["t"]),
        distance=int(m["d"]),
        copy=int(m["k"] or 0),
    )


def name_rotation(names: list[str]) -> np.ndarray:
    """The rotation image2sphere derives from each name, before its random warp: (N, 3, 3)
    float64, PASCAL3D+ model frame to the camera frame of SCENES.md (x right, y down, z forward).

    image2sphere builds PASCAL3D+'s camera matrix for the angle ``(a, e, -t)`` degrees and
    splits it with an RQ decomposition whose intrinsic part has a positive diagonal; the
    rotation that split leaves is ``diag(1, -1, -1) Rz(-t) Rx(e - 90°) Rz(-a)``, which is
    :func:`gpu_render.scene.viewpoint.rotation_from_viewpoint` of (a, e, -t).
    """
    angles = np.array([image2sphere_angles(n) for n in names], dtype=np.float64).reshape(-1, 3)
    a, e, t = np.radians(angles).T
    return rotation_from_viewpoint(a, e, -t)
