"""A request's scene, made by the one scene spec (:class:`gpu_render.scene.spec.SceneSpec`) that
the build's options go through too, so a request and a build with the same options draw the same
scene, and a refusal names the request's field."""

from __future__ import annotations

from typing import TypeVar

from gpu_render.errors import UsageError
from gpu_render.scene.scene import Scene
from gpu_render.scene.spec import SceneSpec
from gpu_render.serve.models import SERVED_OBJECTS, RenderRequest

T = TypeVar("T")

#: Scenes kept made (one per object and look asked for); the oldest is forgotten past this.
MAX_SCENES = 64


class SceneCache:
    """Scenes by :meth:`RenderRequest.look_key`."""

    def __init__(self) -> None:
        self._scenes: dict[tuple[object, ...], Scene] = {}

    def scene(self, req: RenderRequest) -> Scene:
        """The scene ``req`` asks for. Raises UsageError (one line) for an unknown object or
        options the object does not take, named as the request names them."""
        key = req.look_key()
        found = self._scenes.get(key)
        if found is not None:
            return found
        if req.object.startswith("mesh:"):
            raise UsageError(
                "mesh files are not served: the service opens no file a request names "
                "(build them with python -m gpu_render.build --object mesh:PATH)"
            )
        if req.object not in SERVED_OBJECTS:
            raise UsageError(f"unknown object {req.object!r}: GET /objects lists what this service draws")
        spec = SceneSpec(
            object=req.object,
            size=req.size,
            fov=req.fov,
            distance=req.distance,
            light=_triple(req.light),
            color=_triple(req.color),
            background=_triple(req.background),
            antialias=req.antialias,
            grayscale=bool(req.grayscale),
        )  # SceneSpecError (a UsageError) names the field
        scene = spec.scene()  # no mesh files are served, so no reader
        if len(self._scenes) >= MAX_SCENES:
            self._scenes.pop(next(iter(self._scenes)))
        self._scenes[key] = scene
        return scene


def _triple(values: tuple[T, ...] | None) -> tuple[T, T, T] | None:
    """A request's three-entry field (the model checks the length) as a 3-tuple."""
    return None if values is None else (values[0], values[1], values[2])
