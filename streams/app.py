"""The Faust app: topics, the wallet-state table and the agents. Wiring only.

    AIR input topic --ingest--> <app>-air-by-wallet (re-keyed by walletId)
        --wallet_events (state table)--> records topic --sink--> mParticle
    anything bad, at any stage ---------> dead-letter topic (original bytes, reason in headers)

Every agent runs with concurrency 1 and completes an event by hand, only after its output
is handed to the producer: Faust flushes the producer before it commits, so an offset is
never committed before what it produced is in Kafka (at-least-once). What may be committed
is decided by `streams.offsets.LedgerConsumer`: only offsets our handlers completed, never
one Faust skipped (docs/reliability.md).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import orjson
from faust.types import EventT

import mappers
from config import Settings
from streams import metrics, source
from streams.dead_letters import DeadLetters, source_headers
from streams.health import install_views
from streams.kafka import faust_credentials
from streams.offsets import App, complete
from streams.topics import by_wallet_topic as by_wallet_topic_name
from streams.topics import topic_config

log = logging.getLogger("airmp.streams")
Handler = Callable[[EventT], Awaitable[None]]


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
    app = App(
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
        producer_max_request_size=settings.kafka_max_bytes,
        consumer_max_fetch_size=settings.kafka_max_bytes,
        producer_linger_ms=5,
        producer_compression_type="lz4" if _has_lz4() else None,
        stream_buffer_maxsize=4096,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        **faust_options,
    )
    partitions = settings.topic_partitions

    def topic(name: str) -> faust.TopicT:
        # internal=True lets Faust declare it too; `airmp worker` has already created it.
        return app.topic(
            name,
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
    wallet_state = app.Table(
        "wallet-state",
        default=None,
        partitions=partitions,
        # keys are walletId bytes, as on the re-keyed topic; values plain dicts as JSON
        schema=faust.Schema(key_serializer="raw", value_serializer="orjson"),
        options=rocksdb_options(settings),
    )

    dead_letters = DeadLetters(dead_letter_topic)

    async def guarded(event: EventT, stage: str, handle: Handler) -> None:
        """Handle, then ack. A bug sends the event to dead letters rather than crashing the
        agent: a crashed agent leaves its event un-acked, and Faust then waits for it forever."""
        try:
            await handle(event)
        except Exception as exc:
            log.exception("%s failed on an event; it goes to the dead-letter topic", stage)
            reason = f"processing_error: {type(exc).__name__}: {exc}"[:500]
            await dead_letters.send(event, "processing_error", reason, stage)
        complete(event)

    async def ingest_one(event: EventT) -> None:
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
        await by_wallet_topic.send(
            key=parsed.wallet_id.encode(), value=raw, headers=source_headers(event)
        )

    async def wallet_one(event: EventT) -> None:
        parsed = mappers.parse(bytes(event.value or b""))
        if isinstance(parsed, mappers.DeadLetter) or parsed.wallet_id is None:
            raise ValueError("a re-keyed notification no longer parses")  # bytes changed?
        key = parsed.wallet_id.encode()
        stored = wallet_state.get(key)
        state = mappers.WalletState.from_dict(stored) if stored is not None else None
        outcome = mappers.process(parsed, state, options, tag=delivery_tag(event))
        count(outcome)
        # Store what the mapper returns, as `airmp map`'s store does (a dead-lettered event
        # may still have changed state: it happened in AIR). Faust persists assignments only.
        if outcome.state is None:
            if stored is not None:
                del wallet_state[key]
        elif not outcome.duplicate:
            wallet_state[key] = outcome.state.to_dict()
        if outcome.dead_letter is not None:
            dl = outcome.dead_letter
            await dead_letters.send(event, dl.kind, dl.reason, "wallet")
        elif outcome.record is not None:
            metrics.RECORDS_OUT.labels(parsed.event_name).inc()
            await records_topic.send(key=key, value=orjson.dumps(outcome.record))

    @app.agent(air_topic, concurrency=1)
    async def ingest(stream: faust.StreamT) -> None:
        """Parse, find the wallet, re-key by walletId so one worker sees a wallet in order."""
        async for event in stream.noack().events():  # type: ignore[attr-defined]
            await guarded(event, "ingest", ingest_one)

    @app.agent(by_wallet_topic, concurrency=1)
    async def wallet_events(stream: faust.StreamT) -> None:
        """Update the wallet's state and map, in the wallet's order; emit records."""
        async for event in stream.noack().events():  # type: ignore[attr-defined]
            await guarded(event, "wallet", wallet_one)

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
        "agents": {"ingest": ingest, "wallet_events": wallet_events},
    }
    if settings.sink_enabled:
        from streams.sink_agent import install_sink

        install_sink(app, settings)
    install_views(app)
    return app


def delivery_tag(event: EventT) -> str:
    """The AIR input message this event came from: the same one again is a re-run."""
    return source.delivery_tag(source_headers(event))


def count(outcome: mappers.Outcome) -> None:
    if outcome.duplicate:
        metrics.DUPLICATES.inc()
    if outcome.truncated:
        metrics.TRUNCATED.inc(outcome.truncated)
    for name, n in outcome.counters.items():
        metrics.UNMAPPED.labels(name).inc(n)


def rocksdb_options(settings: Settings) -> dict[str, int] | None:
    """Bounded RocksDB memory per table partition (ignored by other stores). Faust's defaults
    (64 MiB x 3 memtables and a 2 GiB block cache per partition) let a worker's RSS grow
    with every state write for hundreds of MiB before it levels."""
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
