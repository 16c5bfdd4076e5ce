"""A client of ``python -m gpu_render.serve`` over HTTP (httpx, the ``[serve]`` extra).

    from gpu_render.client import RenderClient
    images = RenderClient("http://127.0.0.1:8000").render(quaternions, size=64, object="cylO")

Imports no GL: it runs wherever numpy and httpx do.
"""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np


class RenderError(RuntimeError):
    """The service refused a request: ``status`` is the HTTP status, the message its JSON
    ``error``, and ``limit`` the limit it names (None when the refusal is not about a limit)."""

    def __init__(self, status: int, message: str, limit: str | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.limit = status, limit


class RenderClient:
    """url: the service's base URL. token: its bearer token, if it asks for one. timeout: seconds
    per request. One connection pool, reused by every call; safe to share between threads."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=url, headers=headers, timeout=timeout)

    def render(self, quaternions: Any = None, *, size: int = 64, object: str = "clpr-cube",
               matrices: Any = None, **look: Any) -> np.ndarray:
        """Render N rotations: quaternions (N, 4) (w, x, y, z) or matrices (N, 3, 3) column-vector R.

        look: the request's look options (fov, distance, light, color, background, antialias,
        grayscale). Returns (N, size, size, 3) uint8 RGB, rows top-down. Raises RenderError.
        """
        body: dict[str, Any] = {"object": object, "size": size, "format": "npy", **look}
        if quaternions is not None:
            body["quaternions"] = np.asarray(quaternions, dtype=np.float64).reshape(-1, 4).tolist()
        if matrices is not None:
            body["matrices"] = np.asarray(matrices, dtype=np.float64).reshape(-1, 3, 3).tolist()
        r = self._http.post("/render", json=body)
        _raise_for(r)
        return np.load(io.BytesIO(r.content), allow_pickle=False)

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


def _raise_for(r: httpx.Response) -> None:
    if r.status_code == 200:
        return
    try:
        data = r.json()
        message, limit = str(data.get("error", r.text)), data.get("limit")
    except ValueError:
        message, limit = r.text[:200], None
    raise RenderError(r.status_code, message, limit)
