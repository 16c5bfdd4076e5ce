"""Scene mode (``--mode scene``): render plus readback throughput of the scene renderer
(:class:`~gpu_render.render.scene_renderer.SceneRenderer`, many poses per draw call) against
pyrender's OffscreenRenderer (one pose per call) for the same object, camera, light and 4x
MSAA, measured in the same run, interleaved run by run:

    python tools/bench.py --mode scene --objects icosa,mesh20k --scene-size 224 --poses 292 \
        --repeat 7 --images /tmp/scene-images --json /tmp/scene.json

(292 poses: four full atlas columns of 73 at 224 px, the steady state of a long build.) The
reported ratio is ours/pyrender in poses per second, from the medians; ``ratio_paired`` is
the median of the per-run ratios (run r of each side ran back to back).

pyrender runs in a subprocess of its own (tools/bench_pyrender.py), so its PyOpenGL
platform (PYOPENGL_PLATFORM: egl, else osmesa) and its GL context stay apart from moderngl's
EGL context. ``mesh20k`` is a lumpy, non-symmetric icosphere (20480 triangles) written to an
OFF file and read back with :func:`~gpu_render.dataset.mesh_files.load_mesh_file`, so both
renderers draw the same normalised triangles. ``--no-pyrender`` times our side alone.
Without pyrender installed the mode says so in one line and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_common import code_version, cpu_model, timed
from bench_pyrender import PyrenderProcess
from PIL import Image

from gpu_render import __version__
from gpu_render.dataset.writer import atomic_write_bytes
from gpu_render.render.context import Headless

#: The target: ours at least this many times pyrender's poses per second.
SCENE_TARGET_RATIO = 5.0
#: Subdivision level of the generated mesh's icosphere: 20 * 4**5 = 20480 triangles.
MESH20K_LEVEL = 5


def mesh20k(folder: Path) -> Path:
    """Write the benchmark's 20k-triangle mesh to ``folder/mesh20k.off`` and return the path.

    An icosphere of level MESH20K_LEVEL (20480 triangles), stretched and given lumps so that it
    has no symmetry and a varied silhouette; deterministic.
    """
    import trimesh

    path = folder / "mesh20k.off"
    if path.is_file():  # the pyrender worker reads the file the bench wrote
        return path
    sphere = trimesh.creation.icosphere(subdivisions=MESH20K_LEVEL)
    v = np.asarray(sphere.vertices, dtype=np.float64)
    x, y, z = v.T
    radius = 1.0 + 0.18 * np.sin(3 * x + 1.0) * np.cos(2 * y) + 0.12 * np.sin(5 * z + 2 * x) + 0.1 * x
    v = v * radius[:, None] * np.array([1.25, 0.9, 0.7])
    trimesh.Trimesh(vertices=v, faces=sphere.faces, process=False).export(str(path), file_type="off")
    return path


def scene_object(name: str, folder: Path):
    """``name``: a built-in solid, ``mesh20k`` (generated in ``folder``) or a mesh file path."""
    from gpu_render.dataset.mesh_files import load_mesh_file
    from gpu_render.scene.solids import BUILTIN_OBJECTS, builtin_object

    if name in BUILTIN_OBJECTS:
        return builtin_object(name)
    if name == "mesh20k":
        return load_mesh_file(mesh20k(folder), name=name)
    return load_mesh_file(Path(name))


def scene_poses(n: int, seed: int) -> np.ndarray:
    """n random rotations uniform over SO(3): (n, 3, 3) float64 R."""
    from gpu_render.rotations.quaternion import quaternion_to_matrix
    from gpu_render.rotations.sources import random_quaternions

    return quaternion_to_matrix(random_quaternions(n, seed))


def scene_breakdown(
    renderer,
    rotation: np.ndarray,
    translation: np.ndarray,
    repeat: int,
) -> dict[str, float]:
    """Where our render + readback time goes: seconds per pass over all poses, medians of
    ``repeat``: clear (a draw of no instances), draw (instance upload and the draw, less the
    clear), resolve (MSAA to single-sampled), readback (glReadPixels RGB and the flipping copy)."""
    from gpu_render.render.scene_renderer import scene_instances

    ctx = renderer.ctx
    instances = scene_instances(rotation, translation)
    cap = renderer.layout.capacity
    out = np.empty((len(instances), renderer.size, renderer.size, 3), dtype=np.uint8)
    clear = (*(c / 255.0 for c in renderer.look.background), 1.0)
    parts: dict[str, list[float]] = {"clear": [], "draw": [], "resolve": [], "readback": []}
    for _ in range(repeat):
        spent = dict.fromkeys(parts, 0.0)
        for a in range(0, len(instances), cap):
            chunk = instances[a : a + cap]
            ctx.finish()
            t0 = time.perf_counter()
            renderer._draw(renderer.fbo, renderer.vao, chunk[:0], clear)
            ctx.finish()
            t1 = time.perf_counter()
            renderer._draw(renderer.fbo, renderer.vao, chunk, clear)
            ctx.finish()
            t2 = time.perf_counter()
            source = renderer.resolve(len(chunk))
            ctx.finish()
            t3 = time.perf_counter()
            renderer.read(source, len(chunk), out[a : a + len(chunk)])
            t4 = time.perf_counter()
            spent["clear"] += t1 - t0
            spent["draw"] += (t2 - t1) - (t1 - t0)
            spent["resolve"] += t3 - t2
            spent["readback"] += t4 - t3
        for k, v in spent.items():
            parts[k].append(v)
    return {k: statistics.median(v) for k, v in parts.items()}


def scene_main(a: argparse.Namespace, argv: list[str] | None) -> int:
    """The scene mode: ours against pyrender, object by object, runs interleaved."""
    from gpu_render.render.atlas import default_batch
    from gpu_render.render.scene_renderer import SceneRenderer
    from gpu_render.scene.camera import Pinhole
    from gpu_render.scene.look import Look
    from gpu_render.scene.solids import BUILTIN_OBJECTS

    size, n = a.scene_size, a.poses
    m = a.pyrender_poses or n
    objects = [o for o in a.objects.split(",") if o]
    camera, look = Pinhole(), Look()
    batch = a.scene_batch or default_batch(size)
    rotation = scene_poses(max(n, m), a.seed)
    translation = camera.translation
    results: dict[str, dict] = {}
    platforms = [x for x in a.pyrender_platform.split(",") if x]
    platform_notes: dict[str, str] = {}
    chosen_platform: str | None = None
    pyrender_info: dict | None = None
    if a.images:
        a.images.mkdir(parents=True, exist_ok=True)
    print(
        f"gpu_render {__version__} bench, scene mode: {size} px, {n} poses ours (batch {batch}), "
        f"{'no pyrender' if a.no_pyrender else f'{m} poses pyrender'}, {a.repeat} runs",
        flush=True,
    )

    load_before = os.getloadavg()  # the machine may be shared: what else ran shows here
    scratch = Path(tempfile.mkdtemp(prefix="gpu_render-bench-scene-", dir=a.tmp))
    try:
        np.save(scratch / "poses.npy", rotation[:m])
        with Headless(a.device) as gl:
            renderer_name = gl.renderer_name
            for name in objects:
                obj = scene_object(name, scratch)
                worker: PyrenderProcess | None = None
                if not a.no_pyrender:
                    own = name == "mesh20k" or name in BUILTIN_OBJECTS
                    spec = {
                        "object": name if own else str(Path(name).resolve()),
                        "folder": str(scratch),
                        "poses": str(scratch / "poses.npy"),
                        "size": size,
                        "image": str(a.images / f"{Path(name).name}-pyrender.png") if a.images else None,
                    }
                    for gl_platform in [chosen_platform] if chosen_platform else platforms:
                        worker = PyrenderProcess(spec, scratch, gl_platform)
                        if worker.info is not None:
                            chosen_platform, pyrender_info = gl_platform, worker.info
                            platform_notes.setdefault(gl_platform, f"works: {worker.info['renderer']}")
                            break
                        code, reason = worker.failure
                        if code == 2:  # pyrender itself is missing: no platform will help
                            print(f"bench: {reason}; run with --no-pyrender to time our side alone", file=sys.stderr)
                            return 2
                        platform_notes[gl_platform] = f"fails: {reason}"
                        worker = None
                    if worker is None:
                        print(
                            f"bench: pyrender has no OpenGL context on any of {', '.join(platforms)} "
                            f"({'; '.join(f'{k}: {v}' for k, v in platform_notes.items())})",
                            file=sys.stderr,
                        )
                        return 1
                try:
                    with SceneRenderer(gl.ctx, obj, camera, look, size, batch=batch) as renderer:
                        out = np.empty((n, size, size, 3), dtype=np.uint8)

                        ours_cpu: list[float] = []

                        def ours() -> None:
                            c0 = time.process_time()  # all threads of this process: llvmpipe's too
                            renderer.render(rotation[:n], translation, out=out)  # noqa: B023 - called within this iteration
                            ours_cpu.append(time.process_time() - c0)  # noqa: B023 - called within this iteration

                        ours()  # warm up
                        ours_cpu.clear()
                        if a.images:
                            Image.fromarray(out[0]).save(a.images / f"{Path(name).name}-ours.png")
                        ours_runs: list[float] = []
                        py_runs: list[float] = []
                        for r in range(a.repeat):  # interleaved, and the order alternates
                            if worker is not None and r % 2:
                                py_runs.append(worker.run())
                            ours_runs.append(timed(ours))
                            if worker is not None and not r % 2:
                                py_runs.append(worker.run())
                        breakdown = scene_breakdown(renderer, rotation[:n], translation, a.repeat)
                        samples = renderer.samples
                        gl_error = gl.ctx.error
                        if gl_error != "GL_NO_ERROR":
                            print(f"bench: OpenGL error {gl_error} after rendering {name}", file=sys.stderr)
                            return 1
                finally:
                    if worker is not None:
                        worker.close()
                entry: dict = {
                    "triangles": obj.triangle_count,
                    "msaa_samples": samples,
                    "ours": {
                        "poses": n,
                        "seconds": statistics.median(ours_runs),
                        "poses_per_s": n / statistics.median(ours_runs),
                        "runs": ours_runs,
                    },
                    "ours_breakdown_seconds": breakdown,
                }
                line = f"  {name:<10} {obj.triangle_count:6d} tri  ours {n / statistics.median(ours_runs):9.0f} poses/s"
                if worker is not None:
                    med = statistics.median(py_runs)
                    entry["pyrender"] = {
                        "poses": m,
                        "seconds": med,
                        "poses_per_s": m / med,
                        "runs": py_runs,
                        "msaa_samples": pyrender_info["msaa_samples"] if pyrender_info else None,
                    }
                    entry["ratio"] = entry["ours"]["poses_per_s"] / entry["pyrender"]["poses_per_s"]
                    # Run r of each side ran back to back, so their ratio cancels slow drifts in load.
                    paired = [(n / o) / (m / q) for o, q in zip(ours_runs, py_runs, strict=False)]
                    entry["ratio_paired"] = {"median": statistics.median(paired), "runs": paired}
                    entry["target_met"] = entry["ratio"] >= SCENE_TARGET_RATIO
                    # CPU seconds per pose, both processes with all their threads: what the other
                    # load on a shared machine disturbs least.
                    cpu_ratio = (statistics.median(worker.cpu) / m) / (statistics.median(ours_cpu) / n)
                    entry["cpu_seconds"] = {"ours": ours_cpu, "pyrender": worker.cpu}
                    entry["cpu_ratio"] = cpu_ratio
                    line += (
                        f"  pyrender {m / med:8.0f} poses/s  ratio {entry['ratio']:5.2f}"
                        f" (paired runs: median {entry['ratio_paired']['median']:.2f},"
                        f" {min(paired):.2f}..{max(paired):.2f}; CPU-s per pose ratio {cpu_ratio:.2f})"
                    )
                results[name] = entry
                print(line, flush=True)
                print(
                    "  " + " " * 10 + "  ours per pass: " + ", ".join(f"{k} {v:.3f} s" for k, v in breakdown.items()),
                    flush=True,
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": cpu_model(),
        "code": code_version(),
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]},
        "renderer": renderer_name,
        "command": " ".join([Path(sys.argv[0]).name if argv is None else "tools/bench.py", *(argv or sys.argv[1:])]),
        "mode": "scene",
        "size": size,
        "poses": n,
        "pyrender_poses": None if a.no_pyrender else m,
        "batch": batch,
        "repeat": a.repeat,
        "seed": a.seed,
        "look": {"antialias": look.antialias, "albedo": list(look.albedo), "light": list(look.light)},
        "target_ratio": SCENE_TARGET_RATIO,
        "pyrender": None
        if a.no_pyrender
        else {"platform": chosen_platform, "platforms_tried": platform_notes, **(pyrender_info or {})},
        "results": results,
    }
    if a.json:
        atomic_write_bytes(a.json, (json.dumps(report, indent=2) + "\n").encode())
        print(f"wrote {a.json}")
    return 0
