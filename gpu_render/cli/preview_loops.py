"""The preview's two ways to run on its window: interactive (keys, mouse, play) and scripted
(draw the given poses once and save each as a screenshot). glfw is imported here, lazily."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from gpu_render.cli.preview_clock import PlayClock

if TYPE_CHECKING:
    from gpu_render.cli.preview import Preview


def run_interactive(preview: Preview) -> None:
    import glfw

    handle = preview.window.handle
    up_down, page = preview.grid_steps()
    keys = {
        glfw.KEY_RIGHT: 1,
        glfw.KEY_LEFT: -1,
        glfw.KEY_UP: up_down,
        glfw.KEY_DOWN: -up_down,
        glfw.KEY_PAGE_UP: page,
        glfw.KEY_PAGE_DOWN: -page,
    }
    pending_screenshot = [False]

    def on_key(_w: object, key: int, _scancode: int, action: int, _mods: int) -> None:
        if action not in (glfw.PRESS, glfw.REPEAT):
            return
        if key in keys:
            preview.step(keys[key])
        elif key == glfw.KEY_SPACE and action == glfw.PRESS:
            preview.playing = not preview.playing
        elif key == glfw.KEY_A and action == glfw.PRESS:
            preview.toggle_antialias()
        elif key == glfw.KEY_S and action == glfw.PRESS:
            pending_screenshot[0] = True  # taken right after the next frame is drawn
        elif key in (glfw.KEY_ESCAPE, glfw.KEY_Q):
            glfw.set_window_should_close(handle, True)

    # Events arrive in order but are handled in batches, so querying the cursor when the button
    # goes down could already see where it went next: follow it through its own events instead.
    cursor = list(glfw.get_cursor_pos(handle))

    def on_button(_w: object, button: int, action: int, _mods: int) -> None:
        if button == glfw.MOUSE_BUTTON_LEFT:
            if action == glfw.PRESS:
                preview.begin_drag(*cursor)
            else:
                preview.end_drag()

    def on_cursor(_w: object, x: float, y: float) -> None:
        cursor[:] = [x, y]
        preview.drag_to(x, y)

    glfw.set_key_callback(handle, on_key)
    glfw.set_mouse_button_callback(handle, on_button)
    glfw.set_cursor_pos_callback(handle, on_cursor)

    frames, since = 0, time.perf_counter()
    fps: float | None = None
    shown = preview.title()
    glfw.set_window_title(handle, shown)
    clock: PlayClock | None = None  # while playing: when play started
    played = 0  # poses stepped by the clock since then
    while not glfw.window_should_close(handle):
        if preview.playing:
            if clock is None:
                clock, played = PlayClock(time.monotonic()), 0
            # Wait on events until the next pose is due: an unthrottled loop burns a core and
            # floods the X server with title changes, and keys then arrive late. Any event wakes
            # the loop early, so the pose follows the clock, not the wake-ups.
            glfw.wait_events_timeout(max(0.0, clock.due_time(played + 1) - time.monotonic()))
            if preview.playing:  # Space may have paused it meanwhile
                steps = clock.advance(played, time.monotonic())
                if steps:
                    preview.step(steps)
                    played += steps
        else:
            clock = None
            glfw.wait_events_timeout(0.25)  # idle without spinning
        preview.draw()
        if pending_screenshot[0]:
            pending_screenshot[0] = False
            path = preview.save_screenshot(preview.next_screenshot_path())
            print(f"saved {path}", flush=True)
        glfw.swap_buffers(handle)
        frames += 1
        now = time.perf_counter()
        if now - since >= 0.5:
            fps, frames, since = frames / (now - since), 0, now
        title = preview.title(fps)
        if title != shown:  # only a change goes to the window system
            shown = title
            glfw.set_window_title(handle, shown)


def run_scripted(preview: Preview, poses: list[int], screenshot: str) -> list[Path]:
    """Draw each pose once and save what the window shows; returns the files written."""
    import glfw

    written = []
    glfw.poll_events()
    for index in poses:
        preview.set_pose(index)
        preview.draw()
        path = Path(screenshot.replace("{pose}", str(index)))  # only {pose} is special: "{x}" is a name
        written.append(preview.save_screenshot(path))
        glfw.set_window_title(preview.window.handle, preview.title())
        glfw.swap_buffers(preview.window.handle)
        glfw.poll_events()
    return written
