"""One writer per OUT: an exclusive ``fcntl.flock`` on a lock file inside OUT.

A plain build locks ``OUT/.lock``; a ``--shard K/N`` build locks only ``OUT/.lock-shard-K-of-N``,
so shards of one OUT still run side by side and the sealing build waits for none of them.
The kernel drops the lock when its process dies (even on ``kill -9``), so a stale lock file
never blocks a resume. After locking, the holder writes its pid, host and start time into
the file, so that a refused build can name it. A lock file is removed when its build ends
(while still locked, so the next build never locks a file that is gone), and a leftover one
is neither part of the dataset nor foreign to it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from contextlib import suppress
from pathlib import Path

from gpu_render.errors import UsageError

LOCK = ".lock"
SHARD_LOCK_PREFIX = ".lock-shard-"


def is_lock_file(name: str) -> bool:
    """Whether ``name`` is one of the lock files builds keep in OUT."""
    return name == LOCK or name.startswith(SHARD_LOCK_PREFIX)


def lock_path(out: Path, shard: tuple[int, int] | None) -> Path:
    """The file a build of ``out`` (or of shard K/N of it) locks."""
    return out / (LOCK if shard is None else f"{SHARD_LOCK_PREFIX}{shard[0]}-of-{shard[1]}")


class BuildLock:
    """The exclusive lock of one build (or one shard) on OUT.

    :meth:`acquire` takes it without waiting, or raises UsageError naming the process that
    holds it; :meth:`release` gives it back and removes the lock file.
    """

    def __init__(self, out: Path, shard: tuple[int, int] | None = None) -> None:
        self.out = out
        self.shard = shard
        self.path = lock_path(out, shard)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Lock OUT for this process. OUT must exist.

        Raises UsageError when another process holds the lock, OSError when the lock file
        cannot be created (e.g. OUT is not writable).
        """
        if self._fd is not None:
            return
        while True:
            try:  # never through a symbolic link: the lock file's pid line would overwrite its target
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise UsageError(
                        f"--out {self.out}: {self.path} is a symbolic link, not a lock file of a build; remove it"
                    ) from None
                raise
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _describe(fd)
                os.close(fd)
                what = "" if self.shard is None else f" of shard {self.shard[0]}/{self.shard[1]}"
                raise UsageError(
                    f"--out {self.out} is locked by another build{what} ({holder}); "
                    "wait for it to finish, or choose another --out"
                ) from None
            except BaseException:
                os.close(fd)
                raise
            # The holder before us removes the file while it still holds the lock: if we opened
            # the file just before that, we now hold a lock on a file that is gone. Try again.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self._fd = fd
        try:
            info = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            data = (json.dumps(info) + "\n").encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Remove the lock file and drop the lock (nothing happens when it is not held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            # The file may be gone already (OUT removed by hand); the lock goes with the descriptor.
            with suppress(FileNotFoundError):
                os.unlink(self.path)
        finally:
            os.close(fd)

    def __enter__(self) -> BuildLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _describe(fd: int) -> str:
    """Who holds the lock, from what the holder wrote into the file: 'pid P on host H since T'."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "null")
    except (OSError, ValueError):
        info = None
    if not isinstance(info, dict):
        return "a process that has not yet written its pid"
    return f"pid {info.get('pid')} on host {info.get('host')}, started {info.get('started')}"
