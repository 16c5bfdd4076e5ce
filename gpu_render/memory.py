"""Whether a batch's image buffers fit in this machine's memory, checked before they are allocated.

Where the buffers live: a build's chunk slots (:class:`~gpu_render.dataset.encoder_pool.EncoderPool`)
are anonymous shared mappings (``mmap(-1, MAP_SHARED)``) and the service's image buffer is a
memfd. Both are the kernel's internal shared memory, not files on the ``/dev/shm`` mount, so that
mount's size does not bound them (a 64 MiB ``/dev/shm`` in a container does not matter); they
are RAM of the process (``Shmem`` in /proc/meminfo), charged to its cgroup. What bounds them is
therefore the RAM available (``MemAvailable``) and the cgroup's limit (``memory.max``, or
``memory.limit_in_bytes`` on cgroup v1) less what the cgroup already uses. A build that
allocated more would be refused by the kernel (ENOMEM) or, under a cgroup limit, be killed by
the out-of-memory killer as it fills the buffers, without a word.

``GPU_RENDER_MEMORY_LIMIT`` (bytes, or a number with K, M, G or T: powers of 1024) overrides
what is available, to keep room for other work or to test the refusals.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from gpu_render.errors import UsageError

#: The environment variable that sets the memory a build may use, overriding what is measured.
LIMIT_ENV = "GPU_RENDER_MEMORY_LIMIT"
#: Share of the available memory a batch's buffers may take: the rest is for everything else
#: (Python, the labels, the GL driver, the page cache of the files being written).
USABLE_SHARE = 0.8
#: A cgroup v1 limit at or above this means no limit.
_NO_LIMIT = 2**60
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def batch_bytes(batch: int, sizes: tuple[int, ...], slots: int, layers: bool, atlas_side: int) -> int:
    """Bytes of host memory the image buffers of chunks of ``batch`` poses take.

    sizes: image sides, px. slots: chunks held at once in shared memory, each ``batch`` x S x S
    x 3 uint8 per size. Each size's renderer also holds a readback staging array of one atlas
    column (min(batch, atlas_side // S) tiles of S x S x 3 bytes; atlas_side: the renderers'
    largest atlas side, px, :data:`gpu_render.render.atlas.MAX_ATLAS_SIDE`), and with ``layers`` one chunk's
    mask (uint8) and depth (float32), batch x S x S x 5 bytes, at the largest size. Pure.
    """
    images = sum(batch * s * s * 3 for s in sizes)
    staging = sum(min(batch, max(1, atlas_side // s)) * s * s * 3 for s in sizes)
    extra = batch * max(sizes) ** 2 * 5 if layers else 0
    return slots * images + staging + extra


def largest_batch(
    available: int, sizes: tuple[int, ...], slots: int, layers: bool, atlas_side: int, ceiling: int = 2**31
) -> int:
    """The largest batch (at most ``ceiling``) whose buffers (:func:`batch_bytes`) fit in
    ``available`` bytes; 0 if not even one pose's do. Pure."""
    low, high = 0, ceiling  # batch_bytes grows with the batch: bisect
    while low < high:
        mid = (low + high + 1) // 2
        if batch_bytes(mid, sizes, slots, layers, atlas_side) <= available:
            low = mid
        else:
            high = mid - 1
    return low


def parse_bytes(text: str) -> int:
    """``"123"``, ``"512M"``, ``"1.5G"``... as bytes; ValueError for anything else."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([KMGT]?)i?B?\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(text)
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def available_memory() -> tuple[int, str] | None:
    """Bytes this process may still fill, and where that figure comes from; None where the
    system does not say. The least of $GPU_RENDER_MEMORY_LIMIT (when set, it alone counts),
    MemAvailable, and the room left under each cgroup memory limit above this process."""
    text = os.environ.get(LIMIT_ENV)
    if text is not None and text.strip():
        try:
            return parse_bytes(text), LIMIT_ENV
        except ValueError:
            raise UsageError(f"{LIMIT_ENV} must be a number of bytes (or with K, M, G or T), got {text!r}") from None
    found = [(n, "MemAvailable") for n in [_meminfo_available()] if n is not None]
    found += [(n, "the cgroup's memory limit") for n in [_cgroup_room()] if n is not None]
    return min(found) if found else None


def human(n: int) -> str:
    """Bytes in GiB (one decimal) from 1 GiB up, else in MiB."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def check_batch(
    batch: int, sizes: tuple[int, ...], slots: int, layers: bool, atlas_side: int, what: str, fix: str
) -> None:
    """Refuse (UsageError, one line) a batch whose buffers (:func:`batch_bytes`) do not fit in
    USABLE_SHARE of the available memory. what: names the batch (``--batch 512 at sizes 2048``);
    fix: how to use the batch that fits, with ``{batch}`` for it."""
    found = available_memory()
    if found is None:
        return
    available, source = found
    usable = int(available * USABLE_SHARE)
    need = batch_bytes(batch, sizes, slots, layers, atlas_side)
    if need <= usable:
        return
    fits = largest_batch(usable, sizes, slots, layers, atlas_side)
    how = fix.format(batch=fits) if fits else "not even one pose fits: use smaller sizes or free memory"
    raise UsageError(
        f"{what} needs {human(need)} of memory for its image buffers, more than {USABLE_SHARE:.0%} of the "
        f"{human(available)} available ({source}); {how}"
    )


def buffer_size(need: int, wanted: int) -> int:
    """The size of a shared image buffer to make: ``wanted`` bytes if they fit in USABLE_SHARE
    of the available memory, else ``need`` if that does. Raises MemoryError (one line) if not even
    ``need`` bytes fit, rather than let the process be killed as it fills the buffer."""
    found = available_memory()
    if found is None:
        return wanted
    usable = int(found[0] * USABLE_SHARE)
    if need > usable:
        raise MemoryError(
            f"the images need {human(need)} of shared memory, more than {USABLE_SHARE:.0%} of the "
            f"{human(found[0])} available ({found[1]})"
        )
    return wanted if wanted <= usable else need


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def _inactive_file(folder: Path) -> int:
    """Page cache the kernel reclaims before it kills anything, in a cgroup's memory.stat."""
    try:
        stat = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
    except (OSError, ValueError):
        return 0
    return int(stat.get("inactive_file", stat.get("total_inactive_file", 0)))


def _cgroup_room() -> int | None:
    """The least room (limit - usage + reclaimable cache) under the memory limits of this
    process's cgroup and its ancestors, v2 or v1; None without a limit."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    rooms = []
    mounts: tuple[str, ...]
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            mounts, limit, usage = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"), "memory.max", "memory.current"
        elif "memory" in controllers.split(","):
            mounts, limit, usage = ("/sys/fs/cgroup/memory",), "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        for mount in mounts:
            folder = Path(mount + path)
            while True:  # this cgroup, then each parent up to the mount (a namespace's root)
                cap, used = _read_int(folder / limit), _read_int(folder / usage)
                if cap is not None and cap < _NO_LIMIT and used is not None:
                    rooms.append(max(0, cap - used + _inactive_file(folder)))
                if str(folder) == mount or folder == folder.parent:
                    break
                folder = folder.parent
    return min(rooms) if rooms else None


def physical_memory() -> int | None:
    """Bytes of RAM on this machine, or None where the system does not say."""
    try:
        pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None
    return pages * page if pages > 0 and page > 0 else None
