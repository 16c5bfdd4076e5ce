"""A mesh file's colours and textures, read from trimesh's visuals into a
:class:`~gpu_render.scene.objects.Surface` (docs/LOOKS.md, Textures).

What is read, per geometry of the file (one per material for OBJ):

- OBJ + MTL: ``Kd`` (taken as sRGB, as ``--color`` is) and ``map_Kd`` (the texture, sRGB).
- glTF / GLB: ``baseColorFactor`` (linear, encoded to sRGB here) and ``baseColorTexture`` (sRGB).
- PLY (and any format trimesh reads colours from): per-vertex or per-face colours, sRGB.

Parts without any of these get colour 1 and no texture; a file with none at all has no surface
(the look's albedo draws it, as before textures were read). An OBJ's texture files are checked
before trimesh reads it, since trimesh only warns about a missing one.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image

from gpu_render.errors import UsageError
from gpu_render.scene.objects import Surface

_MTLLIB = re.compile(rb"^[ \t]*mtllib[ \t]+(.+?)[ \t]*$", re.MULTILINE)
_MAP_KD = re.compile(r"^\s*map_Kd\s+(.+?)\s*$", re.MULTILINE)


class MeshFileError(UsageError, ValueError):
    """A mesh file that cannot be used; the message is one line and names the file."""


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """The sRGB transfer function: linear [0, 1] floats to encoded [0, 1] floats, any shape."""
    c = np.clip(np.asarray(c, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def texture_file(reference: str, folder: Path) -> Path:
    """The file a ``map_Kd`` line's arguments name (options such as ``-s 1 1 1`` before it),
    relative to the MTL's ``folder``; backslashes read as folder separators."""
    text = reference.strip()
    if text.startswith("-"):
        text = text.split()[-1]
    return folder / text.replace("\\", "/")


def check_obj_textures(path: Path) -> None:
    """Raise MeshFileError (one line, naming the file) when an OBJ's material library, or a
    texture a ``map_Kd`` of it names, is missing or not a readable image."""
    for match in _MTLLIB.finditer(path.read_bytes()):
        mtl = path.parent / match.group(1).decode("utf-8", "replace").replace("\\", "/")
        try:
            text = mtl.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise MeshFileError(
                f"{mtl}: material library of {path} cannot be read ({exc.strerror}); --no-textures draws it plain"
            ) from None
        for ref in _MAP_KD.findall(text):
            texture = texture_file(ref, mtl.parent)
            try:
                with Image.open(texture) as image:
                    image.verify()
            except (OSError, ValueError, SyntaxError) as exc:
                why = "no such file" if not texture.is_file() else f"not a readable image: {type(exc).__name__}"
                raise MeshFileError(
                    f"{texture}: texture of {mtl.name} ({why}); --no-textures draws the mesh without it"
                ) from None


def _image(picture: object) -> np.ndarray | None:
    """A PIL image as (H, W, 3) uint8 RGB, or None when there is none."""
    if picture is None:
        return None
    if not isinstance(picture, Image.Image):
        raise MeshFileError(f"a texture is not an image ({type(picture).__name__})")
    return np.ascontiguousarray(np.asarray(picture.convert("RGB"), dtype=np.uint8))


class SurfaceParts:
    """Collects each geometry's colours, in the order its faces are concatenated."""

    def __init__(self) -> None:
        self.colour: list[np.ndarray] = []
        self.uv: list[np.ndarray] = []
        self.texture: list[np.ndarray] = []
        self.images: list[np.ndarray] = []
        self.names: list[str] = []
        self._by_id: dict[int, int] = {}
        self.coloured = False

    def add(self, geometry: trimesh.Trimesh, mirrored: bool) -> None:
        """One geometry's faces (F): colour (F, 3, 3), uv (F, 3, 2), texture index (F,)."""
        faces = np.asarray(geometry.faces, dtype=np.int64)
        f = len(faces)
        colour = np.ones((f, 3, 3))
        uv = np.zeros((f, 3, 2))
        index = np.full(f, -1, dtype=np.int32)
        visual = geometry.visual
        if isinstance(visual, trimesh.visual.ColorVisuals) and visual.kind is not None:
            self.coloured = True
            if visual.kind == "vertex":
                colour = np.asarray(visual.vertex_colors, dtype=np.float64)[faces][..., :3] / 255.0
            else:
                colour = np.repeat(np.asarray(visual.face_colors, dtype=np.float64)[:, None, :3] / 255.0, 3, axis=1)
        elif isinstance(visual, trimesh.visual.TextureVisuals) and visual.material is not None:
            self.coloured = True
            material = visual.material
            if isinstance(material, trimesh.visual.material.PBRMaterial):
                factor = material.baseColorFactor
                if factor is not None:
                    colour[:] = linear_to_srgb(np.asarray(factor, dtype=np.float64)[:3] / 255.0)
                picture = material.baseColorTexture
            else:
                diffuse = getattr(material, "diffuse", None)
                if diffuse is not None:
                    colour[:] = np.asarray(diffuse, dtype=np.float64)[:3] / 255.0
                picture = getattr(material, "image", None)
            if picture is not None and visual.uv is not None and len(visual.uv) == len(geometry.vertices):
                index[:] = self._texture(picture, getattr(material, "name", None))
                uv = np.asarray(visual.uv, dtype=np.float64)[faces]
        if mirrored:  # the faces' corners were reversed: so are their attributes
            colour, uv = colour[:, ::-1], uv[:, ::-1]
        self.colour.append(colour)
        self.uv.append(uv)
        self.texture.append(index)

    def _texture(self, picture: object, name: str | None) -> int:
        key = id(picture)
        if key not in self._by_id:
            image = _image(picture)
            assert image is not None
            self._by_id[key] = len(self.images)
            self.images.append(image)
            self.names.append(str(name or f"texture{len(self.images) - 1}"))
        return self._by_id[key]

    def surface(self) -> Surface | None:
        """The collected surface, or None when no geometry had colours or textures."""
        if not self.coloured or not self.colour:
            return None
        return Surface(
            colour=np.concatenate(self.colour).astype(np.float32),
            uv=np.concatenate(self.uv).astype(np.float32),
            texture=np.concatenate(self.texture).astype(np.int32),
            images=tuple(self.images),
            names=tuple(self.names),
        )
