"""A client of ``python -m gpu_render.serve`` over HTTP (httpx, the ``[serve]`` extra).

    from gpu_render.client import RenderClient
    images = RenderClient("http://127.0.0.1:8000").render(quaternions, size=64, object="cylO")

Imports no GL: it runs wherever numpy and httpx do.
"""

from __future__ import annotations

import io
import math
import time
from typing import Any

import numpy as np

from gpu_render.extras import needs

with needs("serve"):
    import httpx

#: Longest wait before a retry, s, whatever Retry-After says.
MAX_RETRY_WAIT_S = 10.0
#: The look options :meth:`RenderClient.render` passes on (the fields of the service's request).
LOOK_OPTIONS = (
    "fov",
    "distance",
    "light",
    "color",
    "background",
    "antialias",
    "grayscale",
    "lights",
    "light_count",
    "light_distance",
    "light_azimuth",
    "light_elevation",
    "light_energy",
    "light_energy_normal",
    "ambient",
    "light_falloff",
    "specular",
    "specular_exponent",
    "backgrounds",
    "background_ratio",
    "look_seed",
    "first_index",
)


class RenderError(RuntimeError):
    """The service refused a request: ``status`` is the HTTP status, the message its JSON
    ``error``, and ``limit`` the limit it names (None when the refusal is not about a limit)."""

    def __init__(self, status: int, message: str, limit: str | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.limit = status, limit


class RenderClient:
    """url: the service's base URL. token: its bearer token, if it asks for one. timeout: seconds
    per request. retries: how often a 503 with Retry-After (the server holds its limit of answer
    bytes, or its render process restarts) is sent again, after the seconds it says (at most
    MAX_RETRY_WAIT_S). One connection pool, reused by every call; safe to share between threads."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0, retries: int = 0) -> None:
        if token and not all("!" <= ch <= "~" for ch in token):
            raise ValueError("token must be printable ASCII without spaces (what the service's --token accepts)")
        if retries < 0:
            raise ValueError(f"retries must be 0 or more, got {retries}")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=url, headers=headers, timeout=timeout)
        self.retries = retries

    def render(
        self, quaternions: Any = None, *, size: int = 64, object: str = "clpr-cube", matrices: Any = None, **look: Any
    ) -> np.ndarray:
        """Render N rotations: quaternions (N, 4) (w, x, y, z) or matrices (N, 3, 3) column-vector R.

        look: the request's look options (fov, distance, light, color, background, antialias,
        grayscale, and the richer looks: lights, light_*, ambient, specular, specular_exponent,
        backgrounds, background_ratio, look_seed, first_index; docs/SERVE.md); numpy scalars and
        arrays are sent as JSON numbers and lists. Returns (N, size, size, 3) uint8 RGB, rows
        top-down. Raises RenderError for a refusal or an answer that is not the images, TypeError
        for an unknown look option.
        """
        return _images(self._post(self._body(quaternions, size, object, matrices, "npy", look)))

    def render_labeled(
        self, quaternions: Any = None, *, size: int = 64, object: str = "clpr-cube", matrices: Any = None, **look: Any
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """As :meth:`render`, with each image's labels: (images, labels), labels the arrays of
        the answer's npz besides ``images``: ``index`` (N,) int64 and the choices of a look drawn
        per image (``light_positions``, ``light_energies``, ``light_count``, ``ambient``,
        ``background_file``, ``background_grey``, ``background_crop_{S}``; docs/LOOKS.md)."""
        r = self._post(self._body(quaternions, size, object, matrices, "npz", look))
        try:
            with np.load(io.BytesIO(r.content), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except (ValueError, EOFError, OSError) as exc:
            raise RenderError(r.status_code, f"the answer is not an .npz of images and labels: {exc}") from None
        images = arrays.pop("images", None)
        if not (isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim == 4):
            raise RenderError(r.status_code, "the answer's npz holds no (N, S, S, 3) uint8 images")
        return images, arrays

    def _body(
        self, quaternions: Any, size: int, object: str, matrices: Any, fmt: str, look: dict[str, Any]
    ) -> dict[str, Any]:
        unknown = sorted(set(look) - set(LOOK_OPTIONS))
        if unknown:
            raise TypeError(f"render() got unknown look option {unknown[0]!r} (takes {', '.join(LOOK_OPTIONS)})")
        body: dict[str, Any] = {"object": str(object), "size": _jsonable(size), "format": fmt}
        body.update({k: _jsonable(v) for k, v in look.items()})
        if quaternions is not None:
            body["quaternions"] = np.asarray(quaternions, dtype=np.float64).reshape(-1, 4).tolist()
        if matrices is not None:
            body["matrices"] = np.asarray(matrices, dtype=np.float64).reshape(-1, 3, 3).tolist()
        return body

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        """POST /render, sent again after a 503's Retry-After (up to ``retries`` times); the 200 answer."""
        r = self._http.post("/render", json=body)
        for _ in range(self.retries):
            wait = _retry_after(r)
            if wait is None:
                break
            time.sleep(wait)
            r = self._http.post("/render", json=body)
        _raise_for(r)
        return r

    def objects(self) -> dict[str, Any]:
        """GET /objects: what the service draws, its formats and limits."""
        r = self._http.get("/objects")
        _raise_for(r)
        return dict(r.json())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RenderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays as Python numbers and lists (json cannot write them); else value."""
    return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value


def _retry_after(r: httpx.Response) -> float | None:
    """Seconds to wait before sending again, for a 503 that says (Retry-After in seconds); else None."""
    if r.status_code != 503:
        return None
    try:
        seconds = float(r.headers.get("retry-after", ""))
    except ValueError:
        return None
    return min(max(seconds, 0.0), MAX_RETRY_WAIT_S) if not math.isnan(seconds) else None


def _raise_for(r: httpx.Response) -> None:
    """RenderError for any answer but 200: the server's JSON ``error`` (and ``limit``) when it
    sent one, else the start of the body (a proxy's page, say)."""
    if r.status_code == 200:
        return
    try:
        data = r.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        limit = data.get("limit")
        raise RenderError(r.status_code, data["error"], limit if isinstance(limit, str) else None)
    raise RenderError(r.status_code, " ".join(r.text.split())[:200] or r.reason_phrase)


def _images(r: httpx.Response) -> np.ndarray:
    """The (N, S, S, 3) uint8 array of a 200 answer. Raises RenderError when the body is not one
    (a proxy or another service answering at the URL)."""
    try:
        images = np.load(io.BytesIO(r.content), allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        kind = r.headers.get("content-type", "no content type")
        raise RenderError(
            r.status_code, f"the answer is not .npy images ({kind}, {len(r.content)} bytes): {exc}"
        ) from None
    if not (isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim == 4 and images.shape[-1] == 3):
        raise RenderError(
            r.status_code, f"the answer is not (N, S, S, 3) uint8 images: {getattr(images, 'shape', '?')}"
        )
    return images
