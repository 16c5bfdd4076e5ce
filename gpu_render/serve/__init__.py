"""``python -m gpu_render.serve``: an HTTP render service (FastAPI + uvicorn, the ``[serve]`` extra).

One render thread owns the GL context (made by :mod:`gpu_render.render.context`) and draws with
the build's own renderers (:mod:`gpu_render.render.backends`); requests for the same scene and
size that arrive within a short window are drawn together in one atlas pass and split back
(:mod:`gpu_render.serve.worker`). The event loop never waits on GL. See docs/SERVE.md.

A top-level, command-line-like package: it may import every layer; no layer imports it.
"""
