"""How the build tells an encoder process that makes no progress from a slow one.

A worker holding work that neither uses CPU time nor reads or writes anything for a while
(stopped by SIGSTOP, stuck on a hung filesystem) makes no progress; one encoding a large image
slowly does. :mod:`gpu_render.dataset.encoder_pool` looks at its workers with :func:`activity`
and treats one that stood still for :func:`stall_seconds` as dead. Linux's /proc only; where a
process is not found there, nothing counts as standing still.
"""

from __future__ import annotations

import os
from pathlib import Path

from gpu_render.errors import UsageError

#: Seconds a worker holding work may go without progress before it is treated as dead.
STALL_SECONDS = 120.0
#: The environment variable that sets another such bound, in seconds.
STALL_ENV = "GPU_RENDER_ENCODER_STALL_SECONDS"
#: What a process's state letter (``/proc/PID/stat``) says about a worker making no progress.
_STATES = {
    "T": "stopped by a signal",
    "t": "stopped by a debugger",
    "D": "waiting on a disk or filesystem",
    "S": "sleeping",
    "R": "running",
    "Z": "a zombie",
}


def stall_seconds() -> float:
    """The bound on a worker's time without progress, s: $GPU_RENDER_ENCODER_STALL_SECONDS, else
    STALL_SECONDS. Raises UsageError (one line) for a value that is not a positive number."""
    text = os.environ.get(STALL_ENV)
    if text is None or not text.strip():
        return STALL_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise UsageError(f"{STALL_ENV} must be a number of seconds above 0, got {text!r}")
    return value


def activity(pid: int) -> tuple[str, tuple[int, ...]] | None:
    """Process ``pid``'s state letter and what moves while it works: its CPU time (user and
    system clock ticks) and the bytes it has read and written (/proc/PID/io, where readable).
    None where /proc does not have the process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...
    return fields[0], (int(fields[11]), int(fields[12]), *_io_bytes(pid))  # utime, stime, I/O


def _io_bytes(pid: int) -> tuple[int, ...]:
    """(bytes read, bytes written) by process ``pid`` (/proc/PID/io), or () where unreadable."""
    try:
        io = dict(line.split(": ", 1) for line in Path(f"/proc/{pid}/io").read_text().splitlines())
        return int(io["rchar"]), int(io["wchar"])
    except (OSError, KeyError, ValueError):  # another user's process, or no such file here
        return ()


def state_words(state: str) -> str:
    """A /proc state letter in words, for the message that names a stalled worker."""
    return _STATES.get(state, f"state {state}" if state else "state unknown")
