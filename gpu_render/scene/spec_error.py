"""The one error of :class:`~gpu_render.scene.spec.SceneSpec`: a scene option that cannot be drawn."""

from __future__ import annotations

from typing import Any

from gpu_render.errors import UsageError
from gpu_render.scene.scene import CLPR_OBJECT


class SceneSpecError(UsageError, ValueError):
    """A scene option that cannot be drawn. ``field``: the option's name as a keyword; ``reason``:
    what is wrong with it; ``conflict``: the option makes no sense for the cLPR cube."""

    def __init__(self, field: str, reason: str, conflict: bool = False) -> None:
        # A conflict's reason is the text after "makes no sense for object clpr-cube".
        self.field, self.reason, self.conflict = field, reason, conflict
        super().__init__(self.spelled(""))

    def spelled(self, flag: str) -> str:
        """The one-line message with every option name prefixed by ``flag``: ``""`` for Python
        keywords (``fov: must be ...``), ``"--"`` for the command line."""
        field = self.field.replace("_", "-") if flag else self.field  # --light-count, light_count
        if self.conflict:
            return f"{flag}{field} makes no sense for {flag}object {CLPR_OBJECT}{self.reason}"
        return f"{flag}{field}: {self.reason}"

    def __reduce__(self) -> tuple[Any, ...]:  # picklable: it may cross into a DataLoader's parent
        return (type(self), (self.field, self.reason, self.conflict))
