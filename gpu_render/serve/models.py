"""The request model of ``POST /render``: validated by pydantic, every field described in OpenAPI.

Rotations follow docs/LABELS.md: quaternions (w, x, y, z), Hamilton, scalar first, unit norm;
matrices column-vector R (``x_camera = R @ x_object``), orthonormal with det +1. Both are
checked with the tolerance that ``--poses file:`` uses, so a pose the build accepts is served.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gpu_render.rotations.quaternion import quaternion_to_matrix
from gpu_render.rotations.sources import UNIT_TOLERANCE
from gpu_render.scene.camera import DEFAULT_FOV_DEG
from gpu_render.scene.look import NOT_A_DIRECTION, is_direction
from gpu_render.scene.scene import CLPR_OBJECT
from gpu_render.scene.solids import BUILTIN_OBJECTS
from gpu_render.scene_options import MAX_DISTANCE, MAX_FOV, MIN_FOV

#: Strict scalars: a JSON number (not a string, not true/false) or a JSON boolean, never coerced.
Finite = Annotated[float, Field(allow_inf_nan=False, strict=True)]
Channel = Annotated[int, Field(ge=0, le=255, strict=True)]
Flag = Annotated[bool, Field(strict=True)]
Quaternion = Annotated[list[Finite], Field(min_length=4, max_length=4)]
MatrixRow = Annotated[list[Finite], Field(min_length=3, max_length=3)]
Matrix = Annotated[list[MatrixRow], Field(min_length=3, max_length=3)]
MIN_SIZE = 8


class RenderRequest(BaseModel):
    """One render request: an object, its rotations (quaternions or matrices), a size, a format
    and the look options of ``python -m gpu_render.build`` (objects only; None: the build's default)."""

    model_config = ConfigDict(extra="forbid")

    object: str = Field(
        CLPR_OBJECT, strict=True,
        description=f"What to draw: {CLPR_OBJECT} (the 2018 cLPR cube) or a SYMSOL solid "
        f"({', '.join(BUILTIN_OBJECTS)}). Mesh files are not served (the service opens no file a request names).",
    )
    quaternions: list[Quaternion] | None = Field(
        None, min_length=1,
        description="N rotations as unit quaternions (w, x, y, z), Hamilton, scalar first, rotating object frame "
        f"to camera frame (docs/LABELS.md); |q| must be 1 within {UNIT_TOLERANCE:g}. Give this or matrices.",
    )
    matrices: list[Matrix] | None = Field(
        None, min_length=1,
        description="N rotations as 3x3 column-vector matrices R (x_camera = R @ x_object), rows first; "
        f"orthonormal within {UNIT_TOLERANCE:g} with det +1. Give this or quaternions.",
    )
    size: int = Field(64, ge=MIN_SIZE, strict=True, description="Image side, px (the server's max_size limit caps it).")
    format: Literal["npy", "png", "jpg"] = Field(
        "npy",
        description="npy: the (N, S, S, 3) uint8 RGB array (rows top-down) as .npy bytes; png or jpg: one "
        "image (N = 1), encoded as the build encodes it (png level 3; jpg quality 100, 4:4:4).",
    )
    fov: Finite | None = Field(None, ge=MIN_FOV, le=MAX_FOV, description=f"Objects: field of view, degrees (default {DEFAULT_FOV_DEG:g}).")
    distance: Finite | None = Field(
        None, gt=1.0, le=MAX_DISTANCE,
        description="Objects: camera distance, object units (default: the unit sphere fills 90% of the width).",
    )
    light: tuple[Finite, Finite, Finite] | None = Field(
        None, description="Objects: direction towards the light, camera frame, x right, y down, z forward "
        "(default -1,-1,-2); any length but 0 (its squared length must be a finite, non-zero float64).",
    )
    color: tuple[Channel, Channel, Channel] | None = Field(None, description="Objects: albedo RGB 0..255 (default 200,200,200).")
    background: tuple[Channel, Channel, Channel] | None = Field(None, description="Objects: background RGB 0..255 (default 0,0,0).")
    antialias: Flag | None = Field(None, description="4x MSAA (default: on for objects, off for the aliased 2018 cube).")
    grayscale: Flag | None = Field(None, description="Objects: grey images (BT.601 luma in R, G and B).")

    @model_validator(mode="after")
    def _check_rotations(self) -> RenderRequest:
        if (self.quaternions is None) == (self.matrices is None):
            raise ValueError("give exactly one of quaternions or matrices")
        if self.light is not None and not is_direction(self.light):
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

    def look_key(self) -> tuple[object, ...]:
        """What decides the scene besides the object: requests with equal keys share draws."""
        return (self.object, self.fov, self.distance, self.light, self.color, self.background,
                self.antialias, self.grayscale)


class ErrorResponse(BaseModel):
    """The JSON of every refusal (4xx) and of a failed or impossible render (5xx)."""

    error: str = Field(description="One line naming the problem (and, past a limit, the limit and its server option).")
    limit: str | None = Field(None, description="Past a limit: its name (max_poses, max_size, max_body_bytes, "
                              "max_response_bytes, max_render_seconds), as GET /objects lists them.")
    allowed: float | None = Field(None, description="Past a limit: what the limit allows.")
    got: float | None = Field(None, description="Past a limit: what the request asked for (or waited, s).")
    detail: list[dict[str, Any]] | None = Field(
        None, description="Invalid fields (422): each with loc (the path to the field) and msg.")
