"""The request fields of the richer looks (docs/LOOKS.md): random point lights and an ambient
term, the Blinn-Phong term, photographs behind the object, and the seed and image indices that
every per-image choice is drawn from, so that an answer is the build's image for the same options
and index.

Photographs come from the server's own ``--backgrounds DIR``: a request only asks for them
(``backgrounds: true``) and never names a path. Every number is bounded here; what JSON Schema
cannot say (a range's LO above its HI, a negative standard deviation) is refused with a 422
naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from gpu_render.errors import UsageError
from gpu_render.scene.lights import MAX_LIGHTS
from gpu_render.scene.look_spec import DIRECTIONAL, MAX_SEED

#: Every light number's bound, in either sign (as the build's checks bound them).
MAX_LIGHT_VALUE = 1e6
#: The largest first_index: the indices first_index .. first_index + N - 1 stay below 2**63.
MAX_FIRST_INDEX = 2**62


def _integral(value: Any) -> Any:
    """A JSON number with no fraction (2.0) as the integer it is; anything else as it came."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def _bounded(low: float, high: float, above: bool = False) -> Any:
    """A strict finite JSON number in [low, high] (in (low, high] when ``above``)."""
    if above:
        return Field(allow_inf_nan=False, strict=True, gt=low, le=high)
    return Field(allow_inf_nan=False, strict=True, ge=low, le=high)


#: Each pair is [LO, HI] (a tuple: hashable, part of a scene's key).
_TWO = Field(min_length=2, max_length=2)
Positive = Annotated[float, _bounded(0.0, MAX_LIGHT_VALUE, above=True)]
NonNegative = Annotated[float, _bounded(0.0, MAX_LIGHT_VALUE)]
Signed = Annotated[float, _bounded(-MAX_LIGHT_VALUE, MAX_LIGHT_VALUE)]
Azimuth = Annotated[float, _bounded(-360.0, 720.0)]
Elevation = Annotated[float, _bounded(-90.0, 90.0)]
Share = Annotated[float, _bounded(0.0, 1.0)]
CountEntry = Annotated[int, Field(ge=0, le=MAX_LIGHTS, strict=True), BeforeValidator(_integral)]
Whole = Annotated[int, Field(ge=0, le=MAX_SEED, strict=True), BeforeValidator(_integral)]
FirstIndex = Annotated[int, Field(ge=0, le=MAX_FIRST_INDEX, strict=True), BeforeValidator(_integral)]
CountPair = Annotated[tuple[CountEntry, ...], _TWO]
PositivePair = Annotated[tuple[Positive, ...], _TWO]
NonNegativePair = Annotated[tuple[NonNegative, ...], _TWO]
SignedPair = Annotated[tuple[Signed, ...], _TWO]
AzimuthPair = Annotated[tuple[Azimuth, ...], _TWO]
ElevationPair = Annotated[tuple[Elevation, ...], _TWO]

#: The fields that set point lights (each alone turns them on, over Render for CNN's values).
POINT_FIELDS = (
    "light_count",
    "light_distance",
    "light_azimuth",
    "light_elevation",
    "light_energy",
    "light_energy_normal",
    "ambient",
    "light_falloff",
)
#: The look fields the cube refuses (orthographic, flat colours), besides the build's own.
LOOK_OBJECT_ONLY = ("lights", *POINT_FIELDS, "specular", "specular_exponent", "backgrounds", "background_ratio")
_NULL: dict[str, Any] = {"type": "null"}


def look_rules() -> list[dict[str, Any]]:
    """The rules between the look fields, as JSON Schema (for the request's ``allOf``)."""
    points_null = {name: _NULL for name in POINT_FIELDS}
    return [
        {  # the directional light's direction and point lights exclude each other; directional takes no point setting
            "anyOf": [
                {"properties": {"light": _NULL, "lights": {"not": {"const": DIRECTIONAL}}}},
                {"properties": {"lights": {"enum": [None, DIRECTIONAL]}, **points_null}},
                {"properties": {"light": _NULL, **points_null}},
            ]
        },
        {"anyOf": [{"properties": {"light_energy": _NULL}}, {"properties": {"light_energy_normal": _NULL}}]},
        {  # background_ratio needs the photographs; a background colour excludes them
            "anyOf": [
                {"required": ["backgrounds"], "properties": {"backgrounds": {"const": True}, "background": _NULL}},
                {"properties": {"background_ratio": _NULL, "backgrounds": {"enum": [None, False]}}},
            ]
        },
    ]


