"""The request and answer models of the service: validated by pydantic, every field described in OpenAPI.

Rotations follow docs/LABELS.md: quaternions (w, x, y, z), Hamilton, scalar first, unit norm;
matrices column-vector R (``x_camera = R @ x_object``), orthonormal with det +1. Both are
checked with the tolerance that ``--poses file:`` uses, so a pose the build accepts is served.
Every number is bounded by its field (a JSON number of any size is refused there, naming the
field) before any arithmetic is done with it.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from gpu_render.cli.arg_types import MAX_SIZE, MIN_SIZE
from gpu_render.rotations.quaternion import quaternion_to_matrix
from gpu_render.rotations.sources import UNIT_TOLERANCE
from gpu_render.scene.camera import DEFAULT_FOV_DEG
from gpu_render.scene.look import NOT_A_DIRECTION, is_direction
from gpu_render.scene.scene import CLPR_OBJECT
from gpu_render.scene.solids import BUILTIN_OBJECTS
from gpu_render.scene.spec import MAX_DISTANCE, MAX_FOV, MIN_FOV, OBJECT_ONLY
from gpu_render.serve.look_fields import LOOK_OBJECT_ONLY, LookFields, look_rules

#: What the service draws: the cube and the SYMSOL solids (no file a request names is opened).
SERVED_OBJECTS = (CLPR_OBJECT, *BUILTIN_OBJECTS)
#: A rotation's entries: a unit quaternion's and a rotation matrix's lie in [-1, 1] (within the tolerance).
UNIT_BOUND = 1.0 + UNIT_TOLERANCE
#: The light direction's entries, in either sign: any length is a direction; these keep its square finite.
MAX_LIGHT = 1e6


def _integral(value: Any) -> Any:
    """A JSON number with no fraction (16.0) as the integer it is (JSON Schema's ``integer``);
    anything else as it came (strings, booleans and fractions are then refused)."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


#: Strict scalars: a JSON number (not a string, not true/false) or a JSON boolean, never coerced
#: (but an integer may be written 16.0: the same JSON number).
Finite = Annotated[float, Field(allow_inf_nan=False, strict=True)]
Entry = Annotated[float, Field(allow_inf_nan=False, strict=True, ge=-UNIT_BOUND, le=UNIT_BOUND)]
LightEntry = Annotated[float, Field(allow_inf_nan=False, strict=True, ge=-MAX_LIGHT, le=MAX_LIGHT)]
Channel = Annotated[int, Field(ge=0, le=255, strict=True), BeforeValidator(_integral)]
Flag = Annotated[bool, Field(strict=True)]
T = TypeVar("T")
#: Three numbers (a direction, a colour): a tuple (hashable: part of a scene's key), written in
#: the schema as an array of 3 items of one schema (which JSON Schema tools read more widely
#: than a 2020-12 ``prefixItems`` tuple).
Triple = Annotated[tuple[T, ...], Field(min_length=3, max_length=3)]
#: Unit quaternions and rotation matrices a schema-driven client can start from (90-degree turns).
QUATERNION_EXAMPLES = [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
    [0.5, 0.5, 0.5, 0.5],
    [0.5, -0.5, 0.5, -0.5],
]
MATRIX_EXAMPLES = [
    [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
    [[0, -1, 0], [1, 0, 0], [0, 0, 1]],
    [[1, 0, 0], [0, 0, -1], [0, 1, 0]],
    [[0, 0, 1], [1, 0, 0], [0, 1, 0]],
]
Quaternion = Annotated[list[Entry], Field(min_length=4, max_length=4, examples=QUATERNION_EXAMPLES)]
MatrixRow = Annotated[list[Entry], Field(min_length=3, max_length=3)]
Matrix = Annotated[list[MatrixRow], Field(min_length=3, max_length=3, examples=MATRIX_EXAMPLES)]


def _rotations_schema(schema: dict[str, Any]) -> None:
    """The rotations' schema is their array's, without null or a default: exactly one of them is
    sent (see ``oneOf``), and null is refused (the model takes None only for a field left out)."""
    schema.pop("default", None)
    for alternative in schema.pop("anyOf", []):
        if alternative.get("type") != "null":
            schema.update(alternative)


#: The request's rules that span fields, as JSON Schema: exactly one of quaternions and
#: matrices; png and jpg hold one image; the cube takes no object-only look option. The unit
#: norm (and a matrix's orthonormality), which JSON Schema cannot state, is in the descriptions.
REQUEST_RULES: dict[str, Any] = {
    "oneOf": [{"required": ["quaternions"]}, {"required": ["matrices"]}],
    "allOf": [
        {
            "anyOf": [
                {"properties": {"format": {"enum": ["npy", "npz"]}}},
                {"properties": {"quaternions": {"maxItems": 1}, "matrices": {"maxItems": 1}}},
            ]
        },
        {
            "anyOf": [
                {"required": ["object"], "properties": {"object": {"not": {"const": CLPR_OBJECT}}}},
                {
                    "properties": {
                        **{name: {"type": "null"} for name in (*OBJECT_ONLY, *LOOK_OBJECT_ONLY) if name != "layers"},
                        "backgrounds": {"enum": [None, False]},
                    }
                },  # no layers served
            ]
        },
        *look_rules(),
    ],
    "examples": [
        {"object": CLPR_OBJECT, "quaternions": [[1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5]], "size": 32, "format": "npy"},
        {
            "object": "cylO",
            "quaternions": [[0.7071067811865476, 0.7071067811865476, 0, 0]],
            "size": 32,
            "format": "png",
        },
        {"object": "tetX", "matrices": [[[0, -1, 0], [1, 0, 0], [0, 0, 1]]], "size": 32, "background": [40, 40, 40]},
    ],
}


class RenderRequest(LookFields):
    """One render request: an object, its rotations (exactly one of quaternions or matrices), a size,
    a format and the look options of ``python -m gpu_render.build`` (objects only; absent: the build's default)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=REQUEST_RULES)

    object: str = Field(
        CLPR_OBJECT,
        strict=True,
        json_schema_extra={"enum": list(SERVED_OBJECTS)},
        description=f"What to draw: {CLPR_OBJECT} (the 2018 cLPR cube) or a SYMSOL solid "
        f"({', '.join(BUILTIN_OBJECTS)}). Mesh files are not served (the service opens no file a request names).",
    )
    quaternions: Annotated[list[Quaternion], Field(min_length=1)] | None = Field(
        None,
        json_schema_extra=_rotations_schema,
        description="N rotations as unit quaternions (w, x, y, z), Hamilton, scalar first, rotating object frame "
        f"to camera frame (docs/LABELS.md); |q| must be 1 within {UNIT_TOLERANCE:g}. Exactly one of quaternions "
        "and matrices; at most the server's max_poses; one for png and jpg.",
    )
    matrices: Annotated[list[Matrix], Field(min_length=1)] | None = Field(
        None,
        json_schema_extra=_rotations_schema,
        description="N rotations as 3x3 column-vector matrices R (x_camera = R @ x_object), rows first; "
        f"orthonormal within {UNIT_TOLERANCE:g} with det +1. Exactly one of quaternions and matrices; at most "
        "the server's max_poses; one for png and jpg.",
    )
    size: Annotated[int, BeforeValidator(_integral)] = Field(
        64, ge=MIN_SIZE, le=MAX_SIZE, strict=True, description="Image side, px (at most the server's max_size limit)."
    )
    format: Literal["npy", "png", "jpg", "npz"] = Field(
        "npy",
        description="npy: the (N, S, S, 3) uint8 RGB array (rows top-down) as .npy bytes; png or jpg: one "
        "image (N = 1), encoded as the build encodes it (png level 3; jpg quality 100, 4:4:4); npz: "
        "``images`` (the npy array), ``index`` (N,) int64 each image's index, and the choices poses.npz "
        "records of each image's look (light_positions, light_energies, light_count, ambient, "
        "background_file, background_grey, background_crop_{S}; docs/LOOKS.md).",
    )
    fov: Finite | None = Field(
        None, ge=MIN_FOV, le=MAX_FOV, description=f"Objects: field of view, degrees (default {DEFAULT_FOV_DEG:g})."
    )
    distance: Finite | None = Field(
        None,
        gt=1.0,
        le=MAX_DISTANCE,
        description="Objects: camera distance, object units (default: the unit sphere fills 90% of the width).",
    )
    light: Triple[LightEntry] | None = Field(
        None,
        description="Objects: direction towards the light, camera frame, x right, y down, z forward "
        f"(default -1,-1,-2); any length but 0 (entries within ±{MAX_LIGHT:g}; its squared length must be a "
        "non-zero float64).",
    )
    color: Triple[Channel] | None = Field(None, description="Objects: albedo RGB 0..255 (default 200,200,200).")
    background: Triple[Channel] | None = Field(None, description="Objects: background RGB 0..255 (default 0,0,0).")
    antialias: Flag | None = Field(
        None, description="4x MSAA (default: on for objects, off for the aliased 2018 cube)."
    )
    grayscale: Flag | None = Field(None, description="Objects: grey images (BT.601 luma in R, G and B).")

    @field_validator("quaternions", "matrices", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must be a list of rotations (leave the field out rather than send null)")
        return value

    @model_validator(mode="after")
    def _check_rotations(self) -> RenderRequest:
        if (self.quaternions is None) == (self.matrices is None):
            raise ValueError("give exactly one of quaternions or matrices")
        if self.light is not None and not is_direction((self.light[0], self.light[1], self.light[2])):
            raise ValueError(f"light {NOT_A_DIRECTION}")
        if self.quaternions is not None:
            q = np.asarray(self.quaternions, dtype=np.float64)
            norm = np.linalg.norm(q, axis=1)
            off = np.flatnonzero(np.abs(norm - 1) > UNIT_TOLERANCE)
            if len(off):
                raise ValueError(f"quaternion {off[0]} has norm {norm[off[0]]:.6g}, not 1")
        else:
            r = np.asarray(self.matrices, dtype=np.float64)
            err = np.abs(r @ r.transpose(0, 2, 1) - np.eye(3)).max(axis=(1, 2))
            off = np.flatnonzero((err > UNIT_TOLERANCE) | (np.linalg.det(r) < 0))
            if len(off):
                raise ValueError(f"matrix {off[0]} is not a rotation (orthonormal, det +1)")
        return self

    @property
    def count(self) -> int:
        """N, the number of poses asked for."""
        return len(self.quaternions if self.quaternions is not None else self.matrices or [])

    def row_matrices(self) -> np.ndarray:
        """The rotations as the project's row-vector M = R.T (q = p @ M): (N, 3, 3) float64, computed
        exactly as a ``--poses file:`` build computes them from the same numbers."""
        if self.quaternions is not None:
            r = quaternion_to_matrix(np.asarray(self.quaternions, dtype=np.float64))
        else:
            r = np.asarray(self.matrices, dtype=np.float64)
        return np.ascontiguousarray(r.transpose(0, 2, 1))

    def look_key(self) -> tuple[Hashable, ...]:
        """What decides the scene besides the object: requests with equal keys share draws."""
        return (
            self.object,
            self.fov,
            self.distance,
            self.light,
            self.color,
            self.background,
            self.antialias,
            self.grayscale,
            *super().look_key(),
        )

    def indices(self) -> np.ndarray:
        """(N,) int64: each image's index, first_index + k (first_index 0 when left out)."""
        return np.arange(self.count, dtype=np.int64) + (self.first_index or 0)


class ErrorResponse(BaseModel):
    """The JSON of every refusal (4xx), of a service that cannot draw now (503), and of a failed render (500)."""

    error: str = Field(description="One line naming the problem (and, past a limit, the limit and its server option).")
    limit: str | None = Field(
        None,
        description="Past a limit: its name (max_poses, max_size, max_body_bytes, "
        "max_response_bytes, max_render_seconds, max_inflight_bytes, body_timeout, "
        "header_timeout, max_head_bytes), as GET /objects lists them.",
    )
    allowed: float | None = Field(None, description="Past a limit: what the limit allows.")
    got: float | None = Field(None, description="Past a limit: what the request asked for (or waited, s).")
    detail: list[dict[str, Any]] | None = Field(
        None, description="Invalid fields (422): each with loc (the path to the field) and msg."
    )


class HealthResponse(BaseModel):
    """GET /healthz."""

    status: str = Field(
        description="ok; or why nothing can be drawn now (render process stopped, restarting, or not answering)."
    )
    renderer: str = Field(description="The GL renderer's name (GL_RENDERER) of the render process.")
    render_pid: int | None = Field(description="The render process's id (null when none runs).")
    restarts: int = Field(description="Times the render process was restarted after it died.")


class Limits(BaseModel):
    """The service's limits (server options), each refused with a JSON error naming it."""

    max_poses: int = Field(description="Poses per request (413 past it).")
    max_size: int = Field(description="Image side, px (422 past it).")
    max_body_bytes: int = Field(description="Request body bytes (413 past it).")
    max_response_bytes: int = Field(description="N*S*S*3 bytes of images per request (413 past it).")
    max_render_seconds: float = Field(description="Seconds a request waits for its render (408 past it).")
    max_inflight_bytes: int = Field(
        description="Bytes of answers the server holds at once (503 with Retry-After past it)."
    )
    header_timeout: float = Field(
        description="Seconds from a connection's first byte to the end of the request head (408)."
    )
    body_timeout: float = Field(description="Seconds from the end of the request head to the end of its body (408).")
    keep_alive_timeout: float = Field(description="Seconds an idle connection is kept open between requests.")
    send_timeout: float = Field(description="Seconds a client may take nothing of its answer before it is closed.")
    max_head_bytes: int = Field(description="Bytes of request line and headers (431 past it).")


class Batching(BaseModel):
    """How requests are merged into draws."""

    enabled: bool = Field(description="Whether concurrent requests of one scene and size are drawn together.")
    window_ms: float = Field(description="How long a request waits for others to draw with, ms.")


class ObjectsResponse(BaseModel):
    """GET /objects: what the service draws, its formats, limits and batching."""

    objects: list[str] = Field(description="The objects a request may name.")
    formats: list[str] = Field(description="The formats a request may ask for.")
    limits: Limits = Field(description="The server's limits.")
    batching: Batching = Field(description="The batching window.")
    backgrounds: bool = Field(
        description="Whether the server has photographs (--backgrounds) that a request may ask for."
    )
