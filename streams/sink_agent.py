"""The sink agent: records topic -> mParticle, committing only what mParticle accepted.

It takes up to `TAKE_MAX` records or what arrived within the linger, hands them to
`MParticleSink.deliver()` (which returns only when each record is accepted or refused),
sends refused ones to the dead-letter topic, and only then completes the events. It uses
`noack_take`, not `take_events`: the latter acks its buffer in a `finally`, so a cancelled
or failed delivery would still be committed.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, cast

import orjson
from faust import Stream
from faust.types import EventT, StreamT

from sinks import DeliveryReport, MParticleSink
from streams import accepted, metrics
from streams.dead_letters import Fault, Stage
from streams.delivery import Path, until_answered
from streams.errors import Rebalancing
from streams.offsets import complete
from streams.pipeline import Pipeline

log = logging.getLogger("airmp.sink")

TAKE_MAX = 1000
SINK = Path(
    "sink",
    "mParticle",
    "Fix AIRMP_MPARTICLE_API_KEY / AIRMP_MPARTICLE_API_SECRET and restart; no offset is"
    " committed meanwhile.",
    log,
)


async def deliver_records(p: Pipeline, stream: StreamT) -> None:
    """The agent: batches of records until the worker stops."""
    sink = MParticleSink.from_settings(p.settings, observer=metrics.SINK_OBSERVER)
    try:
        # noack_take is faust's Stream's, missing from StreamT, the declared type.
        take = cast(Stream, stream).noack_take
        async for events in take(TAKE_MAX, within=p.settings.sink_linger_seconds):
            await deliver(p, sink, list(events))
    finally:
        await sink.close()


async def deliver(p: Pipeline, sink: MParticleSink, events: list[EventT]) -> None:
    sources, records = await _records(p, events)  # the rest is dead-lettered already
    if p.sink_accepted is not None:
        again = accepted.repeated(p.sink_accepted, sources, records)
        metrics.SINK_REPEATS.inc(sum(again))  # accepted before: completed, not sent
        sources = [e for e, a in zip(sources, again, strict=True) if not a]
        records = [r for r, a in zip(records, again, strict=True) if not a]
    try:
        report = await deliver_until_accepted(p, sink, records)
    except Rebalancing:
        # Acked for Faust's rebalance, completed unless dead-lettered or accepted before:
        # the rest goes out again from the partition's next owner (the same ids).
        left = {id(e) for e in sources}
        for event in events:
            if id(event) in left:
                event.ack()
            else:
                complete(event)
        return
    refused = {r.index for r in report.refused}
    for r in report.refused:
        await p.dead_letters.send(
            sources[r.index], kind=r.reason, reason=str(r.reason), stage=Stage.SINK, detail=r.detail
        )
    if p.sink_accepted is not None:
        taken = [i for i in range(len(sources)) if i not in refused]
        accepted.remember(p.sink_accepted, [sources[i] for i in taken], [records[i] for i in taken])
    for event in events:
        complete(event)


async def _records(p: Pipeline, events: list[EventT]) -> tuple[list[EventT], list[Any]]:
    """The events that hold a record, and their records; the others dead-lettered."""
    records: list[Any] = []
    sources: list[EventT] = []  # sources[i] is the event records[i] came from
    for event in events:
        try:
            record = orjson.loads(event.value)
            if not isinstance(record, dict) or not isinstance(record.get("batch"), dict):
                raise ValueError("a record needs a 'batch' object")
        except ValueError as exc:
            reason = f"{Fault.NOT_A_RECORD}: {exc}"
            await p.dead_letters.send(
                event, kind=Fault.NOT_A_RECORD, reason=reason, stage=Stage.SINK
            )
            continue
        sources.append(event)
        records.append(record)
    return sources, records


async def deliver_until_accepted(
    p: Pipeline, sink: MParticleSink, records: list[Any]
) -> DeliveryReport:
    """Each record accepted or refused (the sink retries transient failures itself)."""
    return await until_answered(p, SINK, partial(sink.deliver, records))
