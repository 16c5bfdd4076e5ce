"""Progress for long builds: a tqdm bar on a terminal, a plain line every while in a log."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

#: Seconds between progress lines when stderr is not a terminal.
LOG_INTERVAL = 15.0


class Progress:
    """Counts items (``unit``: poses, images) done out of ``total``, ``initial`` of them before this run."""

    def __init__(
        self,
        total: int,
        initial: int,
        desc: str,
        enabled: bool = True,
        stream: TextIO | None = None,
        unit: str = "pose",
    ) -> None:
        self.stream = stream or sys.stderr
        self.total, self.done, self.desc, self.unit = total, initial, desc, unit
        self.enabled = enabled
        self._bar: tqdm | None = None
        self._start = time.perf_counter()
        self._start_done = initial
        self._last = self._start
        if enabled and self.stream.isatty():
            self._bar = tqdm(total=total, initial=initial, unit=unit, desc=desc, file=self.stream, smoothing=0.1)

    def update(self, poses: int) -> None:
        self.done += poses
        if self._bar is not None:
            self._bar.update(poses)
            return
        now = time.perf_counter()
        if self.enabled and now - self._last >= LOG_INTERVAL:
            self._last = now
            rate = (self.done - self._start_done) / (now - self._start)
            left = (self.total - self.done) / rate if rate > 0 else float("inf")
            print(
                f"{self.desc}: {self.done}/{self.total} {self.unit}s ({self.done / max(1, self.total):.1%}), "
                f"{rate:.0f} {self.unit}s/s, {_clock(left)} left",
                file=self.stream,
                flush=True,
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _clock(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
