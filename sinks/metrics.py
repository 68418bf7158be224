"""Prometheus metrics for the sink: a `SinkObserver` to pass as `MParticleSink(observer=...)`.

Metrics live in a registry the caller chooses (default: this module's `REGISTRY`, which the
web app can expose); `sink_metrics(registry)` returns one instance per registry, so calling
it twice never fails with a duplicate registration.
"""

from __future__ import annotations

import weakref

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry()

_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, SinkMetrics] = (
    weakref.WeakKeyDictionary()
)


class SinkMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "airmp_sink_requests_total",
            "Requests to mParticle by outcome (HTTP status, timeout, connection_error)",
            ["status"],
            registry=registry,
        )
        self.latency = Histogram(
            "airmp_sink_request_seconds",
            "Time from sending a request to its response",
            registry=registry,
        )
        self.batches_per_request = Histogram(
            "airmp_sink_batches_per_request",
            "Batches in each request sent",
            buckets=(1, 2, 5, 10, 20, 50, 75, 100),
            registry=registry,
        )
        self.retries = Counter(
            "airmp_sink_retries_total",
            "Requests sent again, by reason",
            ["reason"],
            registry=registry,
        )
        self.wait_seconds = Counter(
            "airmp_sink_wait_seconds_total",
            "Time sends waited: rate_limit (client pacing) or throttled (after a 429)",
            ["source"],
            registry=registry,
        )
        self.batches_accepted = Counter(
            "airmp_sink_batches_accepted_total", "Batches mParticle accepted", registry=registry
        )
        self.records_accepted = Counter(
            "airmp_sink_records_accepted_total", "Records mParticle accepted", registry=registry
        )
        # The metric keeps its published name; the sink calls these records "refused".
        self.refused_records = Counter(
            "airmp_sink_dead_letters_total",
            "Records mParticle will never accept, by reason",
            ["reason"],
            registry=registry,
        )

    def request_done(self, status: str, seconds: float, batches: int) -> None:
        self.requests.labels(status).inc()
        self.latency.observe(seconds)
        self.batches_per_request.observe(batches)

    def retry(self, reason: str) -> None:
        self.retries.labels(reason).inc()

    def waited(self, source: str, seconds: float) -> None:
        if seconds > 0:
            self.wait_seconds.labels(source).inc(seconds)

    def accepted(self, batches: int, records: int) -> None:
        self.batches_accepted.inc(batches)
        self.records_accepted.inc(records)

    def refused(self, reason: str, records: int) -> None:
        self.refused_records.labels(reason).inc(records)


def sink_metrics(registry: CollectorRegistry = REGISTRY) -> SinkMetrics:
    """The sink's metrics in `registry`, created on first use."""
    metrics = _BY_REGISTRY.get(registry)
    if metrics is None:
        metrics = _BY_REGISTRY[registry] = SinkMetrics(registry)
    return metrics
