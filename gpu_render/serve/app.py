"""The ASGI app: ``POST /render``, ``GET /objects``, ``GET /healthz``, ``GET /metrics``.

Handlers validate, queue the rotations for the batching thread (:mod:`gpu_render.serve.worker`),
which has the render process draw them, and await the images; large answers are encoded in a
worker thread. Bad input gets a 4xx JSON ``{"error": ...}``; a refusal for a limit also names the
limit. When the render process has died, /healthz and every render answer 503 with a JSON error.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from gpu_render.dataset.encode import ENCODERS
from gpu_render.errors import UsageError
from gpu_render.serve.config import LimitExceeded, ServeOptions
from gpu_render.serve.guard import Guard, limit_body
from gpu_render.serve.metrics import Metrics
from gpu_render.serve.models import ErrorResponse, RenderRequest
from gpu_render.serve.scenes import SERVED_OBJECTS, SceneCache
from gpu_render.serve.worker import RenderUnavailable, RenderWorker

MEDIA_TYPES = {"npy": "application/x-npy", "png": "image/png", "jpg": "image/jpeg"}
#: npy answers up to this many bytes are written on the event loop (a copy of tens of µs).
INLINE_ENCODE_BYTES = 1 << 18
#: 408: the render did not finish within max_render_seconds (the request is dropped, not drawn late).
RENDER_TIME_STATUS = 408
#: 503: the render process has died; the service answers but cannot draw until restarted.
UNAVAILABLE_STATUS = 503


#: What POST /render answers, for the OpenAPI page: every refusal is an ErrorResponse.
RENDER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "npy: (N, S, S, 3) uint8 RGB as .npy bytes; png/jpg: one image",
          "content": {t: {} for t in MEDIA_TYPES.values()}},
    **{status: {"description": what, "model": ErrorResponse} for status, what in (
        (400, "the body is empty or not JSON"),
        (401, "missing or wrong bearer token"),
        (408, "the render took longer than max_render_seconds"),
        (413, "past max_poses, max_body_bytes or max_response_bytes"),
        (415, "the body was not sent as JSON (a Content-Type other than application/json)"),
        (422, "invalid request: rotations, object, options, or past max_size"),
        (500, "the render failed in the render process (a fault of the server, not of the request)"),
        (503, "the render process has died: nothing can be drawn until a restart"),
    )},
}


def npy_bytes(images: np.ndarray) -> bytes:
    """(N, S, S, 3) uint8 -> the bytes of a .npy file holding it (what ``np.load`` reads back)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(images), allow_pickle=False)
    return buf.getvalue()


def encode(images: np.ndarray, fmt: str) -> bytes:
    """The response body: .npy bytes of (N, S, S, 3) uint8, or one png/jpg as the build encodes it."""
    return npy_bytes(images) if fmt == "npy" else ENCODERS[fmt](np.ascontiguousarray(images[0]))


def check_limits(req: RenderRequest, options: ServeOptions) -> None:
    """Raise LimitExceeded (4xx) for a request past max_poses, max_size or max_response_bytes,
    and UsageError for png/jpg of more than one pose."""
    n, s = req.count, req.size
    if n > options.max_poses:
        raise LimitExceeded(413, "max_poses", options.max_poses, n, "poses in the request")
    if s > options.max_size:
        raise LimitExceeded(422, "max_size", options.max_size, s, "image size px")
    if n * s * s * 3 > options.max_response_bytes:
        raise LimitExceeded(413, "max_response_bytes", options.max_response_bytes, n * s * s * 3, "bytes of images (N*S*S*3)")
    if req.format != "npy" and n != 1:
        raise UsageError(f"format {req.format} holds one image; got {n} poses (use format npy for N > 1)")


#: FastAPI's message for a body it could not decode at all (not UTF-8, nested too deeply).
UNPARSED_BODY = "There was an error parsing the body"


def is_json_type(content_type: str) -> bool:
    """Whether a Content-Type header value names JSON (application/json or application/*+json),
    as FastAPI decides whether to parse a body; an absent header counts as JSON."""
    media = content_type.split(";", 1)[0].strip().lower()
    return not media or media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _validation_message(exc: RequestValidationError, content_type: str) -> tuple[int, str]:
    """(status, one-line message) for a request FastAPI or the model refused."""
    errors = exc.errors()
    first = errors[0] if errors else {"msg": "invalid request", "loc": ()}
    if first.get("type") == "json_invalid":
        return 400, f"the body is not valid JSON: {first.get('ctx', {}).get('error', first['msg'])}"
    if tuple(first.get("loc", ())) == ("body",):
        if not is_json_type(content_type):  # FastAPI hands the model the raw bytes: say why
            return 415, f"the body must be JSON, sent with Content-Type: application/json (got {content_type!r})"
        if first.get("type") == "missing":
            return 400, "the body is empty: send a JSON object (docs/SERVE.md)"
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    msg = str(first["msg"]).removeprefix("Value error, ")
    return 422, f"{where}: {msg}" if where else msg


