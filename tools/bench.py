"""Benchmark the build, stage by stage, then end to end; print a table and write JSON.

    python tools/bench.py --step 0.3 --sizes 32,64,128,256 --format jpg --json bench.json

Stages, each timed on its own over the same poses:
  labels         the pose grid, matrices and the (N, 8, 6) labels
  render S       GPU render plus readback into a reused array, per size
  encode F       encoding every image, one thread, per format (jpg: simplejpeg, png: Pillow)
  floor          single-thread Pillow JPEG (quality 100, 4:4:4) of the same images
  write F        writing the encoded files (temporary name + rename), one thread
  build          `python -m gpu_render.build` in a fresh process: wall time, CPU time, peak RSS
Medians of --repeat runs are reported, the build's included.

Every run writes into a folder of its own, and all of them are deleted only when the bench
ends. On an ext4 file system without a journal (this project's CPU machine), creating a file
scans past every inode deleted in the last few minutes nearby, so deleting one run's
output before the next would slow the next one's file creation several-fold.

Scene mode (``--mode scene``): render plus readback throughput of the scene renderer
(:class:`~gpu_render.render.scene_renderer.SceneRenderer`, many poses per draw call) against
pyrender's OffscreenRenderer (one pose per call) for the same object, camera, light and 4x
MSAA, measured in the same run, interleaved run by run:

    python tools/bench.py --mode scene --objects icosa,mesh20k --scene-size 224 --poses 292 \
        --repeat 7 --images /tmp/scene-images --json /tmp/scene.json

(292 poses: four full atlas columns of 73 at 224 px, the steady state of a long build.) The
reported ratio is ours/pyrender in poses per second, from the medians; ``ratio_paired`` is
the median of the per-run ratios (run r of each side ran back to back).

pyrender runs in a subprocess of its own (this file with a hidden flag), so its PyOpenGL
platform (PYOPENGL_PLATFORM: egl, else osmesa) and its GL context stay apart from moderngl's
EGL context. ``mesh20k`` is a lumpy, non-symmetric icosphere (20480 triangles) written to an
OFF file and read back with :func:`~gpu_render.dataset.mesh_files.load_mesh_file`, so both
renderers draw the same normalised triangles. ``--no-pyrender`` times our side alone.
Without pyrender installed the mode says so in one line and exits 2.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from gpu_render import __version__
from gpu_render.render.context import Headless
from gpu_render.dataset.encode import ENCODERS
from gpu_render.arg_types import sizes_type, step_type
from gpu_render.options import BuildOptions
from gpu_render.scene.plan import PosePlan
from gpu_render.rotations.sources import PoseSource
from gpu_render.render.clpr_renderer import Renderer, default_batch
from gpu_render.dataset.writer import atomic_write_bytes, image_name

#: The issue's target: ours at least this many times pyrender's poses per second.
SCENE_TARGET_RATIO = 5.0
#: Subdivision level of the generated mesh's icosphere: 20 * 4**5 = 20480 triangles.
MESH20K_LEVEL = 5
#: pyrender's look, chosen to resemble ours: its shader is PBR with a gamma of 2.2 on output,
#: ours is linear ``albedo * (0.35 + 0.65 max(0, n.l))``. A base colour of (200/255)**2.2,
#: ambient 0.1 and a light of intensity 3 give about our brightness in the lit and the unlit parts.
PYRENDER_AMBIENT = 0.1
PYRENDER_LIGHT_INTENSITY = 3.0
#: OpenCV camera frame (x right, y down, z forward) to OpenGL's (x right, y up, z backward).
CV_TO_GL = np.diag([1.0, -1.0, -1.0])


def pillow_floor(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=100, subsampling=0)
    return buf.getvalue()


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


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


def scene_object(name: str, folder: Path):  # noqa: ANN201 - a SceneObject
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


def cpu_model() -> str:
    """lscpu's model name, and the core count."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or platform.machine()
    return f"{model}, {os.cpu_count()} cores"


