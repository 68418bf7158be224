"""The ingest and wallet agents and their handlers: AIR notification -> mParticle record.

    AIR input topic --ingest--> by-wallet topic (re-keyed by walletId)
        --wallet_events (wallet-state table)--> records topic
    AIR input topic keyed by walletId --ingest (wallet-state table)--> records topic

A notification keyed by its own walletId, on the partition the by-wallet topic would give
it, is mapped where it lands: the same worker owns that partition of both topics and of the
table's changelog, so the wallet's state is the same either way, and the trip through the
by-wallet topic is saved. A wallet's order is Kafka's order within one partition: produce
each wallet's notifications with one key (by walletId, to save the re-key hop). Mixing keys
for one wallet mixes the paths, and the two paths do not keep order between them.

Every agent runs with concurrency 1 and completes an event (`streams.offsets.complete`)
only after its outputs are handed to the producer: Faust flushes the producer before it
commits, so no offset is committed before what it produced is in Kafka.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import cast

import orjson
from aiokafka.partitioner import murmur2
from faust import Stream
from faust.types import EventT, StreamT

import mappers
from streams import metrics, source
from streams.dead_letters import Fault, Stage, source_headers
from streams.errors import Rebalancing
from streams.offsets import complete
from streams.pipeline import Pipeline, kept

log = logging.getLogger("airmp.streams")
Handler = Callable[[Pipeline, EventT], Awaitable[None]]


async def ingest(p: Pipeline, stream: StreamT) -> None:
    """Parse, find the wallet, re-key by walletId so one worker sees a wallet in order."""
    async for event in events(stream):
        await guarded(p, event, Stage.INGEST, ingest_one)


async def wallet_events(p: Pipeline, stream: StreamT) -> None:
    """Update the wallet's state and map, in the wallet's order; emit records."""
    async for event in events(stream):
        await guarded(p, event, Stage.WALLET, wallet_one)


def events(stream: StreamT) -> AsyncIterable[EventT]:
    """The stream's events, not acked by Faust: `guarded` completes each. (StreamT, the
    declared type, lacks `events`, which faust's Stream has.)"""
    return cast(Stream, cast(Stream, stream).noack()).events()


async def guarded(p: Pipeline, event: EventT, stage: Stage, handle: Handler) -> None:
    """Handle, then complete. A bug sends the event to dead letters rather than crashing the
    agent: a crashed agent leaves its event un-acked, and Faust then waits for it forever."""
    try:
        await handle(p, event)
    except Rebalancing:
        event.ack()  # for Faust's rebalance; not completed: the next owner does it again
        return
    except Exception as exc:
        log.exception("%s failed on an event; it goes to the dead-letter topic", stage)
        reason = f"{Fault.PROCESSING_ERROR}: {type(exc).__name__}: {exc}"[:500]
        await p.dead_letters.send(event, kind=Fault.PROCESSING_ERROR, reason=reason, stage=stage)
    complete(event)


async def ingest_one(p: Pipeline, event: EventT) -> None:
    raw = bytes(event.value or b"")
    parsed = mappers.parse(raw)
    if isinstance(parsed, mappers.Rejection):
        await reject(p, event, parsed, Stage.INGEST)
        return
    metrics.counter(metrics.EVENTS_IN, parsed.event_name).inc()
    if parsed.wallet_id is None:
        # No wallet: the mapper says whether that is bad input or an unknown event.
        outcome = mappers.process(parsed, None, p.options)
        if outcome.rejection is not None:
            await reject(p, event, outcome.rejection, Stage.INGEST)
        count(outcome)
        return
    key = parsed.wallet_id.encode()
    if lands_home(p, event, key):
        metrics.counter(metrics.ROUTES, "where_it_landed").inc()
        await map_with_state(p, event, parsed, key)
        return
    metrics.counter(metrics.ROUTES, "re_keyed").inc()
    await p.topics.by_wallet.send(key=key, value=raw, headers=source_headers(event))


def lands_home(p: Pipeline, event: EventT, key: bytes) -> bool:
    """Keyed by its walletId, on the partition the by-wallet topic would put it in (Kafka's
    default partitioner, murmur2, as Faust's producer uses), of a topic partitioned alike."""
    partitions = p.settings.topic_partitions
    message = event.message
    if event.key != key or p.app.consumer.topic_partitions(message.topic) != partitions:
        return False
    return home_partition(key, partitions) == message.partition


@functools.lru_cache(maxsize=65536)
def home_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives `key`; cached, as aiokafka's murmur2
    is pure Python and a wallet's events come again and again."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


async def wallet_one(p: Pipeline, event: EventT) -> None:
    parsed = mappers.parse(bytes(event.value or b""))
    if isinstance(parsed, mappers.Rejection) or parsed.wallet_id is None:
        raise ValueError("a re-keyed notification no longer parses")  # bytes changed?
    await map_with_state(p, event, parsed, parsed.wallet_id.encode())


async def map_with_state(
    p: Pipeline, event: EventT, parsed: mappers.Notification, key: bytes
) -> None:
    """Map with the wallet's state, store the state the mapper returns, emit the record."""
    # Read from the table's store: one look-up, where the table's own `get` asks the store
    # twice (`in`, then the value) and reports each read to Faust's sensors. Writes go
    # through the table, which changelogs them.
    table = kept(p.wallet_state)
    stored = table.data.get(key)
    state = mappers.WalletState.from_dict(stored) if stored is not None else None
    tag = source.delivery_tag(source_headers(event))
    looked_up = await look_up(p, parsed, state)
    outcome = mappers.process(parsed, state, p.options, tag=tag, looked_up=looked_up)
    count(outcome)
    # Store what the mapper returns, as `airmp map`'s store does (a rejected event may
    # still have changed state: it happened in AIR). Faust persists assignments only.
    if outcome.state is None:
        if stored is not None:
            del table[key]
    elif not outcome.duplicate:
        table[key] = outcome.state.to_dict()
    if outcome.rejection is not None:
        await reject(p, event, outcome.rejection, Stage.WALLET)
    elif outcome.record is not None:
        metrics.counter(metrics.RECORDS_OUT, parsed.event_name).inc()
        await p.topics.records.send(key=key, value=orjson.dumps(outcome.record))


async def look_up(
    p: Pipeline, n: mappers.Notification, state: mappers.WalletState | None
) -> dict[str, str] | None:
    """What the mapper needs from AIR (a SPEND.VOID's parent reference), when it has a
    client: awaited here, in the wallet's order, and bounded (sinks/air_lookups.py)."""
    ask = mappers.void_lookup(n, state) if p.air is not None else None
    if ask is None or p.air is None:
        return None
    reference = await p.air.lookups.reference(*ask)
    return {ask[1]: reference} if reference is not None else None


async def reject(p: Pipeline, event: EventT, rejection: mappers.Rejection, stage: Stage) -> None:
    await p.dead_letters.send(event, kind=rejection.kind, reason=rejection.reason, stage=stage)


def count(outcome: mappers.Outcome) -> None:
    if outcome.duplicate:
        metrics.DUPLICATES.inc()
    if outcome.truncated:
        metrics.TRUNCATED.inc(outcome.truncated)
    for name, n in outcome.counters.items():
        metrics.counter(metrics.UNMAPPED, name).inc(n)
