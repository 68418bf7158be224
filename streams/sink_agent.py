"""The sink agent: records topic -> mParticle, committing only what mParticle accepted.

It takes up to `TAKE_MAX` records or what arrived within the linger, hands them to
`MParticleSink.deliver()` (which returns only when each record is accepted or a dead
letter), sends dead letters on, and only then acks the events. It uses `noack_take`, not
`take_events`: the latter acks its buffer in a `finally`, so a cancelled or failed
delivery would still be committed.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import faust
import orjson
from faust.types import EventT

from config import Settings
from sinks.client import AuthenticationFailed, DeliveryError, MParticleSink
from sinks.report import DeliveryReport
from streams import health, metrics
from streams.dead_letters import DeadLetters
from streams.offsets import complete

log = logging.getLogger("airmp.sink")

TAKE_MAX = 1000
EXIT_UNDELIVERED = 75  # EX_TEMPFAIL: stopped before mParticle accepted what it held


def install_sink(app: faust.App, settings: Settings, **sink_overrides: Any) -> Any:
    topics = app.airmp["topics"]  # type: ignore[attr-defined]
    records_topic: faust.TopicT = topics["records"]
    dead_letters: DeadLetters = app.airmp["dead_letters"]  # type: ignore[attr-defined]

    @app.agent(records_topic, concurrency=1)
    async def deliver_records(stream: faust.StreamT) -> None:
        sink = MParticleSink.from_settings(
            settings, observer=metrics.SINK_OBSERVER, **sink_overrides
        )
        try:
            take = stream.noack_take  # type: ignore[attr-defined]  # missing from StreamT
            async for events in take(TAKE_MAX, within=settings.sink_linger_seconds):
                await _deliver(sink, list(events))
        finally:
            await sink.close()

    async def _deliver(sink: MParticleSink, events: list[EventT]) -> None:
        records: list[Any] = []
        events_by_index: list[EventT] = []  # records[i] came from events_by_index[i]
        for event in events:
            try:
                record = orjson.loads(event.value)
                if not isinstance(record, dict) or not isinstance(record.get("batch"), dict):
                    raise ValueError("a record needs a 'batch' object")
            except ValueError as exc:
                reason = f"not_a_record: {exc}"
                await dead_letters.send(event, "not_a_record", reason, "sink")
                continue
            events_by_index.append(event)
            records.append(record)
        report = await _deliver_until_accepted(sink, records)
        for refused in report.refused:
            event = events_by_index[refused.index]
            await dead_letters.send(event, refused.reason, refused.reason, "sink", refused.detail)
        for event in events:
            complete(event)

    async def _deliver_until_accepted(sink: MParticleSink, records: list[Any]) -> DeliveryReport:
        while True:
            task = asyncio.ensure_future(sink.deliver(records))
            try:
                report = await _unless_stopping(task)
                health.STATE.sink_stopped = None
                return report
            except AuthenticationFailed as exc:
                # Nothing is acked: the records wait in Kafka until the credentials are fixed.
                health.STATE.sink_stopped = f"mParticle rejected the credentials: {exc}"
                log.critical(
                    "SINK STOPPED: %s. Fix AIRMP_MPARTICLE_API_KEY / AIRMP_MPARTICLE_API_SECRET"
                    " and restart; no offset is committed meanwhile.",
                    exc,
                )
                await _unless_stopping(asyncio.ensure_future(asyncio.Event().wait()))
            except DeliveryError as exc:
                health.STATE.sink_stopped = str(exc)
                log.critical("SINK STOPPED: %s; retrying in 60 s, nothing is acked.", exc)
                await _unless_stopping(asyncio.ensure_future(asyncio.sleep(60)))

    async def _unless_stopping(task: asyncio.Future[Any]) -> Any:
        """Await `task`; when the worker is stopping and it has not finished within the grace
        period, leave without acking (see `_abandon`)."""
        stopping_since: float | None = None
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.5)
            if done:
                return task.result()
            if app.should_stop:
                now = asyncio.get_running_loop().time()
                stopping_since = stopping_since or now
                if now - stopping_since >= settings.sink_shutdown_grace_seconds:
                    task.cancel()
                    await _abandon()

    async def _abandon() -> None:
        """Faust's shutdown waits for every taken event to be acked; ours must not be, as
        mParticle has not accepted them. Commit what the other agents finished, then exit:
        the records are delivered after the restart."""
        log.critical(
            "stopping with undelivered records: they stay uncommitted and are sent after restart"
        )
        try:
            await asyncio.wait_for(app.producer.flush(), timeout=10)
            await asyncio.wait_for(app.consumer.commit(), timeout=10)
        finally:
            logging.shutdown()
            os._exit(EXIT_UNDELIVERED)

    return deliver_records
