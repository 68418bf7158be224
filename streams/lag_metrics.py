"""Inside the worker: the consumer-lag gauge and the broker-reachable readiness check.

Two Faust timers, started by `install(app, settings)`:

* every `AIRMP_LAG_METRICS_INTERVAL_SECONDS`, the group's committed and end offsets (the same
  numbers as `airmp lag`) set `airmp_consumer_lag{topic,partition}` for the partitions this
  worker is assigned (so summing over workers counts each partition once);
* every `AIRMP_BROKER_CHECK_INTERVAL_SECONDS`, one metadata request on a fresh connection
  records in `HealthState` whether the broker answers; `/readyz` is 503 while it does not.
"""

from __future__ import annotations

import logging

import faust

from config import Settings
from streams import metrics
from streams.health import STATE
from streams.kafka import BrokerError, check_broker, collect_lag
from streams.topics import consumed_topics

log = logging.getLogger("airmp.ops")


def install(app: faust.App, settings: Settings) -> None:
    group = settings.app_id

    @app.timer(settings.lag_metrics_interval_seconds)
    async def update_consumer_lag() -> None:
        try:
            rows = await collect_lag(settings, [group], consumed_topics(settings))
        except BrokerError as exc:
            log.warning("consumer lag not updated: %s", exc)
            return
        except Exception:  # a metric must never stop the worker
            log.exception("consumer lag not updated")
            return
        assigned = {(tp.topic, tp.partition) for tp in app.consumer.assignment()}
        metrics.CONSUMER_LAG.clear()  # partitions that moved to another worker go away
        for row in rows:
            if (row.topic, row.partition) in assigned:
                metrics.CONSUMER_LAG.labels(row.topic, str(row.partition)).set(row.lag)

    @app.timer(settings.broker_check_interval_seconds)
    async def check_broker_reachable() -> None:
        timeout = max(1.0, min(10.0, settings.broker_check_interval_seconds * 2))
        try:
            await check_broker(settings, timeout=timeout)
        except BrokerError as exc:
            if STATE.broker_unreachable is None:
                log.warning("broker unreachable: %s", exc)
            STATE.broker_unreachable = str(exc)
        except Exception as exc:
            STATE.broker_unreachable = f"{type(exc).__name__}"
        else:
            if STATE.broker_unreachable is not None:
                log.info("broker reachable again")
            STATE.broker_unreachable = None
