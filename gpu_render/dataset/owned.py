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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from gpu_render.dataset.atomic import is_temporary
from gpu_render.dataset.imagenet3d import annotation_file, image_file
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
    return [Folder(PROGRESS, lambda n: re.fullmatch(r"chunk_\d{6,}\.json", n) is not None),
            Folder(SHARDS, lambda n: re.fullmatch(r"part-\d+-of-\d+\.json", n) is not None)]


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
    layers = bool(sig.get("layers")) or layout == "imagenet3d"
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
            folders.append(Folder(str(size), numbered(lambda i, f=fmt: image_name(i, f), n, first=1)))
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
    and the files it writes whole (none besides the layers)."""
    class_name = plain_name(sig.get("class"), "class")
    files = [relative_path(path_of(Path(), class_name, i), "a file of the layout")
             for path_of in (image_file, annotation_file) for i in range(n)]
    return folders_holding(files), []


def folders_holding(files: Iterable[str]) -> list[Folder]:
    """The folders of ``files`` (relative paths inside OUT), each owning exactly their names,
    and the folders above them (owning no file), shallowest first; OUT itself not included."""
    by_folder: dict[str, set[str]] = {}
    for relative in files:
        parent, _, name = relative.rpartition("/")
        by_folder.setdefault(parent, set()).add(name)
        while parent:
            parent = parent.rpartition("/")[0]
            if parent:
                by_folder.setdefault(parent, set())
    return [Folder(path, frozenset(by_folder[path]).__contains__)
            for path in sorted(by_folder, key=lambda p: (p.count("/"), p)) if path]


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
                if not entry.is_file(follow_symlinks=False) or not (folder.owns(entry.name) or is_temporary(entry.name)):
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
                elif not (folder.owns(entry.name) or is_temporary(entry.name) or
                          (not folder.path and is_lock_file(entry.name))):
                    yield Extra(Path(entry.path), "file", bool(folder.path))
