"""Where OpenGL contexts are made. Renderers receive a context and never create one.

Two kinds side by side behind one small interface (:class:`Surface`): a headless EGL
context (NVIDIA, or Mesa llvmpipe on a CPU-only machine) and a glfw window.
"""

from __future__ import annotations

import os
import re
from typing import Protocol

import moderngl

#: The oldest OpenGL the shaders accept (``#version 330 core``).
MIN_GL_VERSION = 330

INSTALL_HINT = (
    "install an OpenGL driver with EGL: on Debian/Ubuntu `apt-get install libegl1 libegl-mesa0 "
    "libgl1-mesa-dri` (Mesa llvmpipe, CPU only), or the NVIDIA driver"
)


class NoOpenGLError(RuntimeError):
    """No usable OpenGL 3.3 context could be created."""


class ForkedContextError(NoOpenGLError):
    """This process was forked from one that had opened an EGL context: drawing here can hang."""


#: The process ids that opened a :class:`Headless` context. A forked child inherits this set,
#: so a process id other than its own names an ancestor that had opened one before the fork.
_OPENED_IN: set[int] = set()


def inherited_contexts() -> list[int]:
    """Process ids of the ancestors that had opened an EGL context before this process was forked.

    Empty in a process that was not forked, or whose parent never opened a :class:`Headless`.
    Closing the context does not help: Mesa llvmpipe keeps its screen, whose rasterizer threads
    a fork does not copy, and a child drawing with it waits for them for ever (measured).
    """
    me = os.getpid()
    return sorted(pid for pid in _OPENED_IN if pid != me)


def check_fork_safe(what: str) -> None:
    """Raise :class:`ForkedContextError` (one line naming ``what`` and the fix) if this process
    was forked from one that had opened an EGL context, where a new context's first draw can
    hang in Mesa."""
    parents = inherited_contexts()
    if parents:
        raise ForkedContextError(
            f"{what}: this process was forked from process {parents[0]}, which had opened an OpenGL "
            "context, and drawing here can hang in Mesa; open no GL context in the parent before "
            "the DataLoader starts its workers (do not iterate the dataset there first), or use "
            "DataLoader(..., multiprocessing_context='spawn')"
        )


class Surface(Protocol):
    """What the build, the preview and the tests need from a context holder."""

    ctx: moderngl.Context

    def close(self) -> None: ...


def _check_version(ctx: moderngl.Context, what: str) -> None:
    if ctx.version_code < MIN_GL_VERSION:
        found = ctx.info.get("GL_VERSION", str(ctx.version_code))
        ctx.release()
        raise NoOpenGLError(f"{what} offers OpenGL {found}; gpu_render needs 3.3 or later; {INSTALL_HINT}")


class Headless:
    """An offscreen EGL context. ``device`` is the EGL device index (0: the first)."""

    def __init__(self, device: int = 0) -> None:
        if device < 0:
            raise ValueError(f"EGL device index must be >= 0, got {device}")
        try:
            # moderngl's stub types each of **settings as a dict; they are the backend's keywords.
            self.ctx = moderngl.create_context(
                standalone=True,
                backend="egl",  # type: ignore[arg-type]
                require=MIN_GL_VERSION,
                device_index=device,  # type: ignore[arg-type]
            )
        except Exception as exc:  # glcontext raises bare Exception for every EGL failure
            detail = " ".join(str(exc).split())
            found = re.search(r"requested device index \d+, but found (\d+) devices", detail)
            if found and int(found.group(1)) > 0:
                raise NoOpenGLError(
                    f"EGL device {device} does not exist: this machine has {found.group(1)} (--device 0.."
                    f"{int(found.group(1)) - 1})"
                ) from exc
            raise NoOpenGLError(f"no headless OpenGL (EGL device {device}: {detail}); {INSTALL_HINT}") from exc
        _check_version(self.ctx, f"EGL device {device}")
        _OPENED_IN.add(os.getpid())

    @property
    def renderer_name(self) -> str:
        """GL_RENDERER of this context, e.g. ``llvmpipe (LLVM 15.0.6, 256 bits)``."""
        return str(self.ctx.info["GL_RENDERER"])

    def close(self) -> None:
        self.ctx.release()

    def __enter__(self) -> Headless:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NoDisplayError(RuntimeError):
    """A window was asked for, but there is no display to open it on."""


NO_DISPLAY_HINT = (
    "run it under a virtual display (`xvfb-run -a python -m gpu_render.preview ...`) "
    "or use the headless build (`python -m gpu_render.build`)"
)


class Window:
    """A glfw window with an OpenGL 3.3 core context, for the interactive preview.

    width, height: requested window size in screen coordinates. visible: show it on screen.
    ``ctx`` draws into the window; :meth:`framebuffer_size` is its size in pixels.
    """

    def __init__(self, width: int, height: int, title: str, visible: bool = True) -> None:
        import glfw  # only windowed use needs it loaded

        self._glfw = glfw
        glfw.ERROR_REPORTING = "raise"  # errors become exceptions here, never stray warnings
        try:
            glfw.init()
        except glfw.GLFWError as exc:
            raise NoDisplayError(f"no display ({_glfw_reason(exc)}); {NO_DISPLAY_HINT}") from None
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        glfw.window_hint(glfw.VISIBLE, visible)
        try:
            self.handle = glfw.create_window(width, height, title, None, None)
        except glfw.GLFWError as exc:
            glfw.terminate()
            raise NoOpenGLError(f"cannot open an OpenGL 3.3 window ({_glfw_reason(exc)}); {INSTALL_HINT}") from None
        glfw.make_context_current(self.handle)
        glfw.swap_interval(1)
        self.ctx = moderngl.create_context(require=MIN_GL_VERSION)
        _check_version(self.ctx, "the window's context")

    def window_size(self) -> tuple[int, int]:
        """The window's size in screen coordinates (what cursor positions are measured in)."""
        w, h = self._glfw.get_window_size(self.handle)
        return int(w), int(h)

    def framebuffer_size(self) -> tuple[int, int]:
        """The drawable size in pixels (differs from the window size on HiDPI screens)."""
        w, h = self._glfw.get_framebuffer_size(self.handle)
        return int(w), int(h)

    def close(self) -> None:
        self.ctx.release()
        self._glfw.destroy_window(self.handle)
        self._glfw.terminate()

    def __enter__(self) -> Window:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _glfw_reason(exc: Exception) -> str:
    text = str(exc)
    m = re.search(r"b['\"](.*)['\"]", text)
    return m.group(1) if m else text
