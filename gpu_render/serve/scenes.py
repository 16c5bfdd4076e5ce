"""A request's scene, made by the one scene spec (:class:`gpu_render.scene.spec.SceneSpec`) that
the build's options go through too, so a request and a build with the same options draw the same
scene, and a refusal names the request's field."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from gpu_render.errors import UsageError
from gpu_render.scene.backdrop import Photos
from gpu_render.scene.scene import CLPR_OBJECT, Scene
from gpu_render.scene.spec import SceneSpec
from gpu_render.serve.models import SERVED_OBJECTS, RenderRequest

T = TypeVar("T")

#: Scenes kept made (one per object and look asked for); the oldest is forgotten past this.
MAX_SCENES = 64


class SceneCache:
    """Scenes by :meth:`RenderRequest.look_key`. photos: the photographs of the server's
    ``--backgrounds`` folder (None: it has none, and requests for backgrounds are refused)."""

    def __init__(self, photos: Photos | None = None) -> None:
        self._scenes: dict[tuple[object, ...], Scene] = {}
        self.photos = photos

    def _find_photos(self, folder: Path, ratio: float) -> Photos:
        """The server's photographs (found once, at start) for a share ``ratio`` of the images."""
        assert self.photos is not None, "backgrounds are asked for only when the server has them"
        return replace(self.photos, ratio=ratio)

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
            **req.spec_look(None if self.photos is None else self.photos.root, cube=req.object == CLPR_OBJECT),
        )  # SceneSpecError (a UsageError) names the field
        scene = spec.scene(None, self._find_photos)  # no mesh files are served, so no reader
        if len(self._scenes) >= MAX_SCENES:
            self._scenes.pop(next(iter(self._scenes)))
        self._scenes[key] = scene
        return scene


def _triple(values: tuple[T, ...] | None) -> tuple[T, T, T] | None:
    """A request's three-entry field (the model checks the length) as a 3-tuple."""
    return None if values is None else (values[0], values[1], values[2])