def code_version() -> str:
    """The commit measured, with ``+changes`` when the package or the shaders differ from it."""
    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "gpu_render", "shaders"], cwd=repo,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def pyrender_worker(spec_path: Path) -> int:
    """The pyrender side of the scene mode, in a process of its own (PYOPENGL_PLATFORM is set
    by the parent before this process starts).

    Reads the spec (JSON: object, folder, poses .npy, size, image), renders every pose once to
    warm up, prints one JSON line ``{"ready": ...}``, then for each ``run`` line on stdin renders
    every pose once, one ``renderer.render(scene)`` (draw + colour and depth readback) per pose,
    and prints ``{"seconds": ...}``. Exit 2: pyrender (or a package it needs) is not installed;
    3: no OpenGL on this platform.
    """
    spec = json.loads(Path(spec_path).read_text())
    try:
        import pyrender
        from OpenGL import GL
    except ModuleNotFoundError as exc:  # pyrender, or a package it needs, is not installed
        print(f"pyrender is not importable ({' '.join(str(exc).split()) or type(exc).__name__})", file=sys.stderr)
        return 2
    except Exception as exc:  # PyOpenGL could not load this platform's library (ImportError, ValueError)
        print(f"pyrender cannot load OpenGL with PYOPENGL_PLATFORM={os.environ.get('PYOPENGL_PLATFORM')} "
              f"({' '.join(str(exc).split()) or type(exc).__name__})", file=sys.stderr)
        return 3
    import trimesh

    from gpu_render.scene.camera import Pinhole
    from gpu_render.scene.look import Look
    from gpu_render.render.scene_renderer import DEPTH_MARGIN

    size = int(spec["size"])
    try:
        renderer = pyrender.OffscreenRenderer(size, size)
    except Exception as exc:
        print(f"pyrender has no OpenGL context with PYOPENGL_PLATFORM={os.environ.get('PYOPENGL_PLATFORM')} "
              f"({' '.join(str(exc).split()) or type(exc).__name__})", file=sys.stderr)
        return 3
    try:
        obj = scene_object(spec["object"], Path(spec["folder"]))
        camera, look = Pinhole(), Look()
        rotation = np.load(spec["poses"])
        positions = np.asarray(obj.positions, dtype=np.float64).reshape(-1, 3)
        tri = trimesh.Trimesh(vertices=positions, faces=np.arange(len(positions)).reshape(-1, 3), process=False)
        material = pyrender.MetallicRoughnessMaterial(
            baseColorFactor=[*((c / 255.0) ** 2.2 for c in look.albedo), 1.0], metallicFactor=0.0, roughnessFactor=1.0)
        scene = pyrender.Scene(bg_color=[*(c / 255.0 for c in look.background), 1.0],
                               ambient_light=[PYRENDER_AMBIENT] * 3)
        node = scene.add(pyrender.Mesh.from_trimesh(tri, material=material, smooth=False))
        k = camera.intrinsics(size)
        d = camera.d
        scene.add(pyrender.IntrinsicsCamera(k[0, 0], k[1, 1], k[0, 2], k[1, 2], znear=max(d - 1.0 - DEPTH_MARGIN, 1e-3),
                                            zfar=d + 1.0 + DEPTH_MARGIN), pose=np.eye(4))
        # The camera sits at the origin of pyrender's world, so world = OpenGL camera frame. A
        # directional light shines along its node's -z: put +z on the direction towards the light.
        towards = CV_TO_GL @ look.light_unit
        helper = np.array([1.0, 0.0, 0.0]) if abs(towards[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        x_axis = np.cross(helper, towards)
        x_axis /= np.linalg.norm(x_axis)
        light_pose = np.eye(4)
        light_pose[:3, :3] = np.column_stack([x_axis, np.cross(towards, x_axis), towards])
        scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=PYRENDER_LIGHT_INTENSITY), pose=light_pose)
        # x_cam = R x_obj + t in OpenCV's frame; pyrender's mesh pose is that in OpenGL's frame.
        poses = np.tile(np.eye(4), (len(rotation), 1, 1))
        poses[:, :3, :3] = CV_TO_GL @ rotation
        poses[:, :3, 3] = CV_TO_GL @ camera.translation

        def run() -> np.ndarray:
            colour = None
            for pose in poses:
                scene.set_pose(node, pose)
                colour, _depth = renderer.render(scene)
            return colour

        run()  # warm up: shaders, buffers, the MSAA framebuffer
        if spec.get("image"):
            scene.set_pose(node, poses[0])
            Image.fromarray(renderer.render(scene)[0]).save(spec["image"])
        # pyrender draws into a multisampled renderbuffer of its own and blits it down: its samples.
        samples = np.zeros(1, dtype=np.int32)
        GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, renderer._renderer._main_cb_ms)
        GL.glGetRenderbufferParameteriv(GL.GL_RENDERBUFFER, GL.GL_RENDERBUFFER_SAMPLES, samples)
        print(json.dumps({"ready": True, "renderer": GL.glGetString(GL.GL_RENDERER).decode(),
                          "version": GL.glGetString(GL.GL_VERSION).decode(),
                          "platform": os.environ.get("PYOPENGL_PLATFORM"), "msaa_samples": int(samples[0]),
                          "pyrender": pyrender.__version__}), flush=True)
        for line in sys.stdin:
            if line.strip() != "run":
                break
            t0, c0 = time.perf_counter(), time.process_time()
            run()
            print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}), flush=True)
    finally:
        renderer.delete()
    return 0


