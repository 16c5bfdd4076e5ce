"""A virtual X display for the window tests (installed by .ci/run: apt-get install xvfb xdotool)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def virtual_display() -> Iterator[str]:
    """Start Xvfb on a free display number; yields the DISPLAY value."""
    xvfb = shutil.which("Xvfb")
    assert xvfb, "Xvfb is not installed: the window tests need it (apt-get install -y xvfb xdotool)"
    for number in range(90, 140):
        if not os.path.exists(f"/tmp/.X11-unix/X{number}") and not os.path.exists(f"/tmp/.X{number}-lock"):
            break
    else:
        raise AssertionError("no free X display number in :90..:139")
    proc = subprocess.Popen(
        [xvfb, f":{number}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(f"/tmp/.X11-unix/X{number}"):
            assert proc.poll() is None, "Xvfb exited at start"
            assert time.monotonic() < deadline, "Xvfb did not start within 20 s"
            time.sleep(0.05)
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def xdotool(display: str, *args: str, check: bool = True) -> str:
    tool = shutil.which("xdotool")
    assert tool, "xdotool is not installed: the key-event tests need it (apt-get install -y xdotool)"
    p = subprocess.run(
        [tool, *args], capture_output=True, text=True, env={**os.environ, "DISPLAY": display}, timeout=30
    )
    assert p.returncode == 0 or not check, p.stderr
    return p.stdout.strip()
