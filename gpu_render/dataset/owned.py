"""Which files in OUT are a build's own: what ``--overwrite`` may remove, what ``verify``
reports as extra, and which whole files a manifest keeps a sha256 of.

Each layout declares, from its manifest's signature alone (so a manifest of any earlier
version is understood), the folders it writes into and which names in each are its files
(:class:`Folder`), and the files it writes whole, once (labels, layers: :attr:`BuildFiles.whole`).
Every declared path is relative to OUT and made of plain names: a signature that would name
``..``, an absolute path or a name with a slash is refused (ValueError), and nothing is ever
followed through a symbolic link. So a damaged or hostile manifest cannot reach outside OUT.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from gpu_render.dataset.atomic import is_temporary
from gpu_render.dataset.imagenet3d import annotation_file, image_file
from gpu_render.dataset.imagenet3d_tree import SPLITS, cad_file, list_file
from gpu_render.dataset.layout import (
    LABELS,
    LAYERS,
    MANIFEST,
    POSES,
    PROGRESS,
    SHARDS,
    image_name,
    layer_path,
    npy_path,
    partial_path,
)
from gpu_render.dataset.lock import is_lock_file
from gpu_render.dataset.wds import shard_name
from gpu_render.errors import UsageError


@dataclass(frozen=True)
class Folder:
    """A folder of OUT a build writes into. path: relative, '/'-separated ('' is OUT itself);
    owns: whether a file of that name in the folder is one the build writes."""

    path: str
    owns: Callable[[str], bool]


@dataclass(frozen=True)
class BuildFiles:
    """What one build writes in OUT: its folders (parents before children) and, as relative
    paths, the files it writes whole and once, whose sha256 the manifest keeps (``files``)."""

    folders: tuple[Folder, ...]
    whole: tuple[str, ...] = ()

    def folder(self, path: str) -> Folder | None:
        return next((f for f in self.folders if f.path == path), None)


def names(*wanted: str) -> Callable[[str], bool]:
    """A Folder's ``owns``: exactly these names."""
    chosen = frozenset(wanted)
    return chosen.__contains__


def numbered(name_of: Callable[[int], str], count: int, first: int = 0) -> Callable[[str], bool]:
    """A Folder's ``owns``: ``name_of(i)`` for 0 <= i < count, whose name carries the number
    i + first as its last run of digits (read back from the name: no set of ``count`` names is held)."""

    def owns(name: str) -> bool:
        found = re.findall(r"\d+", name)
        i = int(found[-1]) - first if found else -1
        return 0 <= i < count and name_of(i) == name

    return owns


def plain_name(value: Any, what: str) -> str:
    """``value`` as one plain file name (not empty, '.', '..', no slash, no NUL); ValueError otherwise."""
    text = str(value)
    if not isinstance(value, (str, int)) or text in ("", ".", "..") or "/" in text or "\\" in text or "\0" in text:
        raise ValueError(f"{what} {value!r} is not a plain name inside OUT")
    return text


def relative_path(path: str | Path, what: str) -> str:
    """``path`` as a '/'-separated path inside OUT, every part a plain name; ValueError otherwise."""
    pure = PurePosixPath(str(path))
    if pure.is_absolute() or not pure.parts:
        raise ValueError(f"{what} {str(path)!r} is not a path inside OUT")
    return "/".join(plain_name(part, what) for part in pure.parts)


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} {value!r} is not a positive whole number")
    return value


def records() -> list[Folder]:
    """The folders every build keeps while it runs: chunk records and shard parts."""
    return [
        Folder(PROGRESS, lambda n: re.fullmatch(r"chunk_\d{6,}\.json", n) is not None),
        Folder(SHARDS, lambda n: re.fullmatch(r"part-\d+-of-\d+\.json", n) is not None),
    ]


