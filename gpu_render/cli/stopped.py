"""How a build command says why it stopped: one line on stderr and an exit status, the same
for ``python -m gpu_render.build`` and its ``--preset`` builds."""

from __future__ import annotations

import errno
import sys

from gpu_render.dataset.encoder_pool import WorkerError
from gpu_render.errors import UsageError
from gpu_render.render.context import NoOpenGLError

#: What a build may stop with; anything else is a bug and keeps its traceback.
STOPS = (UsageError, NoOpenGLError, WorkerError, OSError, MemoryError, KeyboardInterrupt)
#: What a build that ran out of memory can change; running it again as it is would not help.
SMALLER = "free memory, or use a smaller --batch (in a new --out) or fewer --sizes"


def report_stop(prog: str, exc: BaseException) -> int:
    """Print why the build stopped (``exc``, one of :data:`STOPS`) in one line; return the exit
    status: 2, or 130 after Ctrl-C. Every message but a usage error or a lack of memory says how
    to resume."""
    resume = "re-run the same command to resume"
    if isinstance(exc, KeyboardInterrupt):
        print(f"{prog}: interrupted; {resume}", file=sys.stderr)
        return 130
    if isinstance(exc, (UsageError, NoOpenGLError)):
        print(f"{prog}: error: {exc}", file=sys.stderr)
    elif isinstance(exc, WorkerError):
        print(f"{prog}: error: {exc}; {exc.resume or resume}", file=sys.stderr)
    elif isinstance(exc, MemoryError) or (isinstance(exc, OSError) and exc.errno == errno.ENOMEM):
        why = (exc.strerror if isinstance(exc, OSError) else str(exc)) or "cannot allocate memory"
        print(f"{prog}: error: out of memory: {why}; {SMALLER}", file=sys.stderr)
    elif isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        print(f"{prog}: error: writing{where} failed: {exc.strerror or exc}; fix that and {resume}", file=sys.stderr)
    else:
        raise TypeError(f"not a build stop: {type(exc).__name__}") from exc
    return 2