class LookFields(BaseModel):
    """The richer look's fields of a render request (objects only; absent: the build's default)."""

    model_config = ConfigDict(extra="forbid")

    lights: Literal["directional", "render4cnn"] | None = Field(
        None,
        description="Objects: directional (the single light, default) or render4cnn: random point lights and an "
        "ambient term per image, Render for CNN's values (0-6 lights, distance 8-20, azimuth 0-360, elevation "
        "-90..90, energy normal 2,2, ambient 0-1, fall-off 25). Any light_* field or ambient alone turns them on "
        "with these values for the others (docs/LOOKS.md).",
    )
    light_count: CountPair | None = Field(
        None, description=f"Objects: [LO, HI] lights per image, 0..{MAX_LIGHTS}, drawn uniformly; LO <= HI."
    )
    light_distance: PositivePair | None = Field(
        None, description="Objects: [LO, HI] from the object's centre, object units (radius 1); LO <= HI."
    )
    light_azimuth: AzimuthPair | None = Field(
        None, description="Objects: [LO, HI] degrees, in the camera's frame (docs/LOOKS.md); LO <= HI."
    )
    light_elevation: ElevationPair | None = Field(None, description="Objects: [LO, HI] degrees; LO <= HI.")
    light_energy: SignedPair | None = Field(
        None, description="Objects: [LO, HI] each light's energy, uniform; LO <= HI. Not with light_energy_normal."
    )
    light_energy_normal: SignedPair | None = Field(
        None, description="Objects: [MEAN, STD] each light's energy, normal (default 2, 2); STD >= 0."
    )
    ambient: NonNegativePair | None = Field(
        None, description="Objects: [LO, HI] the ambient (environment) term; LO <= HI."
    )
    light_falloff: NonNegative | None = Field(
        None, description="Objects: D of the fall-off D / (D + r^2) (default 25; 0: none)."
    )
    specular: NonNegative | None = Field(
        None, description="Objects: strength of a white Blinn-Phong term (default 0: none)."
    )
    specular_exponent: Positive | None = Field(None, description="Objects: the Blinn-Phong exponent (default 32).")
    backgrounds: Annotated[bool, Field(strict=True)] | None = Field(
        None,
        description="Objects: photographs behind the object, from the folder the server was started with "
        "(--backgrounds DIR; GET /objects says whether it has one): a random crop of a random file per image.",
    )
    background_ratio: Share | None = Field(
        None,
        description="Objects, with backgrounds: the share of images given a photograph (default 0.8); the "
        "rest get a uniform random grey.",
    )
    look_seed: Whole | None = Field(
        None, description=f"The seed of every per-image choice, 0..{MAX_SEED} (default 0), as the build's --look-seed."
    )
    first_index: FirstIndex | None = Field(
        None,
        description="The index of the request's first image in the build: image k draws its lights and background "
        "as the build's image first_index + k does (default 0).",
    )

    @model_validator(mode="after")
    def _one_energy(self) -> LookFields:
        if self.light_energy is not None and self.light_energy_normal is not None:
            raise ValueError("light_energy (uniform) and light_energy_normal exclude each other: give one")
        return self

    def look_key(self) -> tuple[Any, ...]:
        """The look fields that decide the scene (first_index does not: indices travel with the poses)."""
        return tuple(getattr(self, name) for name in (*LOOK_OBJECT_ONLY, "look_seed"))

    def spec_look(self, backgrounds_root: str | None, cube: bool) -> dict[str, Any]:
        """SceneSpec keywords of the fields given (``backgrounds_root``: the server's folder).
        Raises UsageError (one line, naming the field) for what the scene cannot take."""
        options: dict[str, Any] = {}
        if cube:
            for name in LOOK_OBJECT_ONLY:
                if getattr(self, name) not in (None, False):
                    raise UsageError(
                        f"{name}: the cube is drawn orthographic in flat colours; it applies to the solids"
                    )
        given = {name: getattr(self, name) for name in POINT_FIELDS if getattr(self, name) is not None}
        if given and self.lights == DIRECTIONAL:
            raise UsageError(f"{next(iter(given))} sets point lights; it makes no sense with lights directional")
        if given:
            rig: dict[str, Any] = {name.removeprefix("light_"): value for name, value in given.items()}
            normal = rig.pop("energy_normal", None)
            if normal is not None:
                if normal[1] < 0:
                    raise UsageError("light_energy_normal: the standard deviation must be >= 0")
                rig["energy"], rig["energy_normal"] = normal, True
            elif "energy" in rig:
                rig["energy_normal"] = False
            options["lights"] = rig
        elif self.lights is not None:
            options["lights"] = self.lights
        if self.specular is not None:
            options["specular"] = self.specular
        if self.specular_exponent is not None:
            options["specular_exponent"] = self.specular_exponent
        if self.backgrounds:
            if backgrounds_root is None:
                raise UsageError("backgrounds: this server has no photographs (it is started with --backgrounds DIR)")
            options["backgrounds"] = backgrounds_root
        if self.background_ratio is not None:
            options["background_ratio"] = self.background_ratio
        if self.look_seed is not None:
            options["look_seed"] = self.look_seed
        return options
