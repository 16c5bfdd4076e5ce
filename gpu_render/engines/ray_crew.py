"""The Ray driver's workers and the loop that hands them chunks, with every fault it survives.

A build has ``W`` worker places. Each holds one :class:`~gpu_render.engines.ray_worker.RenderWorker`
actor at a time. Ray itself restarts nothing (``max_restarts=0``): when a worker dies (its
process or node is killed), goes away (Ray cannot reach it) or fails a step (the worker is then
in an unknown state), the driver ends it (``ray.kill(..., no_restart=True)``, harmless on a dead
actor) and starts a fresh actor in its place, up to :data:`MAX_RESTARTS` times per place. So a
restart is spent exactly once per fault, by the driver, and the chunks the worker held go back
to the front of the queue for the next free worker.

The build stops with :class:`~gpu_render.dataset.encoder_pool.WorkerError` (one line) when

- a chunk failed :data:`MAX_ATTEMPTS` times (an error in it, or its worker dying while it held it);
- every place has used its restarts;
- no worker is running and no live node of the cluster has the resources one needs (the
  cluster's nodes died): noticed within :data:`POLL_SECONDS` of Ray marking the nodes dead;
- no worker is running and none could start within :data:`START_SECONDS`.

Chunks already recorded stay, so the same command, or a local build, resumes.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from gpu_render.dataset.encoder_pool import WorkerError
from gpu_render.engines.ray_cluster import Sizing, answers, one_line
from gpu_render.engines.ray_worker import ChunkError

#: Fresh actors the driver starts in one worker's place after it died or failed.
MAX_RESTARTS = 3
#: Tries of one chunk (each failure or death of its worker is one) before the build stops.
MAX_ATTEMPTS = 3
#: Seconds a worker may take to start (GL context, encoder processes, its plan).
START_SECONDS = 300.0
#: Seconds between looks at the cluster while no worker is running.
POLL_SECONDS = 1.0

log = logging.getLogger(__name__)

#: Checks a started worker: (its place, its describe() record, its probe() answer) -> None; raises.
StartCheck = Callable[[int, dict[str, Any], "str | None"], None]


class Place:
    """One worker place: its current actor, the record (``describe()``) of the last of its actors
    that started (None before the first), the restarts it used, and the chunk its actor rendered
    and settles in its next step."""

    def __init__(self, actor: Any, info: dict[str, Any] | None) -> None:
        self.actor = actor
        self.info = info
        self.restarts = 0
        self.started: int | None = None
        self.since = time.monotonic()  # when the current actor was started

    @property
    def host(self) -> str:
        return self.info["host"] if self.info else "a node"


class Crew:
    """The driver's workers and its chunk loop; see the module docstring.

    actors: the first actor of each place (their records are set once they are up).
    make: starts one actor for a place (its rank). check: validates a restarted worker (the
    same probe as at start-up). token: the probe token. size: what one worker needs.
    resume: how the build resumes once no node of the cluster is left (one line).
    """

    def __init__(
        self,
        ray: Any,
        actors: list[Any],
        make: Callable[[int], Any],
        check: StartCheck,
        token: str,
        size: Sizing,
        resume: str,
    ) -> None:
        self.ray, self.make, self.check, self.token, self.size = ray, make, check, token, size
        self.resume = resume
        self.places = [Place(a, None) for a in actors]
        self.steps: dict[Any, tuple[int, int | None, int | None]] = {}  # ref -> (place, render, settle)
        self.starts: dict[Any, tuple[int, Any]] = {}  # probe ref -> (place, describe ref)
        self.attempts: Counter[int] = Counter()
        self.last_fault = ""
        self._looked = 0.0

    @property
    def restarts(self) -> int:
        return sum(p.restarts for p in self.places)

    @property
    def in_flight(self) -> list[Any]:
        return [*self.steps, *self.starts]

    def run(
        self, chunks: dict[int, tuple[int, int]], todo: deque[int], recorded: Callable[[int, dict[str, Any]], None]
    ) -> None:
        """Hand out ``todo`` until every chunk is recorded; ``recorded(k, record)`` for each."""
        idle = deque(range(len(self.places)))
        while todo or self.steps or any(p.started is not None for p in self.places):
            for a in list(idle):
                place = self.places[a]
                render, settle = (todo.popleft() if todo else None), place.started
                if render is None and settle is None:
                    continue
                idle.remove(a)
                self.steps[place.actor.step.remote(render, settle)] = (a, render, settle)
                place.started = render
            if not self.steps:
                self._check_cluster(todo, len(chunks))
            ready, _ = self.ray.wait(self.in_flight, num_returns=1, timeout=POLL_SECONDS)
            if not ready:
                continue
            if ready[0] in self.starts:
                up = self._started(ready[0])
                if up is not None:
                    idle.append(up)
                continue
            a, render, settle = self.steps.pop(ready[0])
            try:
                record = self.ray.get(ready[0])
            except self.ray.exceptions.RayError as exc:
                self._failed(a, exc, render, settle, chunks, todo)
                continue
            if settle is not None:
                recorded(settle, record)
            idle.append(a)

    def _failed(
        self,
        a: int,
        exc: Exception,
        render: int | None,
        settle: int | None,
        chunks: dict[int, tuple[int, int]],
        todo: deque[int],
    ) -> None:
        """Place ``a``'s step (``render``, ``settle``) failed with ``exc``: its chunks go back to
        the front of ``todo``, the chunk counts a try, and a fresh actor takes the place."""
        place = self.places[a]
        cause = getattr(exc, "cause", None)
        failed: int | None
        if isinstance(cause, ChunkError):
            failed, why = cause.chunk, cause.message
        elif isinstance(exc, self.ray.exceptions.ActorUnavailableError):
            failed, why = settle, f"its worker on {place.host} went away ({one_line(exc)})"
        elif isinstance(exc, self.ray.exceptions.RayActorError):
            failed, why = settle, f"its worker on {place.host} died ({one_line(exc)})"
        else:
            failed, why = settle, one_line(exc)
        place.started = None
        todo.extendleft(k for k in (render, settle) if k is not None)
        self.last_fault = why
        if failed is not None:
            self.attempts[failed] += 1
            if self.attempts[failed] >= MAX_ATTEMPTS:
                start, stop = chunks[failed]
                raise WorkerError(
                    f"chunk {failed} (poses {start}..{stop - 1}) failed {self.attempts[failed]} times on Ray: {why}"
                )
        self._replace(a)

    def _replace(self, a: int) -> None:
        """End place ``a``'s actor and start a fresh one there, if the place has restarts left
        and the cluster's control service answers (Ray would block on it otherwise)."""
        place = self.places[a]
        if not self.control_answers():
            return  # nothing can be ended or started: _check_cluster stops the build
        self.end(place.actor)
        if place.restarts >= MAX_RESTARTS:
            log.info("worker %d used its %d restarts", a, MAX_RESTARTS)
            return
        place.restarts += 1
        place.actor, place.since = self.make(a), time.monotonic()
        describe = place.actor.describe.remote()
        self.starts[place.actor.probe.remote(self.token)] = (a, describe)

    def _started(self, ref: Any) -> int | None:
        """A restarted actor answered its probe: its place if it is ready, else None (replaced)."""
        a, describe = self.starts.pop(ref)
        place = self.places[a]
        try:
            info, problem = self.ray.get([describe, ref])
        except self.ray.exceptions.RayError as exc:
            self.last_fault = f"a worker could not restart ({one_line(exc)})"
            self._replace(a)
            return None
        self.check(a, info, problem)
        place.info = info
        return a

    def _check_cluster(self, todo: deque[int], total: int) -> None:
        """No worker is running: stop the build if no live node can run one, if none is starting,
        or if they have been starting for START_SECONDS. While some start, it looks at the
        cluster once a POLL_SECONDS."""
        left = f"{len(todo)} of {total} chunks are left"
        now = time.monotonic()
        if self.starts and now - self._looked < POLL_SECONDS:
            return
        self._looked = now
        if not self.can_host():
            raise WorkerError(
                f"no live node of the Ray cluster can run a worker ({self.size.cpus} CPU"
                f"{'s' if self.size.cpus != 1 else ''}{', 1 GPU' if self.size.gpus else ''}): "
                f"{self.last_fault}; {left}",
                resume=self.resume,
            )
        if not self.starts:
            raise WorkerError(f"every Ray worker died {MAX_RESTARTS + 1} times (the last: {self.last_fault}); {left}")
        if min(now - self.places[a].since for a, _ in self.starts.values()) > START_SECONDS:
            raise WorkerError(
                f"no Ray worker could restart within {START_SECONDS:.0f} s (the last fault: {self.last_fault}); {left}"
            )

    def control_answers(self) -> bool:
        """Whether the cluster's control service (GCS) answers; Ray's calls to it block while it does not."""
        try:
            return answers(self.ray.get_runtime_context().gcs_address)
        except Exception as exc:
            log.info("cannot reach the Ray cluster's control service: %s", one_line(exc))
            return False

    def can_host(self) -> bool:
        """Whether some live node of the cluster has the CPUs (and GPU) one worker needs; none
        while its control service does not answer."""
        if not self.control_answers():
            return False
        try:
            nodes = self.ray.nodes()
        except Exception as exc:
            log.info("cannot list the Ray cluster's nodes: %s", one_line(exc))
            return False
        return any(
            n.get("Alive")
            and n.get("Resources", {}).get("CPU", 0) >= self.size.cpus
            and n.get("Resources", {}).get("GPU", 0) >= self.size.gpus
            for n in nodes
        )

    def end(self, actor: Any) -> None:
        """End ``actor`` for good (no restart); a dead or unreachable one is left to Ray."""
        try:
            self.ray.kill(actor, no_restart=True)
        except Exception as exc:
            log.info("could not end a Ray worker: %s", one_line(exc))

    def end_all(self) -> None:
        """End every actor, and wait (at most 30 s) until their steps have ended, so that no
        worker still writes when OUT's lock is released. With the control service gone, the
        workers are gone or end with this driver, their owner."""
        if not self.control_answers():
            return
        for place in self.places:
            self.end(place.actor)
        if self.in_flight:
            try:
                self.ray.wait(self.in_flight, num_returns=len(self.in_flight), timeout=30)
            except Exception as exc:
                log.info("could not wait for the Ray workers to end: %s", one_line(exc))
