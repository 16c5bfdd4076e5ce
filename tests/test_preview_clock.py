"""The preview plays 60 poses a second by the clock, whatever the rate its loop wakes at:
the pose advance as a pure function of times (no window, no sleeping)."""

from __future__ import annotations

import numpy as np
import pytest

from gpu_render.cli.preview_clock import PLAY_RATE, PlayClock


def play(clock: PlayClock, wakes: np.ndarray) -> list[int]:
    """What the window loop steps at each wake-up time: the steps, in order."""
    shown, steps = 0, []
    for now in wakes:
        step = clock.advance(shown, float(now))
        assert step >= 0
        shown += step
        steps.append(step)
    return steps


@pytest.mark.parametrize("wake_rate", [85.0, 60.0, 144.0, 30.0, 7.0])
def test_sixty_poses_a_second_at_any_wake_up_rate(wake_rate: float) -> None:
    start = 1234.5
    clock = PlayClock(start)
    seconds = 10
    wakes = start + np.arange(1, int(seconds * wake_rate) + 1) / wake_rate
    steps = play(clock, wakes)
    assert PLAY_RATE == 60
    assert sum(steps) == 600  # 10 s at 60 poses a second, not one pose per wake-up
    if wake_rate > PLAY_RATE:
        assert max(steps) == 1 and steps.count(0) == len(wakes) - 600  # early wake-ups step nothing
    else:
        assert min(steps) >= 1 and max(steps) == int(np.ceil(PLAY_RATE / wake_rate))  # slow frames catch up


def test_irregular_wake_ups_follow_the_clock() -> None:
    rng = np.random.default_rng(7)
    clock = PlayClock(50.0)
    wakes = 50.0 + np.cumsum(rng.exponential(1 / 85, 2000))  # events at random times
    shown = 0
    for now in wakes:
        shown += clock.advance(shown, float(now))
        assert shown == int(np.floor((now - 50.0) * 60)), now


def test_due_time_is_when_the_pose_is_due() -> None:
    clock = PlayClock(1e5)  # a large monotonic reading, as after days of uptime
    for poses in (1, 2, 3, 59, 60, 61, 3599, 10**6):
        at = clock.due_time(poses)
        assert clock.poses_due(at) == poses, poses
        assert clock.poses_due(at - 1e-4) == poses - 1, poses
    assert clock.poses_due(clock.started - 5.0) == 0  # never backwards
    assert clock.advance(10, clock.due_time(5)) == 0


def test_rate_is_a_parameter() -> None:
    clock = PlayClock(0.0, rate=24.0)
    steps = play(clock, np.arange(1, 101) / 50)  # 2 s of 50 wake-ups a second
    assert sum(steps) == 48 and set(steps) == {0, 1}
