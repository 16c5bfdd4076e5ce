"""Reading a ModelNet10 tree: ``DIR/{category}/{train,test}/{category}_{NNNN}.off``.

Everything wrong with the tree is a one-line UsageError naming the file or folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

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
    order given, models by number. Raises UsageError for a missing folder, a mesh file whose
    name does not follow ``{category}_{NNNN}.off``, or a split with no meshes at all."""
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
            pattern = re.compile(rf"{re.escape(category)}_(\d+)\.off")
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() != ".off":
                    continue
                match = pattern.fullmatch(path.name)
                if match is None:
                    raise UsageError(f"{path}: not named {category}_NNNN.off")
                models.append(CadModel(split, category, int(match.group(1)), path))
                found += 1
        if found == 0:
            raise UsageError(f"--meshes {root}: no {split_name} meshes ({{category}}/{split_name}/{{category}}_NNNN.off) "
                             f"for {','.join(categories)}")
    models.sort(key=lambda m: (m.split, categories.index(m.category), m.cad))
    return models
