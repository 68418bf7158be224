"""Liveness, readiness and metrics on the worker's web port (Faust's own web server)."""

from __future__ import annotations

from typing import Any, cast

from faust.tables.manager import TableManager
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sinks.metrics import REGISTRY as SINK_REGISTRY
from streams import metrics as gauges
from streams.pipeline import Pipeline


def readiness(p: Pipeline) -> list[str]:
    """Why the worker is not ready; empty when it is."""
    reasons = [f"{component} stopped: {why}" for component, why in p.health.stopped.items()]
    if p.settings.agents_enabled:
        if not cast(TableManager, p.app.tables).recovery.completed.is_set():
            # Partitions may be assigned while the start-up seek still runs; the worker's
            # timers (broker check, lag) start only after it. (TableManagerT, the declared
            # type, lacks the recovery service that faust's TableManager has.)
            reasons.append("starting")
        if not p.app.consumer.assignment():
            reasons.append("no partitions assigned")
    if p.edges is not None and p.edges.producer.problem:
        reasons.append(f"edge producer: {p.edges.producer.problem}")
    if p.health.broker_unreachable:
        reasons.append(f"broker unreachable: {p.health.broker_unreachable}")
    return reasons


def install_views(p: Pipeline) -> None:
    @p.app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"alive": True})

    @p.app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        reasons = readiness(p)
        body = {"ready": not reasons, "reasons": reasons}
        return web.json(body, status=200 if not reasons else 503)

    @p.app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        # Readiness as gauges, so a stopped sink or reward path (401/403) can be alerted on
        # from Prometheus alone.
        gauges.READY.set(0 if readiness(p) else 1)
        for component in gauges.STOPPED_COMPONENTS:
            gauges.STOPPED.labels(component).set(1 if component in p.health.stopped else 0)
        payload = generate_latest(REGISTRY) + generate_latest(SINK_REGISTRY)
        # aiohttp refuses parameters (charset) in content_type=: send the full header.
        return web.bytes(payload, headers={"Content-Type": CONTENT_TYPE_LATEST})
