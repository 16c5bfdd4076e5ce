"""ModelNet10-SO3's database names, as :mod:`gpu_render.presets.load` reads them
(:mod:`gpu_render.dataset.layouts.lmdb_store` writes the databases)."""

from gpu_render.dataset.layouts.lmdb_store import db_name

__all__ = ["db_name"]