def create_app(options: ServeOptions, worker: RenderWorker | None = None, metrics: Metrics | None = None) -> Guard:
    """The service as an ASGI app (the FastAPI app behind :class:`~gpu_render.serve.guard.Guard`).

    worker: a RenderWorker to use (the CLI starts it first, to report GL errors in one line);
    made and started by the app's lifespan when None. Either way the lifespan stops it, after
    the server has answered the requests in flight.
    """
    metrics = metrics or (worker.metrics if worker is not None else Metrics())
    render_worker = worker or RenderWorker(options, metrics)
    scenes = SceneCache()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(render_worker.start)
        try:
            yield
        finally:
            await asyncio.to_thread(render_worker.stop)

    app = FastAPI(
        title="gpu_render service",
        description="Renders rotations of the cLPR cube or a SYMSOL solid with the build's own renderer; "
        "concurrent requests for the same scene and size are drawn together in one atlas pass.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.worker, app.state.metrics, app.state.options = render_worker, metrics, options

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message = _validation_message(exc, request.headers.get("content-type", ""))
        detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()]
        return JSONResponse({"error": message, "detail": detail}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own refusals (a body that is not UTF-8, an unknown path or method), as JSON errors.
        message = str(exc.detail)
        if exc.status_code == 400 and message == UNPARSED_BODY:
            message = "the body is not valid JSON (not UTF-8 text, or nested too deeply)"
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(LimitExceeded)
    async def over_limit(request: Request, exc: LimitExceeded) -> JSONResponse:
        return JSONResponse(limit_body(exc), status_code=exc.status)

    @app.exception_handler(RenderUnavailable)
    async def unavailable(request: Request, exc: RenderUnavailable) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=UNAVAILABLE_STATUS)

    @app.exception_handler(UsageError)
    async def usage(request: Request, exc: UsageError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=422)

    @app.post(
        "/render",
        response_class=Response,
        responses=RENDER_RESPONSES,
    )
    async def render(req: RenderRequest) -> Response:
        """Render the request's rotations; requests for the same scene and size arriving within the
        batching window are drawn together."""
        t0 = time.perf_counter()
        metrics.in_flight.inc()
        try:
            check_limits(req, options)
            scene = scenes.scene(req)
            future = render_worker.submit((req.look_key(), req.size), scene, req.size, req.row_matrices())
            timed_out: list[bool] = []

            def give_up() -> None:
                timed_out.append(True)
                future.cancel()  # the batching thread skips a request nobody waits for

            expire = asyncio.get_running_loop().call_later(options.max_render_seconds, give_up)
            try:
                images = await future
            except asyncio.CancelledError:
                if not timed_out:
                    raise  # the request itself was cancelled (client gone, server stopping)
                raise LimitExceeded(RENDER_TIME_STATUS, "max_render_seconds", options.max_render_seconds,
                                    round(time.perf_counter() - t0, 3), "seconds waited for the render") from None
            except RenderUnavailable:
                raise  # 503, by its handler
            except Exception as exc:  # noqa: BLE001 - a fault of the server's GL, not of the request
                return JSONResponse({"error": f"the render failed: {' '.join(str(exc).split())[:300]}"}, status_code=500)
            finally:
                expire.cancel()
            # Small answers are encoded here; large ones in a thread, so the loop keeps serving.
            if images.nbytes <= INLINE_ENCODE_BYTES and req.format == "npy":
                body = encode(images, req.format)
            else:
                body = await asyncio.to_thread(encode, images, req.format)
            return Response(body, media_type=MEDIA_TYPES[req.format])
        finally:
            metrics.in_flight.dec()
            metrics.latency.observe(time.perf_counter() - t0)

    @app.get("/objects")
    async def objects() -> dict[str, Any]:
        """What this service draws, the formats it answers in, and its limits."""
        return {
            "objects": list(SERVED_OBJECTS),
            "formats": list(MEDIA_TYPES),
            "limits": {"max_poses": options.max_poses, "max_size": options.max_size,
                       "max_body_bytes": options.max_body_bytes, "max_response_bytes": options.max_response_bytes,
                       "max_render_seconds": options.max_render_seconds},
            "batching": {"enabled": options.batching, "window_ms": options.window_s * 1000},
        }

    @app.head("/healthz", include_in_schema=False)
    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        """200 ``ok`` while the render process runs, with the GL renderer's name and the render
        process's id; 503 when it has died, or when it is alive but one draw has run past
        max_render_seconds (hung: the requests waiting for it get 408 meanwhile). HEAD answers
        the same status, without the body (as load balancers probe)."""
        alive, busy = render_worker.alive, render_worker.draw_seconds
        status = "ok" if alive else "render process stopped"
        if alive and busy > options.max_render_seconds:
            status = (f"render process not answering: one draw has run {busy:.1f} s, past max_render_seconds "
                      f"{options.max_render_seconds:g}")
        return JSONResponse({"status": status, "renderer": render_worker.renderer_name,
                             "render_pid": render_worker.render_pid},
                            status_code=200 if status == "ok" else UNAVAILABLE_STATUS)

    @app.get("/metrics")
    async def prometheus() -> Response:
        """Prometheus text format: requests, poses, draws, batch sizes, latency histogram."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return Guard(app, options.token, options.max_body_bytes, metrics)
