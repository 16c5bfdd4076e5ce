"""Optional extras: one line telling what to install when a module of one is missing.

Every hint reads ``this needs MODULE: pip install 'gpu_render[EXTRA]'``. A Python API raises
:class:`MissingExtra` (an ImportError) whose message is ``gpu_render: `` and the hint; a
command prints ``PROG: error: `` and the hint, and exits 2.

    with needs("torch"):
        import torch
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

#: The extra of pyproject.toml that installs each optional top-level module.
EXTRA_OF: dict[str, str] = {
    "torch": "torch",
    "ray": "ray",
    "fastapi": "serve",
    "uvicorn": "serve",
    "httpx": "serve",
    "prometheus_client": "serve",
    "starlette": "serve",
    "pydantic": "serve",
    "scipy": "tools",
    "webdataset": "webdataset",
    "pyrender": "bench",
    "OpenGL": "bench",
}

#: Each extra's module, named when a missing module's name is unknown.
MAIN_MODULE: dict[str, str] = {
    "torch": "torch",
    "ray": "ray",
    "serve": "fastapi",
    "tools": "scipy",
    "webdataset": "webdataset",
    "bench": "pyrender",
}


def install_hint(module: str, extra: str | None = None) -> str:
    """``this needs MODULE: pip install 'gpu_render[EXTRA]'``; extra defaults to MODULE's in EXTRA_OF."""
    top = module.split(".")[0]
    chosen = extra or EXTRA_OF.get(top)
    if chosen is None:
        raise KeyError(f"no extra installs {module!r}")
    return f"this needs {top}: pip install 'gpu_render[{chosen}]'"


class MissingExtra(ModuleNotFoundError):
    """An optional module is not installed. ``hint``: :func:`install_hint`'s line; the message
    is ``gpu_render: `` and the hint; ``name`` is the missing module."""

    def __init__(self, module: str, extra: str) -> None:
        self.hint = install_hint(module, extra)
        super().__init__(f"gpu_render: {self.hint}", name=module)

    def command_error(self, prog: str) -> str:
        """The one line a command prints before it exits 2."""
        return f"{prog}: error: {self.hint}"


@contextmanager
def needs(extra: str) -> Iterator[None]:
    """Imports inside raise MissingExtra naming ``extra`` instead of a bare ImportError.

    The missing module is the failed import's own name (a package the extra brings, such as
    pydantic for fastapi) where Python gives one, else the extra's main module.
    """
    if extra not in MAIN_MODULE:
        raise KeyError(f"unknown extra {extra!r}")
    try:
        yield
    except MissingExtra:
        raise
    except ImportError as exc:
        module = (exc.name or MAIN_MODULE[extra]).split(".")[0]
        if module == "gpu_render":
            raise  # a fault of this package, not a missing extra: no install can help
        raise MissingExtra(module, extra) from None


def require(module: str, extra: str | None = None) -> ModuleType:
    """``importlib.import_module(module)``, or MissingExtra naming ``extra`` (default: the extra
    of EXTRA_OF that installs the module's top-level package)."""
    chosen = extra or EXTRA_OF.get(module.split(".")[0])
    if chosen is None:
        raise KeyError(f"no extra installs {module!r}")
    with needs(chosen):
        return importlib.import_module(module)
