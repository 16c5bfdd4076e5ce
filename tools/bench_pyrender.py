"""pyrender's side of the scene benchmark (tools/bench_scene.py): the same object, camera, light
and 4x MSAA drawn by pyrender's OffscreenRenderer, one pose per call, in a process of its own
(``tools/bench.py --pyrender-worker SPEC``), so that its PyOpenGL platform and GL context stay
apart from moderngl's EGL context."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from gpu_render.extras import install_hint

#: pyrender's look, chosen to resemble ours: its shader is PBR with a gamma of 2.2 on output,
#: ours is linear ``albedo * (0.35 + 0.65 max(0, n.l))``. A base colour of (200/255)**2.2,
#: ambient 0.1 and a light of intensity 3 give about our brightness in the lit and the unlit parts.
PYRENDER_AMBIENT = 0.1
PYRENDER_LIGHT_INTENSITY = 3.0
#: OpenCV camera frame (x right, y down, z forward) to OpenGL's (x right, y up, z backward).
CV_TO_GL = np.diag([1.0, -1.0, -1.0])


def pyrender_worker(spec_path: Path) -> int:
    """The pyrender side of the scene mode, in a process of its own (PYOPENGL_PLATFORM is set
    by the parent before this process starts).

    Reads the spec (JSON: object, folder, poses .npy, size, image), renders every pose once to
    warm up, prints one JSON line ``{"ready": ...}``, then for each ``run`` line on stdin renders
    every pose once, one ``renderer.render(scene)`` (draw + colour and depth readback) per pose,
    and prints ``{"seconds": ...}``. Exit 2: pyrender (or a package it needs) is not installed;
    3: no OpenGL on this platform.
    """
    from bench_scene import scene_object  # the same object the parent draws

    spec = json.loads(Path(spec_path).read_text())
    try:
        import pyrender
        from OpenGL import GL
    except ModuleNotFoundError as exc:  # pyrender, or a package it needs, is not installed
        print(install_hint(exc.name or "pyrender", "bench"), file=sys.stderr)
        return 2
    except Exception as exc:  # PyOpenGL could not load this platform's library (ImportError, ValueError)
        print(
            f"pyrender cannot load OpenGL with PYOPENGL_PLATFORM={os.environ.get('PYOPENGL_PLATFORM')} "
            f"({' '.join(str(exc).split()) or type(exc).__name__})",
            file=sys.stderr,
        )
        return 3
    import trimesh

    from gpu_render.render.scene_renderer import DEPTH_MARGIN
    from gpu_render.scene.camera import Pinhole
    from gpu_render.scene.look import Look

    size = int(spec["size"])
    try:
        renderer = pyrender.OffscreenRenderer(size, size)
    except Exception as exc:
        print(
            f"pyrender has no OpenGL context with PYOPENGL_PLATFORM={os.environ.get('PYOPENGL_PLATFORM')} "
            f"({' '.join(str(exc).split()) or type(exc).__name__})",
            file=sys.stderr,
        )
        return 3
    try:
        obj = scene_object(spec["object"], Path(spec["folder"]))
        camera, look = Pinhole(), Look()
        rotation = np.load(spec["poses"])
        positions = np.asarray(obj.positions, dtype=np.float64).reshape(-1, 3)
        tri = trimesh.Trimesh(vertices=positions, faces=np.arange(len(positions)).reshape(-1, 3), process=False)
        material = pyrender.MetallicRoughnessMaterial(
            baseColorFactor=[*((c / 255.0) ** 2.2 for c in look.albedo), 1.0], metallicFactor=0.0, roughnessFactor=1.0
        )
        scene = pyrender.Scene(
            bg_color=[*(c / 255.0 for c in look.background), 1.0], ambient_light=[PYRENDER_AMBIENT] * 3
        )
        node = scene.add(pyrender.Mesh.from_trimesh(tri, material=material, smooth=False))
        k = camera.intrinsics(size)
        d = camera.d
        scene.add(
            pyrender.IntrinsicsCamera(
                k[0, 0], k[1, 1], k[0, 2], k[1, 2], znear=max(d - 1.0 - DEPTH_MARGIN, 1e-3), zfar=d + 1.0 + DEPTH_MARGIN
            ),
            pose=np.eye(4),
        )
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
        print(
            json.dumps(
                {
                    "ready": True,
                    "renderer": GL.glGetString(GL.GL_RENDERER).decode(),
                    "version": GL.glGetString(GL.GL_VERSION).decode(),
                    "platform": os.environ.get("PYOPENGL_PLATFORM"),
                    "msaa_samples": int(samples[0]),
                    "pyrender": pyrender.__version__,
                }
            ),
            flush=True,
        )
        for line in sys.stdin:
            if line.strip() != "run":
                break
            t0, c0 = time.perf_counter(), time.process_time()
            run()
            print(
                json.dumps({"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}), flush=True
            )
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
            cmd = [
                sys.executable,
                str(Path(__file__).resolve().parent / "bench.py"),
                "--pyrender-worker",
                str(spec_path),
            ]
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, env=env
            )
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
