"""Liveness, readiness and metrics on the worker's web port (Faust's own web server)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sinks.metrics import REGISTRY as SINK_REGISTRY


@dataclass
class HealthState:
    """What readiness depends on; agents set these, the views read them."""

    sink_stopped: str | None = None  # why the sink stopped (401/403, unfixable status)
    broker_unreachable: str | None = None  # operations: the last broker check's failure


STATE = HealthState()


def install_views(app: faust.App) -> None:
    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"alive": True})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        reasons = []
        if STATE.sink_stopped:
            reasons.append(f"sink stopped: {STATE.sink_stopped}")
        if not app.tables.recovery.completed.is_set():  # type: ignore[attr-defined]
            # Partitions may be assigned while the start-up seek still runs; the worker's
            # timers (broker check, lag) start only after it. (TableManagerT lacks the
            # attribute that faust.tables.TableManager has.)
            reasons.append("starting")
        if not app.consumer.assignment():
            reasons.append("no partitions assigned")
        if STATE.broker_unreachable:  # operations
            reasons.append(f"broker unreachable: {STATE.broker_unreachable}")
        body = {"ready": not reasons, "reasons": reasons}
        return web.json(body, status=200 if not reasons else 503)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        payload = generate_latest(REGISTRY) + generate_latest(SINK_REGISTRY)
        # aiohttp refuses parameters (charset) in content_type=: send the full header.
        return web.bytes(payload, headers={"Content-Type": CONTENT_TYPE_LATEST})

    # --- operations: lag gauge and broker check (streams/lag_metrics.py) ---
    settings = getattr(app, "airmp", {}).get("settings")
    if settings is not None:
        from streams.lag_metrics import install as install_ops_timers

        install_ops_timers(app, settings)
