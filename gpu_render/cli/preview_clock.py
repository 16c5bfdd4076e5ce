"""The preview's playback clock: which pose is due when, from the time elapsed since Space.

Playing advances PLAY_RATE poses a second by the clock, however often the window's loop wakes
(events, a slow frame): the pose shown ``t`` seconds after play started is ``floor(t * rate)``
poses on. Pure arithmetic on times in seconds (``time.monotonic()``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Poses a second while playing.
PLAY_RATE = 60.0
#: Slack, in poses, for times that are exact multiples of 1 / rate but round just below them.
_ROUNDING = 1e-6


@dataclass(frozen=True)
class PlayClock:
    """started: the monotonic time (s) play started; rate: poses a second (> 0)."""

    started: float
    rate: float = PLAY_RATE

    def poses_due(self, now: float) -> int:
        """Poses to have advanced by ``now`` (s): ``floor((now - started) * rate)``, at least 0."""
        return max(0, math.floor((now - self.started) * self.rate + _ROUNDING))

    def due_time(self, poses: int) -> float:
        """The time (s) at which ``poses`` poses are due: the earliest ``now`` with poses_due(now) >= poses."""
        return self.started + poses / self.rate

    def advance(self, shown: int, now: float) -> int:
        """Poses to step at ``now`` when ``shown`` poses have been stepped since start (>= 0;
        more than one after a slow frame, 0 when woken early)."""
        return max(0, self.poses_due(now) - shown)
