"""Which files in OUT a preset build writes, in :mod:`gpu_render.dataset.owned`'s terms (its
folders, and the files it writes whole, whose sha256 the sealed manifest keeps), from the
manifest's signature alone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpu_render.dataset.layout import MANIFEST
from gpu_render.dataset.owned import BuildFiles, Folder, names, numbered, plain_name, records
from gpu_render.presets.lmdb_store import PARTIAL, db_name
from gpu_render.presets.modelnet import NPZ_FOLDER, databases, npz_sources
from gpu_render.presets.options import SYMSOL_SHAPES
from gpu_render.presets.symsol import SPLITS, image_path

#: The files of a ModelNet10-SO3 database folder (LMDB's two, then the two pickles).
DATABASE_FILES = ("data.mdb", "lock.mdb", "viewID2quat.pkl", "viewID2euler.pkl")
PICKLES = DATABASE_FILES[2:]


def preset_files(sig: Any) -> BuildFiles:
    """What the preset build of signature ``sig`` writes. Raises ValueError for a signature this
    version does not read (an unknown preset or shape, views that are not two counts)."""
    if not isinstance(sig, dict):
        raise ValueError("the signature is not a mapping")
    views = sig.get("views")
    if (
        not isinstance(views, list)
        or len(views) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in views)
    ):
        raise ValueError(f"views {views!r} is not two positive counts")
    if sig.get("preset") == "symsol":
        return _symsol(sig, (views[0], views[1]))
    if sig.get("preset") == "modelnet10-so3":
        return _modelnet((views[0], views[1]))
    raise ValueError(f"preset {sig.get('preset')!r} is not one this version writes")


def _symsol(sig: dict[str, Any], views: tuple[int, int]) -> BuildFiles:
    shapes = sig.get("shapes")
    if not isinstance(shapes, list) or not shapes or any(s not in SYMSOL_SHAPES for s in shapes):
        raise ValueError(f"shapes {shapes!r} are not SYMSOL's")
    folders, whole = [Folder("", names(MANIFEST)), *records()], []
    for split, count in zip(SPLITS, views, strict=False):
        folders.append(Folder(split, names("rotations.npz", "poses.npz")))
        whole += [f"{split}/rotations.npz", f"{split}/poses.npz"]
        images = image_path(Path(), split, shapes[0], 0).parent.as_posix()
        folders.append(Folder(images, _any_shape(split, shapes, count)))
    return BuildFiles(tuple(folders), tuple(whole))


def _any_shape(split: str, shapes: list[str], count: int) -> Callable[[str], bool]:
    """A Folder's ``owns``: the image names of ``shapes`` in ``split``, ``count`` of each."""
    by_shape = {s: numbered(lambda i, s=s: image_path(Path(), split, s, i).name, count) for s in shapes}

    def owns(name: str) -> bool:
        shape = name.rpartition("_")[0]
        return shape in by_shape and by_shape[shape](name)

    return owns


def _modelnet(views: tuple[int, int]) -> BuildFiles:
    folders, whole = [Folder("", names(MANIFEST)), *records()], []
    for d in databases(views):
        final = plain_name(db_name(d.name), "database")
        folders += [Folder(final, names(*DATABASE_FILES)), Folder(final + PARTIAL, names(*DATABASE_FILES))]
        whole += [f"{final}/{p}" for p in PICKLES]
    npz = [f"modelnet10_{name}.npz" for name in npz_sources(views)]
    folders.append(Folder(NPZ_FOLDER, names(*npz)))
    whole += [f"{NPZ_FOLDER}/{name}" for name in npz]
    return BuildFiles(tuple(folders), tuple(whole))
