"""The service's Prometheus metrics (prometheus_client), in a registry of their own per app."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


@dataclass
class Metrics:
    """requests (by endpoint and status), poses rendered, atlas draws, batch sizes (poses and
    requests per draw), request latency in seconds, requests in flight, bytes of answers held,
    connections closed for a protocol limit (by reason), and render process restarts."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter("gpu_render_requests", "HTTP requests answered", ["endpoint", "status"], registry=r)
        self.poses = Counter("gpu_render_poses", "Poses rendered", registry=r)
        self.draws = Counter("gpu_render_draws", "Atlas passes drawn (one draw call each)", registry=r)
        self.batch_poses = Histogram(
            "gpu_render_batch_poses", "Poses per atlas pass", buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_requests = Histogram(
            "gpu_render_batch_requests",
            "Requests merged into one render (one or more atlas passes)",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.latency = Histogram(
            "gpu_render_request_seconds",
            "Time from a render request's arrival to its answer, s",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("gpu_render_requests_in_flight", "Render requests being handled", registry=r)
        self.answer_bytes = Gauge(
            "gpu_render_answer_bytes", "Bytes of answers held (reserved against max_inflight_bytes)", registry=r
        )
        self.closed = Counter(
            "gpu_render_connections_closed",
            "Connections closed by the server for a limit: header_timeout, head_too_large, send_timeout, bad_request",
            ["reason"],
            registry=r,
        )
        self.restarts = Counter(
            "gpu_render_render_process_restarts", "Render processes started after one died", registry=r
        )
