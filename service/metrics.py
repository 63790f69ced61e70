"""Prometheus metrics of one app instance (own registry, so several apps can live in one process).

With several uvicorn workers each process counts its own requests; scrape per instance.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "emg_http_requests_total",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "emg_http_request_duration_seconds",
            "HTTP request duration by method and route template",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.processing_seconds = Histogram(
            "emg_processing_duration_seconds",
            "Parse + analysis time of one recording, by source (upload, webhook) and outcome",
            ["source", "outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cache_requests = Counter(
            "emg_cache_requests_total",
            "Report cache lookups by result (hit, miss)",
            ["result"],
            registry=self.registry,
        )
        self.sessions_in_flight = Gauge(
            "emg_sessions_in_flight",
            "Therapy sessions pending or processing",
            registry=self.registry,
        )

    def track_sessions(self, count: Callable[[], float]) -> None:
        """Read at each scrape; NaN when it cannot be read, so a database outage never takes
        the rest of the metrics down with it."""

        def safe_count() -> float:
            try:
                return float(count())
            except Exception:
                return math.nan

        self.sessions_in_flight.set_function(safe_count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
