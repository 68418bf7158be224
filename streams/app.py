"""The Faust app: topics, the wallet-state table and the agents. Wiring only.

    AIR input topic --wallet_events--> records topic --sink--> mParticle
      |   (keyed by walletId: mapped at once, with the wallet-state table)
      +-- other keys: re-keyed --> <app>-air-by-wallet --wallet_events--> records topic
    anything bad, at any stage ---------> dead-letter topic (original bytes, reason in headers)

Every agent runs with concurrency 1, works a take (a batch of events) at a time and acks it
by hand, only after its output is handed to the producer: Faust flushes the producer before
it commits, so an offset is never committed before what it produced is in Kafka
(at-least-once). A take cut short by a crash or shutdown is not acked, so it is re-read
after a restart instead of being lost; a bug on one event sends it to the dead letters.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

import faust
import orjson
from aiokafka.partitioner import murmur2
from faust.streams import _current_event  # faust-streaming is pinned: see as_current()
from faust.types import EventT

import mappers
from config import Settings
from streams import metrics
from streams.dead_letters import H_OFFSET, H_PARTITION, H_TOPIC, DeadLetters, source_headers
from streams.health import install_views
from streams.kafka_options import faust_credentials
from streams.topics import by_wallet_topic as by_wallet_topic_name
from streams.topics import topic_config

log = logging.getLogger("airmp.streams")
Handler = Callable[[EventT], Awaitable[None]]

# Agents work a take at a time: up to TAKE_MAX events, or what arrived within TAKE_WITHIN
# seconds (what a quiet topic adds to latency, per hop).
TAKE_MAX = 500
TAKE_WITHIN = 0.01


class OrjsonCodec(faust.Codec):
    """Table values as JSON through orjson: several times faster than the stdlib codec."""

    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return orjson.loads(s)


faust.serializers.codecs.register("orjson", OrjsonCodec())


class Worker(faust.Worker):
    """Faust's worker without its terminal spinner: at log level WARN and above the spinner
    sets the root logger to DEBUG to spin on every record, so every library's debug
    records get built (a tenth of the worker's time in the benchmark)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spinner = None


def create_app(settings: Settings, **faust_options: Any) -> faust.App:
    options = mappers.MappingOptions.from_settings(settings)
    app = faust.App(
        settings.app_id,
        broker=settings.kafka_url,
        broker_credentials=faust_credentials(settings),
        store=settings.store,
        datadir=settings.data_dir,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        key_serializer="raw",
        value_serializer="raw",
        web_port=settings.web_port,
        web_enabled=True,
        Worker=Worker,
        broker_session_timeout=settings.kafka_session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout_seconds / 3),
        producer_acks=-1,
        # Any notification the input topic took must fit the by-wallet and dead-letter topics.
        producer_max_request_size=settings.max_message_bytes + 64 * 1024,
        consumer_max_fetch_size=settings.max_message_bytes + 64 * 1024,
        producer_linger_ms=5,
        producer_compression_type="lz4" if _has_lz4() else None,
        stream_buffer_maxsize=4096,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        **faust_options,
    )
    partitions = settings.topic_partitions

    def topic(*names: str) -> faust.TopicT:
        # internal=True lets Faust declare it too; `airmp worker` has already created it.
        return app.topic(
            *names,
            partitions=partitions,
            internal=True,
            config=topic_config(settings),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

    air_topic = topic(settings.input_topic)
    by_wallet_topic = topic(by_wallet_topic_name(settings))
    records_topic = topic(settings.records_topic)
    dead_letter_topic = topic(settings.dead_letter_topic)
    wallet_inputs = topic(settings.input_topic, by_wallet_topic_name(settings))
    wallet_state = app.Table(
        "wallet-state",
        default=None,
        partitions=partitions,
        # keys are walletId bytes, as on the re-keyed topic; values plain dicts as JSON
        schema=faust.Schema(key_serializer="raw", value_serializer="orjson"),
        options=rocksdb_options(settings),
    )

    dead_letters = DeadLetters(dead_letter_topic)
    input_name = air_topic.get_topic_name()
    by_wallet_name = by_wallet_topic.get_topic_name()
    records_name = records_topic.get_topic_name()

    async def produce(topic: str, key: bytes, value: bytes, headers: Any = None) -> None:
        """Straight to Faust's producer (aiokafka's partitioner, as `topic.send` uses):
        per event, Faust's `Topic.send` machinery costs more than the mapping."""
        await app.producer.send(topic, key, value, None, None, headers)

    async def guarded(event: EventT, stage: str, handle: Handler) -> None:
        """A bug sends the event to dead letters rather than crashing the agent: a crashed
        agent leaves its events un-acked, and Faust then waits for them forever."""
        try:
            await handle(event)
        except Exception as exc:
            log.exception("%s failed on an event; it goes to the dead-letter topic", stage)
            reason = f"processing_error: {type(exc).__name__}: {exc}"[:500]
            await dead_letters.send(event, "processing_error", reason, stage)

    # A take's wallet states: read from the table once, written back once (one changelog
    # message per wallet per take), with the last event that changed each.
    Pending = dict[bytes, tuple[mappers.WalletState | None, EventT]]

    async def from_input(event: EventT, pending: Pending, partitions: int | None) -> None:
        """An AIR notification: map it here when the producer keyed it by walletId (it is
        then already in the partition the re-key would send it to); re-key it otherwise."""
        raw = bytes(event.value or b"")
        parsed = mappers.parse(raw)
        if isinstance(parsed, mappers.DeadLetter):
            await dead_letters.send(event, parsed.kind, parsed.reason, "ingest")
            return
        metrics.EVENTS_IN.labels(parsed.event_name).inc()
        if parsed.wallet_id is None:
            # No wallet: the mapper says whether that is bad input or an unknown event.
            outcome = mappers.process(parsed, None, options)
            if outcome.dead_letter is not None:
                dl = outcome.dead_letter
                await dead_letters.send(event, dl.kind, dl.reason, "ingest")
            count(outcome)
            return
        key = parsed.wallet_id.encode()
        if (
            partitions
            and event.key == key
            and event.message.partition == partition_of(key, partitions)
        ):
            await map_event(event, parsed, key, pending)
        else:
            await produce(by_wallet_name, key, raw, source_headers(event))

    async def from_by_wallet(event: EventT, pending: Pending) -> None:
        parsed = mappers.parse(bytes(event.value or b""))
        if isinstance(parsed, mappers.DeadLetter) or parsed.wallet_id is None:
            raise ValueError("a re-keyed notification no longer parses")  # bytes changed?
        await map_event(event, parsed, parsed.wallet_id.encode(), pending)

    async def map_event(
        event: EventT, parsed: mappers.Notification, key: bytes, pending: Pending
    ) -> None:
        if key in pending:
            state = pending[key][0]
        else:
            stored = wallet_state.get(key)
            state = mappers.WalletState.from_dict(stored) if stored is not None else None
        outcome = mappers.process(parsed, state, options, tag=delivery_tag(event))
        count(outcome)
        # Store what the mapper returns, as `airmp map`'s store does (a dead-lettered event
        # may still have changed state: it happened in AIR).
        if not outcome.duplicate:
            pending[key] = (outcome.state, event)
        if outcome.dead_letter is not None:
            dl = outcome.dead_letter
            await dead_letters.send(event, dl.kind, dl.reason, "wallet")
        elif outcome.record is not None:
            metrics.RECORDS_OUT.labels(parsed.event_name).inc()
            await produce(records_name, key, orjson.dumps(outcome.record))

    def store(pending: Pending) -> None:
        for key, (state, event) in pending.items():
            as_current(event)  # the table writes to the partition of the current event
            if state is not None:
                wallet_state[key] = state.to_dict()
            elif key in wallet_state:
                del wallet_state[key]

    copartitioned: list[int] = []  # [count] once known; [0]: the counts differ

    def direct_partitions() -> int | None:
        """The partition count when the input topic is co-partitioned with the by-wallet
        topic (same count: Faust then assigns partition p of both to the same worker).
        Sticky: a metadata gap must not send one take of a wallet the long way round while
        the next goes straight, which would reorder the wallet's events."""
        n = app.consumer.topic_partitions(by_wallet_name)
        m = app.consumer.topic_partitions(input_name)
        if n and m:
            copartitioned[:] = [n if n == m else 0]
        return copartitioned[0] or None if copartitioned else None

    @app.agent(wallet_inputs, concurrency=1)
    async def wallet_events(stream: faust.StreamT) -> None:
        """Both topics, one agent, so each wallet's state has a single writer. AIR input is
        mapped here when keyed by walletId, else re-keyed to the by-wallet topic; the
        by-wallet topic's events are mapped. Wallet state and mapping in the wallet's order."""
        async for events in takes(stream):
            pending: Pending = {}
            partitions = direct_partitions()
            for event in events:
                as_current(event)
                if event.message.topic == by_wallet_name:
                    await guarded(event, "wallet", partial(from_by_wallet, pending=pending))
                else:
                    handle = partial(from_input, pending=pending, partitions=partitions)
                    await guarded(event, "ingest", handle)
            store(pending)
            ack(events)

    app.airmp = {  # type: ignore[attr-defined]
        "settings": settings,
        "topics": {
            "input": air_topic,
            "by_wallet": by_wallet_topic,
            "records": records_topic,
            "dead_letters": dead_letter_topic,
        },
        "wallet_state": wallet_state,
        "dead_letters": dead_letters,
        "agents": {"wallet_events": wallet_events},
    }
    if settings.sink_enabled:
        from streams.sink_agent import install_sink

        install_sink(app, settings)
    install_views(app)
    return app


def takes(stream: faust.StreamT) -> AsyncIterator[list[EventT]]:
    """The stream's events a take at a time, none acked: `take_events` acks its buffer in a
    `finally`, so events of a cancelled take would be committed unprocessed."""
    return stream.noack_take(TAKE_MAX, within=TAKE_WITHIN)  # type: ignore[attr-defined, no-any-return]


def ack(events: list[EventT]) -> None:
    """After the take's output is handed to the producer: Faust flushes the producer before
    it commits, so no offset is committed before what it produced is in Kafka."""
    for event in events:
        event.ack()


def as_current(event: EventT) -> None:
    """Make `event` the current event of this task. A take's events arrive all at once, but
    Faust's table finds the partition to read and write (store and changelog) through the
    current event. Faust's own iteration sets the same context variable per event."""
    _current_event.set(weakref.ref(event))


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as Java's and aiokafka's) picks."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def delivery_tag(event: EventT) -> str:
    """The AIR input message this event came from: the same one again is a re-run."""
    h = source_headers(event)
    return f"{h[H_TOPIC].decode()}[{h[H_PARTITION].decode()}]@{h[H_OFFSET].decode()}"


def count(outcome: mappers.Outcome) -> None:
    if outcome.duplicate:
        metrics.DUPLICATES.inc()
    if outcome.truncated:
        metrics.TRUNCATED.inc(outcome.truncated)
    for name, n in outcome.counters.items():
        metrics.UNMAPPED.labels(name).inc(n)


def rocksdb_options(settings: Settings) -> dict[str, int] | None:
    """Bounded RocksDB memory per table partition (ignored by other stores)."""
    if not settings.store.startswith("rocksdb"):
        return None
    mib = 1024 * 1024
    return {
        "write_buffer_size": settings.rocksdb_write_buffer_mb * mib,
        "max_write_buffer_number": 2,
        "target_file_size_base": 16 * mib,
        "block_cache_size": settings.rocksdb_block_cache_mb * mib,
        "block_cache_compressed_size": settings.rocksdb_block_cache_mb * mib,
    }


def _has_lz4() -> bool:
    try:
        import lz4  # noqa: F401
    except ImportError:
        return False
    return True
