"""``python -m gpu_render.serve``: an HTTP render service (FastAPI + uvicorn, the ``[serve]`` extra).

One render process owns the GL context (made by :mod:`gpu_render.render.context`) and draws
with the build's own renderers (:mod:`gpu_render.render.backends`;
:mod:`gpu_render.serve.render_process`); a batching thread of the server groups the requests for
the same scene and size that arrive within a short window into one atlas pass and splits the
images back (:mod:`gpu_render.serve.worker`). The event loop never waits on GL, and no thread of
the server process holds the GIL while GL draws. A dead render process is restarted (a bounded
number of times). Hostile clients are bounded: every connection by deadlines
(:mod:`gpu_render.serve.protocol`, :mod:`gpu_render.serve.guard`), the answers held at once by a
byte budget (:mod:`gpu_render.serve.answers`), every field by its model
(:mod:`gpu_render.serve.models`). See docs/SERVE.md.

A top-level, command-line-like package: it may import every layer; no layer imports it.
"""