class PyrenderProcess:
    """A running :func:`pyrender_worker`; :meth:`run` times one pass over the poses."""

    def __init__(self, spec: dict, folder: Path, gl_platform: str) -> None:
        tag = f"{Path(str(spec['object'])).name}-{gl_platform}"
        spec_path = folder / f"pyrender-{tag}.json"
        spec_path.write_text(json.dumps(spec))
        self.stderr_path = folder / f"pyrender-{tag}.err"
        env = {**os.environ, "PYOPENGL_PLATFORM": gl_platform}
        with open(self.stderr_path, "w") as err:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--pyrender-worker", str(spec_path)]
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                                         env=env)
        self.cpu: list[float] = []
        self.info = self._reply()

    def _reply(self) -> dict | None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                return json.loads(line)
        self.proc.wait()
        return None

    @property
    def failure(self) -> tuple[int, str]:
        """(exit status, the last line it wrote to stderr) of a worker that did not start."""
        lines = [x for x in self.stderr_path.read_text().splitlines() if x.strip()]
        return self.proc.returncode, (lines[-1] if lines else "no output")

    def run(self) -> float:
        """Wall seconds of one pass; its CPU seconds (all of the worker's threads) go to ``cpu``."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        reply = self._reply()
        if reply is None:
            raise RuntimeError(f"the pyrender worker stopped: {self.failure[1]}")
        self.cpu.append(float(reply["cpu_seconds"]))
        return float(reply["seconds"])

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def scene_breakdown(renderer, rotation: np.ndarray, translation: np.ndarray,  # noqa: ANN001 - a SceneRenderer
                    repeat: int) -> dict[str, float]:
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
    print(f"gpu_render {__version__} bench, scene mode: {size} px, {n} poses ours (batch {batch}), "
          f"{'no pyrender' if a.no_pyrender else f'{m} poses pyrender'}, {a.repeat} runs", flush=True)

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
                    spec = {"object": name if own else str(Path(name).resolve()),
                            "folder": str(scratch), "poses": str(scratch / "poses.npy"), "size": size,
                            "image": str(a.images / f"{Path(name).name}-pyrender.png") if a.images else None}
                    for gl_platform in ([chosen_platform] if chosen_platform else platforms):
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
                        print(f"bench: pyrender has no OpenGL context on any of {', '.join(platforms)} "
                              f"({'; '.join(f'{k}: {v}' for k, v in platform_notes.items())})", file=sys.stderr)
                        return 1
                try:
                    with SceneRenderer(gl.ctx, obj, camera, look, size, batch=batch) as renderer:
                        out = np.empty((n, size, size, 3), dtype=np.uint8)

                        ours_cpu: list[float] = []

                        def ours() -> None:
                            c0 = time.process_time()  # all threads of this process: llvmpipe's too
                            renderer.render(rotation[:n], translation, out=out)
                            ours_cpu.append(time.process_time() - c0)

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
                entry: dict = {"triangles": obj.triangle_count, "msaa_samples": samples,
                               "ours": {"poses": n, "seconds": statistics.median(ours_runs),
                                        "poses_per_s": n / statistics.median(ours_runs), "runs": ours_runs},
                               "ours_breakdown_seconds": breakdown}
                line = f"  {name:<10} {obj.triangle_count:6d} tri  ours {n / statistics.median(ours_runs):9.0f} poses/s"
                if worker is not None:
                    med = statistics.median(py_runs)
                    entry["pyrender"] = {"poses": m, "seconds": med, "poses_per_s": m / med, "runs": py_runs,
                                         "msaa_samples": pyrender_info["msaa_samples"] if pyrender_info else None}
                    entry["ratio"] = entry["ours"]["poses_per_s"] / entry["pyrender"]["poses_per_s"]
                    # Run r of each side ran back to back, so their ratio cancels slow drifts in load.
                    paired = [(n / o) / (m / q) for o, q in zip(ours_runs, py_runs)]
                    entry["ratio_paired"] = {"median": statistics.median(paired), "runs": paired}
                    entry["target_met"] = entry["ratio"] >= SCENE_TARGET_RATIO
                    # CPU seconds per pose, both processes with all their threads: what the other
                    # load on a shared machine disturbs least.
                    cpu_ratio = (statistics.median(worker.cpu) / m) / (statistics.median(ours_cpu) / n)
                    entry["cpu_seconds"] = {"ours": ours_cpu, "pyrender": worker.cpu}
                    entry["cpu_ratio"] = cpu_ratio
                    line += (f"  pyrender {m / med:8.0f} poses/s  ratio {entry['ratio']:5.2f}"
                             f" (paired runs: median {entry['ratio_paired']['median']:.2f},"
                             f" {min(paired):.2f}..{max(paired):.2f}; CPU-s per pose ratio {cpu_ratio:.2f})")
                results[name] = entry
                print(line, flush=True)
                print("  " + " " * 10 + "  ours per pass: " + ", ".join(f"{k} {v:.3f} s" for k, v in breakdown.items()),
                      flush=True)
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
        "pyrender": None if a.no_pyrender else {"platform": chosen_platform, "platforms_tried": platform_notes,
                                                **(pyrender_info or {})},
        "results": results,
    }
    if a.json:
        atomic_write_bytes(a.json, (json.dumps(report, indent=2) + "\n").encode())
        print(f"wrote {a.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--step", type=step_type, default=0.3)
    p.add_argument("--sizes", type=sizes_type, default=(32, 64, 128, 256))
    p.add_argument("--format", choices=("jpg", "png", "npy", "wds"), default="jpg", help="format of the end-to-end build")
    p.add_argument("--batch", type=int, default=BuildOptions.batch)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--repeat", type=int, default=3, help="runs per stage; the median is reported")
    p.add_argument("--device", type=int, default=0)
    p.add_argument("--stages", default="labels,render,encode,floor,write,build",
                   help="comma-separated subset of the stages to run")
    p.add_argument("--tmp", type=Path, default=None, help="scratch folder (default: a new one in the system temp)")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument("--mode", choices=("build", "scene"), default="build",
                   help="build: the stages above (default); scene: the scene renderer against pyrender")
    scene = p.add_argument_group("scene mode")
    scene.add_argument("--objects", default="icosa,mesh20k",
                       help="comma-separated: built-in solids, mesh20k (generated, 20480 triangles) or mesh file paths")
    scene.add_argument("--scene-size", type=int, default=224, help="image side, px (default 224)")
    scene.add_argument("--poses", type=int, default=256, help="random poses rendered per run by ours (default 256)")
    scene.add_argument("--pyrender-poses", type=int, default=None,
                       help="the first N of them for pyrender (default: all)")
    scene.add_argument("--scene-batch", type=int, default=None,
                       help="poses per draw call (default: a full atlas column)")
    scene.add_argument("--seed", type=int, default=0, help="seed of the random poses")
    scene.add_argument("--images", type=Path, default=None, help="save pose 0 from each renderer here, as PNG")
    scene.add_argument("--no-pyrender", action="store_true", help="time our side only")
    scene.add_argument("--pyrender-platform", default="egl,osmesa",
                       help="PYOPENGL_PLATFORM values to try in order (default egl,osmesa)")
    p.add_argument("--pyrender-worker", type=Path, default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.pyrender_worker is not None:
        return pyrender_worker(a.pyrender_worker)
    if a.mode == "scene":
        if a.scene_size < 1 or a.poses < 1 or (a.pyrender_poses or 1) < 1 or a.repeat < 1:
            p.error("--scene-size, --poses, --pyrender-poses and --repeat must be positive")
        return scene_main(a, argv)
    stages = set(a.stages.split(","))
    options = BuildOptions(source=PoseSource("clpr", step=a.step), sizes=a.sizes, format=a.format, batch=a.batch, workers=a.workers,
                           device=a.device)
    n = options.pose_count
    results: dict[str, dict[str, float]] = {}

    def record(name: str, runs: list[float], images: int | None = None) -> None:
        med = statistics.median(runs)
        results[name] = {"seconds": med, "poses_per_s": n / med, "runs": runs}
        if images:
            results[name]["images"] = images
        print(f"  {name:<14} {med:8.3f} s  {n / med:10.0f} poses/s", flush=True)

    print(f"gpu_render {__version__} bench: {n} poses, sizes {','.join(map(str, a.sizes))}, "
          f"batch {a.batch}, {a.workers} workers", flush=True)
    plan = PosePlan.from_source(options.source, options.pose_count)
    if "labels" in stages:
        record("labels", [timed(lambda: PosePlan.from_source(options.source, n)) for _ in range(a.repeat)])

    scratch = Path(tempfile.mkdtemp(prefix="gpu_render-bench-", dir=a.tmp))
    try:
        with Headless(a.device) as gl:
            renderer_name = gl.renderer_name
            renderers = {s: Renderer(gl.ctx, s, batch=min(a.batch, default_batch(s))) for s in a.sizes}
            buffers = {s: np.empty((a.batch, s, s, 3), dtype=np.uint8) for s in a.sizes}
            chunks = [(k, min(n, k + a.batch)) for k in range(0, n, a.batch)]

            def render_all(size: int, each=None) -> None:
                for start, stop in chunks:
                    out = renderers[size].render(plan.matrix[start:stop], plan.translation[start:stop],
                                                 out=buffers[size][: stop - start])
                    if each is not None:
                        each(size, start, out)

            if "render" in stages:
                for s in a.sizes:
                    render_all(s)  # warm up
                    record(f"render {s}", [timed(lambda: render_all(s)) for _ in range(a.repeat)])

            # Encoding, the floor and writing are timed on rendered chunks, excluding the render.
            def stage_over_images(work) -> float:
                spent = [0.0]

                def each(size: int, start: int, images: np.ndarray) -> None:
                    t0 = time.perf_counter()
                    work(size, start, images)
                    spent[0] += time.perf_counter() - t0

                for s in a.sizes:
                    render_all(s, each)
                return spent[0]

            total_images = n * len(a.sizes)
            if "encode" in stages:
                for fmt, encode in ENCODERS.items():
                    def enc(size: int, start: int, images: np.ndarray, encode=encode) -> None:
                        for im in images:
                            encode(im)
                    record(f"encode {fmt}", [stage_over_images(enc) for _ in range(a.repeat)], total_images)
            if "floor" in stages:
                def floor(size: int, start: int, images: np.ndarray) -> None:
                    for im in images:
                        pillow_floor(im)
                record("floor (Pillow)", [stage_over_images(floor) for _ in range(a.repeat)], total_images)
            if "write" in stages:
                fmt = a.format if a.format in ENCODERS else "jpg"
                runs = []
                for r in range(a.repeat):
                    root = scratch / f"write{r}"  # kept until the bench ends (see the module docstring)
                    for s in a.sizes:
                        (root / str(s)).mkdir(parents=True)
                    encoded: dict[tuple[int, int], list[bytes]] = {}

                    def enc_only(size: int, start: int, images: np.ndarray) -> None:
                        encoded[(size, start)] = [ENCODERS[fmt](im) for im in images]

                    stage_over_images(enc_only)

                    def write_all(root=root) -> None:  # as ImageSink.write does, less the encoding
                        for (size, start), files in encoded.items():
                            folder = os.path.join(root, str(size))
                            for i, data in enumerate(files):
                                atomic_write_bytes(os.path.join(folder, image_name(start + i, fmt)), data)

                    runs.append(timed(write_all))
                record(f"write {fmt}", runs, total_images)
            for r in renderers.values():
                r.close()

        if "build" in stages:
            name = f"build {a.format}"
            walls, cpus, runs = [], [], []
            for r in range(a.repeat):
                out = scratch / f"build{r}"
                cmd = [sys.executable, "-m", "gpu_render.build", "--step", repr(a.step), "--sizes",
                       ",".join(map(str, a.sizes)), "--format", a.format, "--batch", str(a.batch),
                       "--workers", str(a.workers), "--device", str(a.device), "--out", str(out)]
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True)
                walls.append(time.perf_counter() - t0)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if proc.returncode != 0:
                    print(proc.stderr, file=sys.stderr)
                    return 1
                cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
                runs.append(json.loads((out / "manifest.json").read_text())["seconds"])
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB -> MiB on Linux
            record(name, runs)
            results[name].update({"wall_with_startup": statistics.median(walls), "cpu_seconds": statistics.median(cpus),
                                  "cpu_runs": cpus, "peak_rss_mib": peak})
            print(f"  {'':<14} wall {statistics.median(walls):.3f} s with process start-up; "
                  f"CPU {statistics.median(cpus):.2f} s; peak RSS {peak:.0f} MiB", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    if "floor (Pillow)" in results and f"build {a.format}" in results:
        ratio = results[f"build {a.format}"]["seconds"] / results["floor (Pillow)"]["seconds"]
        results["ratio build/floor"] = {"value": ratio}
        print(f"  build / floor  {ratio:8.3f}", flush=True)
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores",
        "renderer": renderer_name,
        "command": " ".join([Path(sys.argv[0]).name if argv is None else "tools/bench.py", *(argv or sys.argv[1:])]),
        "poses": n,
        "sizes": list(a.sizes),
        "batch": a.batch,
        "workers": a.workers,
        "results": results,
    }
    if a.json:
        atomic_write_bytes(a.json, (json.dumps(report, indent=2) + "\n").encode())
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
