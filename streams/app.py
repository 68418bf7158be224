"""The Faust app: topics, the wallet-state table and the agents. Wiring only.

    AIR input topic --ingest--> <app>-air-by-wallet (re-keyed by walletId)
        --wallet_events (state table)--> records topic --sink--> mParticle
    anything bad, at any stage ---------> dead-letter topic (original bytes, reason in headers)

Every agent runs with concurrency 1 and acks by hand, only after its output is handed to
the producer: Faust flushes the producer before it commits, so an offset is never committed
before what it produced is in Kafka (at-least-once). An exception leaves its event un-acked,
which holds back the commit, so it is re-read after a restart instead of being lost.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
import orjson

import mappers
from config import Settings
from streams import metrics
from streams.dead_letters import DeadLetters, source_headers
from streams.health import install_views
from streams.kafka_options import faust_credentials

log = logging.getLogger("airmp.streams")


class OrjsonCodec(faust.Codec):
    """Table values as JSON through orjson: several times faster than the stdlib codec."""

    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return orjson.loads(s)


faust.serializers.codecs.register("orjson", OrjsonCodec())


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
        producer_acks=-1,
        producer_linger_ms=5,
        producer_compression_type="lz4" if _has_lz4() else None,
        stream_buffer_maxsize=4096,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        **faust_options,
    )
    partitions = settings.topic_partitions

    def topic(name: str) -> faust.TopicT:
        # internal=True: Faust creates the topic at start when it is missing.
        return app.topic(
            name,
            partitions=partitions,
            internal=True,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

    air_topic = topic(settings.input_topic)
    by_wallet_topic = topic(f"{settings.app_id}-air-by-wallet")
    records_topic = topic(settings.records_topic)
    dead_letter_topic = topic(settings.dead_letter_topic)
    wallet_state = app.Table(
        "wallet-state",
        default=None,
        partitions=partitions,
        # keys are walletId bytes, as on the re-keyed topic; values plain dicts as JSON
        schema=faust.Schema(key_serializer="raw", value_serializer="orjson"),
    )

    dead_letters = DeadLetters(dead_letter_topic)

    @app.agent(air_topic, concurrency=1)
    async def ingest(stream: faust.StreamT) -> None:
        """Parse, find the wallet, re-key by walletId so one worker sees a wallet in order."""
        async for event in stream.noack().events():  # type: ignore[attr-defined]
            raw = bytes(event.value or b"")
            parsed = mappers.parse(raw)
            if isinstance(parsed, mappers.DeadLetter):
                await dead_letters.send(event, parsed.kind, parsed.reason, "ingest")
            else:
                metrics.EVENTS_IN.labels(parsed.event_name).inc()
                wallet_id = parsed.wallet_id
                assert wallet_id is not None  # parse() dead-letters a notification without one
                await by_wallet_topic.send(
                    key=wallet_id.encode(), value=raw, headers=source_headers(event)
                )
            event.ack()

    @app.agent(by_wallet_topic, concurrency=1)
    async def wallet_events(stream: faust.StreamT) -> None:
        """Update the wallet's state and map, in the wallet's order; emit records."""
        async for event in stream.noack().events():  # type: ignore[attr-defined]
            raw = bytes(event.value or b"")
            parsed = mappers.parse(raw)
            if isinstance(parsed, mappers.DeadLetter):  # cannot happen unless bytes changed
                await dead_letters.send(event, parsed.kind, parsed.reason, "wallet")
                event.ack()
                continue
            wallet_id = str(parsed.wallet_id)
            key = wallet_id.encode()
            stored = wallet_state.get(key)
            state = mappers.WalletState.from_dict(stored) if stored is not None else None
            outcome = mappers.process(parsed, state, options)
            if outcome.dead_letter is not None:
                dl = outcome.dead_letter
                await dead_letters.send(event, dl.kind, dl.reason, "wallet")
            else:
                # Faust persists assignments only: write the new state back (or delete it).
                if outcome.state is None:
                    if stored is not None:
                        del wallet_state[key]
                else:
                    wallet_state[key] = outcome.state.to_dict()
                if outcome.duplicate:
                    metrics.DUPLICATES.inc()
                if outcome.record is not None:
                    metrics.RECORDS_OUT.labels(parsed.event_name).inc()
                    await records_topic.send(key=key, value=orjson.dumps(outcome.record))
            if outcome.truncated:
                metrics.TRUNCATED.inc(outcome.truncated)
            for name, count in outcome.counters.items():
                metrics.UNMAPPED.labels(name).inc(count)
            event.ack()

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


def _has_lz4() -> bool:
    try:
        import lz4  # noqa: F401
    except ImportError:
        return False
    return True
