"""Which EGL device is a given CUDA device: ``EGL_EXT_device_query`` and ``EGL_CUDA_DEVICE_NV``.

CUDA (and Ray, through ``CUDA_VISIBLE_DEVICES``) number GPUs one way; EGL enumerates its
devices in its own order, ignores ``CUDA_VISIBLE_DEVICES``, and may list non-GPU devices
(Mesa's software device) too. NVIDIA's EGL reports each device's CUDA ordinal through
``eglQueryDeviceAttribEXT(device, EGL_CUDA_DEVICE_NV)`` (extension ``EGL_NV_device_cuda``),
so the EGL device of CUDA device ``c`` is the one reporting ``c``. Where no device reports
one (Mesa, or no ``EGL_EXT_device_query``), the index itself is used, and the choice says so.

:func:`choose_egl_device` is pure (tested against fake device lists); :func:`query_egl_devices`
asks the EGL library. Indices are those of ``eglQueryDevicesEXT``, which is also what
``moderngl.create_context(backend="egl", device_index=...)`` counts.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Sequence
from dataclasses import dataclass

from gpu_render.render.context import Headless, NoOpenGLError

EGL_EXTENSIONS = 0x3055
EGL_CUDA_DEVICE_NV = 0x323A
MAX_DEVICES = 64


class DeviceChoiceError(NoOpenGLError):
    """The CUDA device asked for has no EGL device."""


@dataclass(frozen=True)
class EglDevice:
    """One EGL device: its index in ``eglQueryDevicesEXT``'s list and the CUDA ordinal it
    reports through ``EGL_CUDA_DEVICE_NV`` (None: it reports none, e.g. Mesa's devices)."""

    index: int
    cuda: int | None


@dataclass(frozen=True)
class DeviceChoice:
    """The EGL device index to open, and how it was chosen (one line, for logs and the manifest).
    ``matched``: chosen through EGL_CUDA_DEVICE_NV (False: the index fallback)."""

    index: int
    how: str
    matched: bool


def physical_cuda_device(ordinal: int, visible: str | None) -> int | None:
    """The CUDA device a process sees as ``ordinal``, numbered as without ``CUDA_VISIBLE_DEVICES``.

    visible: the value of ``CUDA_VISIBLE_DEVICES`` (None or empty: unset, all devices in order).
    Returns None when it cannot be told: the entry is a UUID (``GPU-...``) or there is no such entry.
    """
    if visible is None or not visible.strip():
        return ordinal
    entries = [e.strip() for e in visible.split(",")]
    if ordinal >= len(entries):
        return None
    try:
        return int(entries[ordinal])
    except ValueError:
        return None


def choose_egl_device(ordinal: int, devices: Sequence[EglDevice] | None, visible: str | None) -> DeviceChoice:
    """The EGL device for CUDA device ``ordinal`` of this process.

    devices: what :func:`query_egl_devices` found, or None when ``EGL_EXT_device_query`` is missing.
    visible: ``CUDA_VISIBLE_DEVICES`` (None: unset).

    Whether ``EGL_CUDA_DEVICE_NV`` counts devices as this process's CUDA does (after
    ``CUDA_VISIBLE_DEVICES``) or as the machine does is not pinned down by the extension, so
    both are read: when ``CUDA_VISIBLE_DEVICES`` names k devices and the EGL devices report only
    ordinals below k, they count as the process does and ``ordinal`` is matched; otherwise they
    count as the machine does and the device ``CUDA_VISIBLE_DEVICES`` maps ``ordinal`` to is
    matched. Ray's one-device ``CUDA_VISIBLE_DEVICES=N`` is chosen right either way.
    Where no EGL device reports a CUDA ordinal (Mesa), EGL device ``ordinal`` is used.
    Raises DeviceChoiceError when devices report CUDA ordinals but none is the one asked for.
    """
    if ordinal < 0:
        raise ValueError(f"CUDA device ordinal must be >= 0, got {ordinal}")
    target = physical_cuda_device(ordinal, visible)
    if devices is None:
        fallback = ordinal if target is None else target
        return DeviceChoice(fallback, f"EGL device {fallback} by index (no EGL_EXT_device_query)", False)
    reported = {d.cuda: d.index for d in devices if d.cuda is not None}
    if not reported:
        return DeviceChoice(ordinal, f"EGL device {ordinal} by index (no EGL device reports EGL_CUDA_DEVICE_NV)", False)
    if visible is not None and visible.strip():
        count = len(visible.split(","))
        if ordinal in reported and all(c < count for c in reported):
            return DeviceChoice(
                reported[ordinal],
                f"EGL device {reported[ordinal]} is CUDA device {ordinal} of this process "
                f"(EGL_CUDA_DEVICE_NV, counted after CUDA_VISIBLE_DEVICES={visible.strip()})",
                True,
            )
    if target is None:
        return DeviceChoice(
            ordinal, f"EGL device {ordinal} by index (CUDA_VISIBLE_DEVICES={visible} names no CUDA ordinal)", False
        )
    if target not in reported:
        raise DeviceChoiceError(
            f"CUDA device {target} has no EGL device (EGL devices report CUDA devices {sorted(reported)})"
        )
    return DeviceChoice(
        reported[target], f"EGL device {reported[target]} is CUDA device {target} (EGL_CUDA_DEVICE_NV)", True
    )


def query_egl_devices() -> list[EglDevice] | None:
    """The EGL devices of this machine with the CUDA ordinal each reports; None when the EGL
    library or ``EGL_EXT_device_query`` / ``EGL_EXT_device_enumeration`` is missing."""
    name = ctypes.util.find_library("EGL") or "libEGL.so.1"
    try:
        egl = ctypes.CDLL(name)
    except OSError:
        return None
    egl.eglQueryString.restype = ctypes.c_char_p
    egl.eglQueryString.argtypes = [ctypes.c_void_p, ctypes.c_int]
    client = (egl.eglQueryString(None, EGL_EXTENSIONS) or b"").decode().split()
    if "EGL_EXT_device_query" not in client and "EGL_EXT_device_base" not in client:
        return None
    egl.eglGetProcAddress.restype = ctypes.c_void_p
    egl.eglGetProcAddress.argtypes = [ctypes.c_char_p]
    procs = {
        n: egl.eglGetProcAddress(n.encode())
        for n in ("eglQueryDevicesEXT", "eglQueryDeviceAttribEXT", "eglQueryDeviceStringEXT")
    }
    if not all(procs.values()):
        return None
    query_devices = ctypes.CFUNCTYPE(
        ctypes.c_uint, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_int)
    )(procs["eglQueryDevicesEXT"])
    query_attrib = ctypes.CFUNCTYPE(ctypes.c_uint, ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_ssize_t))(
        procs["eglQueryDeviceAttribEXT"]
    )
    query_string = ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int)(procs["eglQueryDeviceStringEXT"])
    handles = (ctypes.c_void_p * MAX_DEVICES)()
    count = ctypes.c_int(0)
    if not query_devices(MAX_DEVICES, handles, ctypes.byref(count)):
        return None
    devices = []
    for i in range(count.value):
        extensions = (query_string(handles[i], EGL_EXTENSIONS) or b"").decode().split()
        cuda: int | None = None
        if "EGL_NV_device_cuda" in extensions:
            value = ctypes.c_ssize_t(-1)
            if query_attrib(handles[i], EGL_CUDA_DEVICE_NV, ctypes.byref(value)) and value.value >= 0:
                cuda = int(value.value)
        devices.append(EglDevice(i, cuda))
    return devices


def egl_device_for_cuda(ordinal: int) -> DeviceChoice:
    """The EGL device of this process's CUDA device ``ordinal`` (``CUDA_VISIBLE_DEVICES`` respected)."""
    return choose_egl_device(ordinal, query_egl_devices(), os.environ.get("CUDA_VISIBLE_DEVICES"))


def headless_on(ordinal: int) -> Headless:
    """A headless context on GPU ``ordinal``, numbered as CUDA numbers it (``CUDA_VISIBLE_DEVICES``
    respected): the one device numbering of every command (build, presets, stream, serve).
    Raises DeviceChoiceError (a NoOpenGLError) when that CUDA device has no EGL device."""
    return Headless(egl_device_for_cuda(ordinal).index)
