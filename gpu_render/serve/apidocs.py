"""The OpenAPI document and the /docs page of the service.

The document states the server's own limits (max_poses as ``maxItems``, max_size as
``maximum``), so a client generated from it, or a tester driven by it, makes requests this
server accepts. The /docs page is Swagger UI served from the ``swagger-ui-bundle-v2`` package
(the ``[serve]`` extra): it loads nothing from another site, so it works offline.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from gpu_render.serve.config import ServeOptions

#: Where Swagger UI's scripts and styles are served from.
ASSETS_PATH = "/docs/assets"


def request_schema_limits(schema: dict[str, Any], options: ServeOptions) -> None:
    """Write the server's limits into the RenderRequest schema of an OpenAPI document (in place)."""
    request = schema["components"]["schemas"]["RenderRequest"]
    fields = request["properties"]
    for name in ("quaternions", "matrices"):
        fields[name]["maxItems"] = options.max_poses
    fields["size"]["maximum"] = options.max_size
    if fields["size"].get("default", 0) > options.max_size:  # the default size is past the limit: say it
        request["required"] = sorted({*request.get("required", []), "size"})
    if options.backgrounds is None:  # this server has no photographs: backgrounds may only be false
        fields["backgrounds"] = {"enum": [False, None], "description": fields["backgrounds"].get("description", "")}
    for example in request.get("examples", []):
        example["size"] = min(example["size"], options.max_size)
    request["description"] = (
        f"{request.get('description', '')}\n\nThis server's limits: at most {options.max_poses} poses, size at most "
        f"{options.max_size} px, N*S*S*3 at most {options.max_response_bytes} bytes of images (413), a body of at "
        f"most {options.max_body_bytes} bytes (413). Quaternions must have unit norm and matrices must be "
        "rotations (422 otherwise)."
    )


def install_docs(app: FastAPI, options: ServeOptions) -> None:
    """Give ``app`` (made with ``docs_url=None, redoc_url=None``) its OpenAPI document with the
    server's limits (and the bearer scheme when a token is asked for) and the offline /docs page."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            request_schema_limits(schema, options)
            if options.token is not None:
                schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
                schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema
    app.mount(ASSETS_PATH, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
        )
