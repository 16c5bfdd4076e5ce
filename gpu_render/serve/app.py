"""The ASGI app: ``POST /render``, ``GET /objects``, ``GET /healthz``, ``GET /metrics``, ``/docs``.

Handlers validate, reserve the answer's bytes (:mod:`gpu_render.serve.answers`), queue the
rotations for the batching thread (:mod:`gpu_render.serve.worker`), which has the render
process draw them, and await the images; answers go out in pieces as the client takes them.
Every refusal is a JSON ``{"error": ...}`` (4xx, or 503 when nothing can be drawn now); a
refusal for a limit also names the limit. While the render process restarts, requests wait
for it; once its restarts are spent, /healthz and every render answer 503.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from gpu_render import __version__
from gpu_render.dataset.backgrounds import photo_catalogue
from gpu_render.errors import UsageError
from gpu_render.serve.answers import MEDIA_TYPES, RETRY_AFTER_S, AnswerBudget, ChunkedAnswer, encode, npy_header
from gpu_render.serve.apidocs import install_docs
from gpu_render.serve.config import LimitExceeded, ServeOptions, answer_cost
from gpu_render.serve.guard import Guard, limit_body
from gpu_render.serve.labels import NPZ_OVERHEAD_BYTES, labels_bytes, npz_bytes, request_labels
from gpu_render.serve.metrics import Metrics
from gpu_render.serve.models import (
    SERVED_OBJECTS,
    Batching,
    ErrorResponse,
    HealthResponse,
    Limits,
    ObjectsResponse,
    RenderRequest,
)
from gpu_render.serve.scenes import SceneCache
from gpu_render.serve.worker import RenderUnavailable, RenderWorker

#: 408: the render did not finish within max_render_seconds (the request is dropped, not drawn late).
RENDER_TIME_STATUS = 408
#: 503: nothing can be drawn now (the render process is restarting, or its restarts are spent),
#: or the server holds max_inflight_bytes of answers. Sent with Retry-After.
UNAVAILABLE_STATUS = 503
log = logging.getLogger("gpu_render.serve")


def _errors(*statuses: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    return {status: {"description": what, "model": ErrorResponse} for status, what in statuses}


#: What POST /render answers, for the OpenAPI page: every refusal is an ErrorResponse.
RENDER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "npy: (N, S, S, 3) uint8 RGB as .npy bytes; png/jpg: one image",
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in MEDIA_TYPES.values()},
    },
    **_errors(
        (400, "the body is empty, not JSON, or not UTF-8"),
        (401, "missing or wrong bearer token"),
        (408, "the body took longer than body_timeout, or the render longer than max_render_seconds"),
        (413, "past max_poses, max_body_bytes or max_response_bytes"),
        (415, "the body was not sent as JSON (no Content-Type, or one other than application/json)"),
        (422, "invalid request: rotations, object, options, or past max_size"),
        (500, "the render failed in the render process (a fault of the server, not of the request)"),
        (
            503,
            "nothing can be drawn now: the render process died while drawing it, or cannot be restarted; "
            "or the server holds max_inflight_bytes of answers, or the machine lacks the memory for this draw "
            "(Retry-After says when to try again)",
        ),
    ),
}
HEALTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"description": "the render process is restarting, stopped, or not answering", "model": HealthResponse},
    **_errors((401, "missing or wrong bearer token")),
}
METRICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus text exposition format",
        "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
    },
    **_errors((401, "missing or wrong bearer token")),
}
#: FastAPI's message for a body it could not decode at all (not UTF-8, nested too deeply).
UNPARSED_BODY = "There was an error parsing the body"


def check_limits(req: RenderRequest, options: ServeOptions) -> None:
    """Raise LimitExceeded (4xx) for a request past max_poses, max_size or max_response_bytes,
    and UsageError for png/jpg of more than one pose. Every number here is already bounded by
    the model (size <= 4096, N by the body size)."""
    n, s = req.count, req.size
    if n > options.max_poses:
        raise LimitExceeded(413, "max_poses", options.max_poses, n, "poses in the request")
    if s > options.max_size:
        raise LimitExceeded(422, "max_size", options.max_size, s, "image size px")
    if n * s * s * 3 > options.max_response_bytes:
        raise LimitExceeded(
            413, "max_response_bytes", options.max_response_bytes, n * s * s * 3, "bytes of images (N*S*S*3)"
        )
    if req.format in ("png", "jpg") and n != 1:
        raise UsageError(f"format {req.format} holds one image; got {n} poses (use format npy or npz for N > 1)")


def _validation_message(exc: RequestValidationError) -> tuple[int, str]:
    """(status, one-line message) for a request FastAPI or the model refused."""
    errors = exc.errors()
    first: dict[str, Any] = errors[0] if errors else {"msg": "invalid request", "loc": ()}
    if first.get("type") == "json_invalid":
        return 400, f"the body is not valid JSON: {first.get('ctx', {}).get('error', first['msg'])}"
    if tuple(first.get("loc", ())) == ("body",) and first.get("type") == "missing":
        return 400, "the body is empty: send a JSON object (docs/SERVE.md)"
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    msg = str(first["msg"]).removeprefix("Value error, ")
    return 422, f"{where}: {msg}" if where else msg


def _add_error_handlers(app: FastAPI) -> None:
    retry = {"Retry-After": str(RETRY_AFTER_S)}

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message = _validation_message(exc)
        detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()]
        return JSONResponse({"error": message, "detail": detail}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own refusals (a body nested too deeply, an unknown path or method), as JSON errors.
        message = str(exc.detail)
        if exc.status_code == 400 and message == UNPARSED_BODY:
            message = "the body is not valid JSON (not UTF-8 text, nested too deeply, or a number of over 4300 digits)"
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(LimitExceeded)
    async def over_limit(request: Request, exc: LimitExceeded) -> JSONResponse:
        return JSONResponse(limit_body(exc), status_code=exc.status, headers=retry if exc.status == 503 else None)

    @app.exception_handler(RenderUnavailable)
    async def unavailable(request: Request, exc: RenderUnavailable) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=UNAVAILABLE_STATUS, headers=retry)

    @app.exception_handler(UsageError)
    async def usage(request: Request, exc: UsageError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def fault(request: Request, exc: Exception) -> JSONResponse:
        # A fault of the server (logged with its traceback by the server): still a JSON answer.
        return JSONResponse({"error": f"internal error: {type(exc).__name__}"}, status_code=500)


def create_app(options: ServeOptions, worker: RenderWorker | None = None, metrics: Metrics | None = None) -> Guard:
    """The service as an ASGI app (the FastAPI app behind :class:`~gpu_render.serve.guard.Guard`).

    worker: a RenderWorker to use (the CLI starts it first, to report GL errors in one line);
    made and started by the app's lifespan when None. Either way the lifespan stops it, after
    the server has answered the requests in flight.
    """
    metrics = metrics or (worker.metrics if worker is not None else Metrics())
    render_worker = worker or RenderWorker(options, metrics)
    scenes = SceneCache(None if options.backgrounds is None else photo_catalogue(Path(options.backgrounds)))
    budget = AnswerBudget(options.max_inflight_bytes)
    metrics.answer_bytes.set_function(lambda: budget.held)

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
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.worker, app.state.metrics, app.state.options = render_worker, metrics, options
    _add_error_handlers(app)
    install_docs(app, options)

    @app.post("/render", response_class=Response, responses=RENDER_RESPONSES)
    async def render(req: RenderRequest) -> Response:
        """Render the request's rotations; requests for the same scene and size arriving within the
        batching window are drawn together."""
        t0 = time.perf_counter()
        metrics.in_flight.inc()
        reservation = None
        try:
            check_limits(req, options)
            scene = scenes.scene(req)
            labels = request_labels(scene, req.indices(), req.size) if req.format == "npz" else {}
            cost = answer_cost(req.count, req.size, req.format)
            if labels:
                cost += labels_bytes(labels) + NPZ_OVERHEAD_BYTES
                if cost > options.largest_answer_bytes():
                    raise LimitExceeded(
                        413, "max_response_bytes", options.max_response_bytes, cost, "bytes of images and labels (npz)"
                    )
            reservation = budget.reserve(cost)
            future = render_worker.submit(
                (req.look_key(), req.size), scene, req.size, req.row_matrices(), req.indices()
            )
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
                raise LimitExceeded(
                    RENDER_TIME_STATUS,
                    "max_render_seconds",
                    options.max_render_seconds,
                    round(time.perf_counter() - t0, 3),
                    "seconds waited for the render",
                ) from None
            except RenderUnavailable:
                raise  # 503, by its handler
            except MemoryError as exc:  # the machine cannot hold this draw's images now: try later or ask less
                return JSONResponse(
                    {"error": f"not enough memory for this render now: {' '.join(str(exc).split())[:300]}"},
                    status_code=503,
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            except Exception as exc:
                return JSONResponse(
                    {"error": f"the render failed: {' '.join(str(exc).split())[:300]}"}, status_code=500
                )
            finally:
                expire.cancel()
            if req.format == "npy":
                answer = ChunkedAnswer(npy_header(images), images, MEDIA_TYPES["npy"], reservation.release)
            elif req.format == "npz":
                answer = ChunkedAnswer(
                    b"", await asyncio.to_thread(npz_bytes, images, labels), MEDIA_TYPES["npz"], reservation.release
                )
            else:  # encoded in a thread, so the loop keeps serving
                answer = ChunkedAnswer(
                    b"",
                    await asyncio.to_thread(encode, images, req.format),
                    MEDIA_TYPES[req.format],
                    reservation.release,
                )
            reservation = None  # the answer releases it once sent
            return answer
        finally:
            if reservation is not None:
                reservation.release()
            metrics.in_flight.dec()
            metrics.latency.observe(time.perf_counter() - t0)

    @app.get("/objects", response_model=ObjectsResponse, responses=_errors((401, "missing or wrong bearer token")))
    async def objects() -> ObjectsResponse:
        """What this service draws, the formats it answers in, and its limits."""
        o = options
        return ObjectsResponse(
            objects=list(SERVED_OBJECTS),
            formats=list(MEDIA_TYPES),
            limits=Limits(
                max_poses=o.max_poses,
                max_size=o.max_size,
                max_body_bytes=o.max_body_bytes,
                max_response_bytes=o.max_response_bytes,
                max_render_seconds=o.max_render_seconds,
                max_inflight_bytes=o.max_inflight_bytes,
                header_timeout=o.header_timeout,
                body_timeout=o.body_timeout,
                keep_alive_timeout=o.keep_alive_timeout,
                send_timeout=o.send_timeout,
                max_head_bytes=o.max_head_bytes,
            ),
            batching=Batching(enabled=o.batching, window_ms=o.window_s * 1000),
            backgrounds=o.backgrounds is not None,
        )

    @app.head("/healthz", include_in_schema=False)
    @app.get("/healthz", response_model=HealthResponse, responses=HEALTH_RESPONSES)
    async def healthz() -> JSONResponse:
        """200 ``ok`` while the render process runs, with the GL renderer's name, the render
        process's id and how often it was restarted; 503 while it restarts, once its restarts are
        spent, or while it is alive but one draw has run past max_render_seconds (hung: the
        requests waiting for it get 408 meanwhile). HEAD answers the same status, without the
        body (as load balancers probe)."""
        w = render_worker
        alive, busy = w.alive, w.draw_seconds
        if alive:
            status = "ok"
            if busy > options.max_render_seconds:
                status = (
                    f"render process not answering: one draw has run {busy:.1f} s, past max_render_seconds "
                    f"{options.max_render_seconds:g}"
                )
        elif w.available:
            status = "render process restarting"
        else:
            status = "render process stopped" + (" (its restarts are spent)" if w.given_up else "")
        health = HealthResponse(
            status=status, renderer=w.renderer_name, render_pid=w.render_pid if alive else None, restarts=w.restarts
        )
        return JSONResponse(health.model_dump(), status_code=200 if status == "ok" else UNAVAILABLE_STATUS)

    @app.get("/metrics", response_class=Response, responses=METRICS_RESPONSES)
    async def prometheus() -> Response:
        """Prometheus text format: requests, poses, draws, batch sizes, latency histogram, answer
        bytes held, connections closed for a limit, render process restarts."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return Guard(app, options.token, options.max_body_bytes, metrics, options.body_timeout)
