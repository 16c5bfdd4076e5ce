"""Reading a ModelNet10 tree: ``DIR/{category}/{train,test}/{category}_{NNNN}.off``.

Everything wrong with the tree is a one-line UsageError naming the file or folder.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpu_render.dataset.layout import read_manifest, read_progress
from gpu_render.errors import UsageError

SPLITS = ("train", "test")


@dataclass(frozen=True)
class CadModel:
    """One CAD model: split (0 train, 1 test), category, its number NNNN and its file."""

    split: int
    category: str
    cad: int
    path: Path

    def key(self, view: int) -> str:
        """The LMDB key of view ``view`` (1-based): ``{category}_{cad:04d}.v{view:03d}``."""
        return f"{self.category}_{self.cad:04d}.v{view:03d}"


def scan_tree(root: Path, categories: tuple[str, ...]) -> list[CadModel]:
    """Every model of ``categories`` under ``root``: train before test, categories in the
    order given, models by number. Raises UsageError for a missing or unreadable folder, a mesh
    file whose name does not follow ``{category}_{NNNN}.off`` (NNNN exactly four digits, as
    ModelNet10's own files), two files of one model number in a split, or a split with no
    meshes at all."""
    if not root.is_dir():
        raise UsageError(f"--meshes {root}: no such folder")
    models: list[CadModel] = []
    for split, split_name in enumerate(SPLITS):
        found = 0
        for category in categories:
            folder = root / category / split_name
            if not (root / category).is_dir():
                raise UsageError(f"--meshes {root}: category folder {root / category} is missing")
            if not folder.is_dir():
                raise UsageError(f"--meshes {root}: {folder} is missing")
            for number, path in _category_models(root, folder, category):
                models.append(CadModel(split, category, number, path))
                found += 1
        if found == 0:
            raise UsageError(
                f"--meshes {root}: no {split_name} meshes ({{category}}/{split_name}/{{category}}_NNNN.off) "
                f"for {','.join(categories)}"
            )
    models.sort(key=lambda m: (m.split, categories.index(m.category), m.cad))
    return models


def _category_models(root: Path, folder: Path, category: str) -> list[tuple[int, Path]]:
    """(number, path) of every ``.off`` file in ``folder``, by name. Raises UsageError (one line,
    naming the file or folder) for a folder that cannot be listed, a name other than
    ``{category}_{NNNN}.off``, and two files of the same number (``bed_0002.off``, ``bed_002.off``)."""
    try:
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".off")
    except OSError as exc:
        raise UsageError(f"--meshes {root}: cannot read {folder}: {exc.strerror or exc}") from None
    pattern = re.compile(rf"{re.escape(category)}_(\d+)\.off")
    numbered: dict[int, list[Path]] = {}
    for path in paths:
        match = pattern.fullmatch(path.name)
        if match is None:
            raise UsageError(f"{path}: not named {category}_NNNN.off (NNNN: four digits)")
        numbered.setdefault(int(match.group(1)), []).append(path)
    out = []
    for number, same in sorted(numbered.items()):
        if len(same) > 1:
            raise UsageError(
                f"{folder}: {' and '.join(p.name for p in same)} are both model {number:04d} of one split; keep one"
            )
        if len(same[0].stem) != len(category) + 5:
            raise UsageError(f"{same[0]}: not named {category}_NNNN.off (NNNN: four digits)")
        out.append((number, same[0]))
    return out


def tree_record(models: list[CadModel]) -> dict[str, Any]:
    """What a build records of the tree it read, in its signature: ``count`` models and the
    ``sha256`` of their names (``{split}/{category}/{file}``, one a line, in build order).
    Chunk k of a build is model k, so a resume must see the very same list; a mesh whose
    content changes (a broken file fixed) keeps its name and so its record."""
    names = "\n".join(f"{SPLITS[m.split]}/{m.category}/{m.path.name}" for m in models)
    return {"count": len(models), "sha256": hashlib.sha256(names.encode()).hexdigest()}


def check_tree_unchanged(out: Path, signature: dict[str, Any], models: list[CadModel]) -> None:
    """Refuse (UsageError, one line) to resume or re-run in ``out`` a build of these very options
    whose tree of meshes has changed since it started (models added, removed or renumbered):
    its chunks are the models by position, so the recorded ones would belong to other models."""
    existing = read_manifest(out) if out.is_dir() else None
    old = (existing or {}).get("signature")
    if not isinstance(old, dict) or old.get("preset") != signature["preset"] or "models" not in old:
        return
    if {k: v for k, v in old.items() if k != "models"} != {k: v for k, v in signature.items() if k != "models"}:
        return  # other options: PresetState names them
    if old["models"] == signature["models"]:
        return
    records = {int(k): v for k, v in (existing or {}).get("chunks", {}).items()}
    records.update(read_progress(out))
    moved = ""
    for k, record in sorted(records.items()):
        was = Path(str(record.get("model", ""))).parts[-3:]
        now = models[k].path.parts[-3:] if k < len(models) else ("(none)",)
        if was != now:
            moved = f"; model {k} was {'/'.join(was)}, is now {'/'.join(now)}"
            break
    raise UsageError(
        f"--out {out}: the mesh tree changed since this build started "
        f"({old['models'].get('count')} models then, {len(models)} now{moved}); "
        "restore the tree or use another --out"
    )
