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
from typing import Any

import faust
import orjson
from faust.types import EventT

from config import Settings
from sinks.client import AuthenticationFailed, DeliveryError, MParticleSink
from streams import health, metrics
from streams.dead_letters import DeadLetters

log = logging.getLogger("airmp.sink")

TAKE_MAX = 1000


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
        sources: dict[int, EventT] = {}
        for event in events:
            try:
                record = orjson.loads(event.value)
                if not isinstance(record, dict) or not isinstance(record.get("batch"), dict):
                    raise ValueError("a record needs a 'batch' object")
            except ValueError as exc:
                await dead_letters.send(event, "not_a_record", f"not_a_record: {exc}", "sink")
                continue
            sources[id(record)] = event
            records.append(record)
        while True:
            try:
                report = await sink.deliver(records)
                health.STATE.sink_stopped = None
                break
            except AuthenticationFailed as exc:
                # Nothing is acked: the records stay in Kafka until the credentials are fixed.
                health.STATE.sink_stopped = f"mParticle rejected the credentials: {exc}"
                log.critical(
                    "SINK STOPPED: %s. Fix AIRMP_MPARTICLE_API_KEY / AIRMP_MPARTICLE_API_SECRET"
                    " and restart; no offset is committed meanwhile.",
                    exc,
                )
                await asyncio.Event().wait()  # hold here until the worker is stopped
            except DeliveryError as exc:
                health.STATE.sink_stopped = str(exc)
                log.critical("SINK STOPPED: %s; retrying in 60 s, nothing is acked.", exc)
                await asyncio.sleep(60)
        for dead in report.dead_letters:
            event = sources[id(dead.record)]
            await dead_letters.send(event, dead.reason, dead.reason, "sink", dead.detail)
        for event in events:
            event.ack()

    return deliver_records
