"""The Ray cluster as a build sees it: importing Ray (an optional extra), joining or starting
a cluster, sizing workers to its nodes, and Ray's errors as one line. Ray is imported only
inside :func:`import_ray`, so a local build never needs it."""

from __future__ import annotations

import logging
import re
import socket
import sys
from dataclasses import dataclass
from typing import Any

from gpu_render.errors import UsageError
from gpu_render.extras import MissingExtra, needs

#: CPUs of one worker on a CPU-only cluster when --worker-cpus is not given.
CPU_WORKER_CPUS = 2


@dataclass(frozen=True)
class Sizing:
    """workers: actors to start. cpus, gpus: what each asks Ray for. encoders: its encoder processes."""

    workers: int
    cpus: int
    gpus: int
    encoders: int


def worker_sizing(
    resources: dict[str, float],
    worker_cpus: int | None,
    chunks: int,
    nodes: list[dict[str, float]] | None = None,
) -> Sizing:
    """How many workers of what size a cluster of ``resources`` (``ray.cluster_resources()``)
    runs: one per GPU, or on a CPU-only cluster one per ``worker_cpus`` CPUs; never more than
    ``chunks``. A worker's CPUs are its render process plus its encoders.

    nodes: each live node's resources (``ray.nodes()[i]["Resources"]``), when known. A GPU
    worker must fit on one GPU node, so its default size is the CPUs per GPU of the leanest GPU
    node (a head with CPUs but no GPU adds none), and each node runs as many as fit on it.
    """
    cpus, gpus = int(resources.get("CPU", 0)), int(resources.get("GPU", 0))
    gpu_nodes = [(int(n.get("CPU", 0)), int(n.get("GPU", 0))) for n in nodes or [] if n.get("GPU", 0) >= 1]
    if gpus and gpu_nodes:
        per = worker_cpus or max(1, min(c // g for c, g in gpu_nodes))
        if per > max(c for c, _ in gpu_nodes):
            raise UsageError(
                f"--worker-cpus {per} is more than any GPU node of the Ray cluster has "
                f"({max(c for c, _ in gpu_nodes)} CPUs)"
            )
        workers = sum(min(g, c // per) for c, g in gpu_nodes)
        return Sizing(max(1, min(workers, chunks)), per, 1, max(1, per - 1))
    per = worker_cpus or (max(1, cpus // gpus) if gpus else CPU_WORKER_CPUS)
    if per > cpus:
        raise UsageError(f"--worker-cpus {per} is more than the Ray cluster's {cpus} CPUs")
    workers = min(gpus, cpus // per) if gpus else cpus // per
    return Sizing(max(1, min(workers, chunks)), per, 1 if gpus else 0, max(1, per - 1))


def one_line(exc: BaseException) -> str:
    """A Ray error as one line: the exception a task raised (not Ray's wrapper and traceback).
    For an actor that died in its constructor, the last ``SomeError: ...`` line of Ray's text;
    for one that died otherwise, Ray's account without its ids."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    raised = [
        line.strip()
        for line in str(exc).splitlines()
        if re.match(r"^\s*[A-Za-z_][\w.]*(Error|Exception)(\(\))?: ", line)
    ]
    if raised and "creation task" in str(exc):
        return raised[-1][:300]
    text = str(exc)
    if isinstance(exc, _ray_actor_error()):  # its tab-indented fields name ids, not causes
        text = re.sub(r"\b[0-9a-f]{24,}\b", "...", "\n".join(x for x in text.splitlines() if not x.startswith("\t")))
    text = " ".join(text.split())
    for marker in (" Traceback (most recent call last):",):
        text = text.split(marker)[0]
    return f"{type(exc).__name__}: {text[:300]}"


def _ray_actor_error() -> type[BaseException] | tuple[()]:
    """Ray's RayActorError where Ray is imported already, else no class at all."""
    ray = sys.modules.get("ray")
    return getattr(getattr(ray, "exceptions", None), "RayActorError", ()) or ()


def import_ray() -> Any:
    try:
        with needs("ray"):
            import ray
    except MissingExtra as exc:
        raise UsageError(f"--engine ray: {exc.hint}") from None
    return ray


def check_address(address: str) -> None:
    """A HOST:PORT (or ray://HOST:PORT) that nothing listens on is refused at once (UsageError),
    instead of Ray retrying it for a minute. ``auto`` and other forms are left to Ray."""
    hostport = address[len("ray://") :] if address.startswith("ray://") else address
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise UsageError(f"cannot join the Ray cluster at {address}: {exc.strerror or exc}") from None


def answers(address: str, timeout: float = 2.0) -> bool:
    """Whether something listens at HOST:PORT ``address`` (a cluster's control service, say)."""
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, ValueError):
        return False
    return True


def connect(ray: Any, address: str | None) -> None:
    """Join the cluster at ``address``, or start a local Ray instance with this machine's CPUs and GPUs."""
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address:
        check_address(address)
        try:
            ray.init(address=address, **quiet)
        except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError... for a bad cluster
            raise UsageError(f"cannot join the Ray cluster at {address}: {' '.join(str(exc).split())[:300]}") from None
    else:
        ray.init(include_dashboard=False, **quiet)
