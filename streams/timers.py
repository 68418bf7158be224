"""Inside the worker: the consumer-lag gauge and the broker-reachable readiness check.

Two Faust timers, installed by `install_timers(p)`:

* every `AIRMP_LAG_METRICS_INTERVAL_SECONDS`, the group's committed and end offsets (the same
  numbers as `airmp lag`) set `airmp_consumer_lag{topic,partition}` for the partitions this
  worker is assigned (so summing over workers counts each partition once);
* every `AIRMP_BROKER_CHECK_INTERVAL_SECONDS`, one metadata request on a fresh connection
  records in `Pipeline.health` whether the broker answers; `/readyz` is 503 while it does not.
"""

from __future__ import annotations

import logging

from streams import metrics
from streams.errors import BrokerError
from streams.kafka import check_broker, collect_lag
from streams.pipeline import Pipeline
from streams.topics import consumed_topics

log = logging.getLogger("airmp.ops")


async def update_consumer_lag(p: Pipeline) -> None:
    try:
        rows = await collect_lag(p.settings, [p.settings.app_id], consumed_topics(p.settings))
    except BrokerError as exc:
        log.warning("consumer lag not updated: %s", exc)
        return
    except Exception:  # a metric must never stop the worker
        log.exception("consumer lag not updated")
        return
    assigned = {(tp.topic, tp.partition) for tp in p.app.consumer.assignment()}
    metrics.CONSUMER_LAG.clear()  # partitions that moved to another worker go away
    for row in rows:
        if (row.topic, row.partition) in assigned:
            metrics.CONSUMER_LAG.labels(row.topic, str(row.partition)).set(row.lag)


async def check_broker_reachable(p: Pipeline) -> None:
    interval = p.settings.broker_check_interval_seconds
    try:
        await check_broker(p.settings, timeout=max(1.0, min(10.0, interval * 2)))
    except BrokerError as exc:
        if p.health.broker_unreachable is None:
            log.warning("broker unreachable: %s", exc)
        p.health.broker_unreachable = str(exc)
    except Exception as exc:
        p.health.broker_unreachable = f"{type(exc).__name__}"
    else:
        if p.health.broker_unreachable is not None:
            log.info("broker reachable again")
        p.health.broker_unreachable = None


def install_timers(p: Pipeline) -> None:
    @p.app.timer(p.settings.lag_metrics_interval_seconds, name="update_consumer_lag")
    async def lag_timer() -> None:
        await update_consumer_lag(p)

    @p.app.timer(p.settings.broker_check_interval_seconds, name="check_broker_reachable")
    async def broker_timer() -> None:
        await check_broker_reachable(p)