def build_files(sig: Any) -> BuildFiles:
    """What a ``gpu_render.build`` dataset of signature ``sig`` writes (any format and layout).

    Raises ValueError when the signature is not one this version reads, or names a path
    outside OUT (e.g. a class ``../x``).
    """
    if not isinstance(sig, dict):
        raise ValueError("the signature is not a mapping")
    n = _positive_int(sig.get("pose_count"), "pose_count")
    batch = _positive_int(sig.get("batch"), "batch")
    sizes = sig.get("sizes")
    if not isinstance(sizes, list) or not sizes:
        raise ValueError(f"sizes {sizes!r} is not a list of image sizes")
    sizes = [_positive_int(s, "size") for s in sizes]
    fmt = sig.get("format")
    if fmt not in ("jpg", "png", "npy", "wds"):
        raise ValueError(f"format {fmt!r} is not one this version writes")
    layout = sig.get("layout", "flat")
    layers = bool(sig.get("layers"))  # an imagenet3d build before exact boxes recorded layers: true
    top = [MANIFEST] + ([] if sig.get("object") else [LABELS]) + [POSES]
    whole = list(top[1:])
    folders: list[Folder] = []
    for size in sizes:
        arrays = [npy_path(Path(), size)] if fmt == "npy" else []
        layer_files = [layer_path(Path(), kind, size) for kind, _ in LAYERS] if layers else []
        for final in arrays + layer_files:
            top += [final.name, partial_path(final).name]
        whole += [p.name for p in layer_files]
        if fmt in ("jpg", "png") and layout == "flat":
            folders.append(Folder(str(size), numbered(partial(image_name, fmt=fmt), n, first=1)))
        elif fmt == "wds":
            folders.append(Folder(str(size), numbered(shard_name, (n + batch - 1) // batch)))
    if layout == "imagenet3d":
        per_pose, written_whole = _imagenet3d(sig, n)
        folders += per_pose
        whole += written_whole
    elif layout != "flat":
        raise ValueError(f"layout {layout!r} is not one this version writes")
    return BuildFiles((Folder("", names(*top)), *records(), *folders), tuple(whole))


def _imagenet3d(sig: dict[str, Any], n: int) -> tuple[list[Folder], list[str]]:
    """--layout imagenet3d: the image and the annotation of each pose, where
    :mod:`gpu_render.dataset.imagenet3d` puts them (its ``image_file`` and ``annotation_file``);
    and the files it writes whole besides the layers: the split lists and the CAD model
    (:mod:`gpu_render.dataset.imagenet3d_tree`)."""
    class_name = plain_name(sig.get("class"), "class")
    kinds: list[Callable[[int], Path]] = [partial(f, Path(), class_name) for f in (image_file, annotation_file)]
    whole = [list_file(Path(), class_name, split).as_posix() for split in SPLITS]
    whole.append(cad_file(Path(), class_name).as_posix())
    return layout_folders(n, kinds, whole), whole


def layout_folders(n: int, kinds: list[Callable[[int], Path]], whole: list[str]) -> list[Folder]:
    """The folders of a layout's files: per-pose files, each kind mapping pose i (0 <= i < n) to
    a path relative to OUT, in a folder; and files written whole (relative paths). A kind whose
    first and last poses share a folder (the number in the name) is matched by name, without
    listing n names; any other is listed pose by pose."""
    owners: dict[str, list[Callable[[str], bool]]] = {}
    listed: dict[str, set[str]] = {}
    for kind in kinds:
        first, last = (relative_path(kind(i), "a file of the layout") for i in (0, n - 1))
        if first.rpartition("/")[0] == last.rpartition("/")[0]:
            owners.setdefault(first.rpartition("/")[0], []).append(numbered(partial(_file_name, kind), n))
            continue
        for i in range(n):
            parent, _, name = relative_path(kind(i), "a file of the layout").rpartition("/")
            listed.setdefault(parent, set()).add(name)
    for relative in whole:
        parent, _, name = relative_path(relative, "a file of the layout").rpartition("/")
        listed.setdefault(parent, set()).add(name)
    for parent, found in listed.items():
        owners.setdefault(parent, []).append(frozenset(found).__contains__)
    if "" in owners:
        raise ValueError("a layout's own files lie in folders of OUT, not at its top")
    return folders_of({p: partial(_owned_by_any, tuple(o)) for p, o in owners.items()})


def _file_name(kind: Callable[[int], Path], i: int) -> str:
    return kind(i).name


def _owned_by_any(owners: tuple[Callable[[str], bool], ...], name: str) -> bool:
    return any(own(name) for own in owners)


def folders_of(owners: dict[str, Callable[[str], bool]]) -> list[Folder]:
    """Folders (relative paths, not OUT itself) with what each owns, and the folders above them
    (owning no file), shallowest first."""
    every = dict(owners)
    for path in owners:
        while "/" in path:
            path = path.rpartition("/")[0]
            every.setdefault(path, names())
    return [Folder(path, every[path]) for path in sorted(every, key=lambda p: (p.count("/"), p))]


# -- removing (--overwrite) -------------------------------------------------------------------


def blocking(out: Path, relative: str) -> Path | None:
    """The first part of ``out / relative`` that exists but is not a real folder (a symbolic
    link, even to a folder, or a file); None when every part there is is a real folder."""
    here = out
    for part in relative.split("/") if relative else []:
        here = here / part
        try:
            mode = os.lstat(here).st_mode
        except FileNotFoundError:
            return None
        if not stat.S_ISDIR(mode):
            return here
    return None


def real_folder(out: Path, relative: str) -> Path | None:
    """``out / relative`` when it exists and every part of it is a real folder, else None."""
    here = out / relative if relative else out
    return here if blocking(out, relative) is None and here.is_dir() else None


def replaced_files(out: Path, manifest: dict[str, Any]) -> BuildFiles:
    """--overwrite: what the earlier build of ``manifest`` (or shard part) wrote in OUT. Raises
    UsageError (one line; nothing is removed) for a preset's dataset, or a manifest that does
    not say safely which files are its own."""
    sig = manifest.get("signature")
    preset = manifest.get("preset") or (sig.get("preset") if isinstance(sig, dict) else None)
    if preset:
        raise UsageError(
            f"--out {out} holds a --preset {preset} dataset, which --overwrite does not replace; "
            "remove it yourself, or choose another --out"
        )
    try:
        return build_files(sig)
    except ValueError as exc:
        raise UsageError(
            f"--out {out}: --overwrite removed nothing, since the {MANIFEST} there does not say "
            f"safely which files are its own ({exc}); remove the old dataset yourself, or choose "
            "another --out"
        ) from None


def refuse_links(out: Path, files: BuildFiles) -> None:
    """Raise UsageError (one line) when a folder a build of ``files`` writes into is, or lies
    under, a symbolic link or a file: a build writes, and removes temporaries, only inside OUT."""
    for folder in files.folders:
        path = blocking(out, folder.path)
        if path is not None:
            what = "a symbolic link" if path.is_symlink() else "not a folder"
            raise UsageError(
                f"--out {out}: {path} is {what}; the build writes only into folders of its own "
                "inside OUT: remove it, or choose another --out"
            )


def remove_build(out: Path, files: BuildFiles) -> None:
    """Remove the build's own files from ``out`` (manifest.json last), then those of its
    folders left empty. Anything else stays: another's file, a folder the build never makes,
    a symbolic link (never followed, never removed)."""
    for folder in sorted(files.folders, key=lambda f: -f.path.count("/") if f.path else 1):  # deepest first
        here = real_folder(out, folder.path)
        if here is None:
            continue
        last = []
        with os.scandir(here) as entries:
            for entry in entries:
                mine = folder.owns(entry.name) or is_temporary(entry.name)
                if not mine or not entry.is_file(follow_symlinks=False):
                    continue
                if folder.path == "" and entry.name == MANIFEST:
                    last.append(entry.path)  # while it is there, an interrupted removal is resumed
                else:
                    os.unlink(entry.path)
        if folder.path and _empty(here):
            here.rmdir()
        for path in last:
            os.unlink(path)


def _empty(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return next(entries, None) is None


# -- finding extra files (verify) -------------------------------------------------------------


@dataclass(frozen=True)
class Extra:
    """A path in OUT that is not the build's: ``inside`` when it lies in one of the build's own
    folders (a reader of the layout would meet it), else at OUT's top level."""

    path: Path
    kind: str  # "file", "folder", "link" or "other"
    inside: bool


def extras(out: Path, files: BuildFiles) -> Iterator[Extra]:
    """Everything in ``out`` the build does not write (lock files and temporaries are its own),
    folders the build never makes as one entry each; symbolic links are never followed."""
    for folder in files.folders:
        here = real_folder(out, folder.path)
        if here is None:
            continue
        with os.scandir(here) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                below = f"{folder.path}/{entry.name}" if folder.path else entry.name
                if entry.is_symlink():
                    yield Extra(Path(entry.path), "link", bool(folder.path))
                elif entry.is_dir(follow_symlinks=False):
                    if files.folder(below) is None:
                        yield Extra(Path(entry.path), "folder", bool(folder.path))
                elif not entry.is_file(follow_symlinks=False):
                    yield Extra(Path(entry.path), "other", bool(folder.path))
                elif not (
                    folder.owns(entry.name)
                    or is_temporary(entry.name)
                    or (not folder.path and is_lock_file(entry.name))
                ):
                    yield Extra(Path(entry.path), "file", bool(folder.path))
