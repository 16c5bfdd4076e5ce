"""What every child process of ours does: die with the process that started it, and hand its
errors back in a form that survives pickling. Used by the build's encoder processes and the
render service's render process."""

from __future__ import annotations

import ctypes
import os
import pickle
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process when the thread that started it ends, even on
    ``kill -9`` of the parent (Linux's ``prctl(PR_SET_PDEATHSIG)``; elsewhere a closed pipe still
    ends an idle child), and exit at once if ``parent`` (its pid) is already gone."""
    prctl = getattr(ctypes.CDLL(None), "prctl", None)
    if prctl is not None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def portable(exc: BaseException, kind: type[BaseException] = RuntimeError) -> BaseException:
    """``exc`` if it survives pickling, else a ``kind`` carrying its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # any exception type may fail to pickle in its own way
        return kind(f"{type(exc).__name__}: {exc}")
    return exc
