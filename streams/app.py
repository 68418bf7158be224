"""The Faust app: topics, tables, and the wiring of agents, timers, views and edges.

    AIR input topic --ingest--> <app>-air-by-wallet (re-keyed by walletId)
        --wallet_events (state table)--> records topic --deliver_records--> mParticle
    audience topic --fan_out_audiences--> reward topic --deliver_rewards--> AIR
    anything bad, at any stage ---------> dead-letter topic (original bytes, reason in headers)

The agents are in streams/agents.py, sink_agent.py, audiences.py and rewards.py, the HTTP
edges in streams/edges/ (docs/architecture.md draws it all); what they share is one
`Pipeline` (streams/pipeline.py). What may be committed is decided by
`streams.offsets.LedgerConsumer`: only offsets our handlers completed (docs/reliability.md).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, cast

import faust
import orjson
from faust.types import ProducerT
from mode import Service

import mappers
from config import Settings
from sinks import AirClient, ReferenceLookups
from streams import agents, audiences, metrics, sink_agent
from streams import rewards as rewards_agent
from streams.dead_letters import DeadLetterTopic
from streams.edges import install_edges
from streams.edges.server import KEEPALIVE_SECONDS, EdgeWeb
from streams.kafka import faust_credentials
from streams.logs import secrets_of
from streams.offsets import App as LedgerApp
from streams.pipeline import Air, Pipeline, Topics
from streams.recovery import Table, TableManager
from streams.timers import install_timers
from streams.topics import by_wallet_topic, consumed_topics, topic_config
from streams.views import install_views


class OrjsonCodec(faust.Codec):
    """Table values as JSON through orjson: several times faster than the stdlib codec."""

    def _dumps(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return orjson.loads(s)


faust.serializers.codecs.register("orjson", OrjsonCodec())
log = logging.getLogger("airmp.app")


class App(LedgerApp):
    """The worker's app: `streams.offsets.App` (commits by the ledger), and a producer
    handed out without trips round the event loop once it runs.

    Faust's `maybe_start_producer` is `@stampede`-wrapped (mode.utils.futures), and the
    wrapper awaits `asyncio.sleep(0)` three times per call; every `Topic.send` and every
    table changelog write calls it. That was six trips round the event loop per event,
    each behind whatever else was ready, and half the time of a send
    (docs/benchmarks.md). The stampede guard matters only while the producer starts."""

    async def maybe_start_producer(self) -> ProducerT:
        producer = self.producer
        if not self.in_transaction and cast(Service, producer)._started.is_set():
            return producer
        return cast(ProducerT, await super().maybe_start_producer())

    def _new_web(self) -> EdgeWeb:
        # The edges' server: a header-read timeout, client errors as warnings (its docstring).
        return EdgeWeb(self)


class Worker(faust.Worker):
    """Faust's worker without its terminal spinner: at log level WARN and above the spinner
    sets the root logger to DEBUG to spin on every record, so every library's debug
    records get built (a tenth of the worker's time in the benchmark)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spinner = None


def create_app(settings: Settings, **faust_options: Any) -> faust.App:
    app = App(faust_id(settings), **app_options(settings), **faust_options)
    p = pipeline(app, settings)
    if settings.agents_enabled:
        install_agents(p)
    # The series panels and alerts read, at 0 before the first of anything (issue 21).
    metrics.prime(consumed_topics(settings) if settings.agents_enabled else ())
    if settings.edges_enabled:
        p.edges = install_edges(app, settings)
    install_views(p)
    install_timers(p)
    return app


def faust_id(settings: Settings) -> str:
    """The Faust app id, which is the consumer group: AIRMP_APP_ID. An edges-only worker
    (AIRMP_AGENTS_ENABLED=false) consumes nothing, but every Faust app joins its group (its
    leader topic): it gets a group of its own, so edges pods coming and going never
    rebalance the workers."""
    return settings.app_id if settings.agents_enabled else f"{settings.app_id}-edges"


def install_agents(p: Pipeline) -> None:
    app, settings = p.app, p.settings
    app.agent(p.topics.input, name="ingest", concurrency=1)(partial(agents.ingest, p))
    wallet_events = partial(agents.wallet_events, p)
    app.agent(p.topics.by_wallet, name="wallet_events", concurrency=1)(wallet_events)
    if settings.sink_enabled:
        deliver = partial(sink_agent.deliver_records, p)
        app.agent(p.topics.records, name="deliver_records", concurrency=1)(deliver)
    fan_out = partial(audiences.fan_out_audiences, p)
    app.agent(p.topics.audiences, name="fan_out_audiences", concurrency=1)(fan_out)
    if p.air is not None:
        rewards = partial(rewards_agent.deliver_rewards, p)
        app.agent(p.topics.rewards, name="deliver_rewards", concurrency=1)(rewards)
    else:
        app.task(say_rewards_off)


def pipeline(app: faust.App, settings: Settings) -> Pipeline:
    """The topics, the wallet-state table and the dead-letter writer of `app`."""

    def topic(name: str) -> faust.TopicT:
        # internal=True lets Faust declare it too; `airmp worker` has already created it.
        return app.topic(
            name,
            partitions=settings.topic_partitions,
            internal=True,
            config=topic_config(settings),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

    topics = Topics(
        input=topic(settings.input_topic),
        by_wallet=topic(by_wallet_topic(settings)),
        records=topic(settings.records_topic),
        dead_letters=topic(settings.dead_letter_topic),
        rewards=topic(settings.reward_topic),
        audiences=topic(settings.audience_topic),
    )
    # Tables only where agents run: a declared table is a changelog the worker reads back
    # at start and a subscription in the group (an edges-only worker keeps no state).
    stateful = settings.agents_enabled
    wallet_state = json_table(app, "wallet-state", settings) if stateful else None  # walletId
    audience_requests = json_table(app, "audience-requests", settings) if stateful else None
    options = mappers.MappingOptions.from_settings(settings)
    dead_letters = DeadLetterTopic(topics.dead_letters, secrets_of(settings))
    air = air_side(app, settings) if settings.air_enabled and stateful else None
    p = Pipeline(app, settings, options, topics, wallet_state, audience_requests, dead_letters, air)
    if settings.sink_enabled and stateful:  # keyed by walletId: batch ids mParticle accepted
        p.sink_accepted = json_table(app, "sink-accepted", settings)
    return p


def air_side(app: faust.App, settings: Settings) -> Air:
    """The AIR client, SPEND.VOID's look-ups and the rewards-granted table."""
    client = AirClient.from_settings(settings)
    lookups = ReferenceLookups(client, observer=lambda o: metrics.AIR_LOOKUPS.labels(o).inc())
    granted = json_table(app, "rewards-granted", settings)  # keyed by identity value
    return Air(client, lookups, granted)


def json_table(app: faust.App, name: str, settings: Settings) -> Any:
    """A table keyed by the bytes its topic is keyed by, with plain dicts (JSON) as values."""
    return app.Table(
        name,
        default=None,
        partitions=settings.topic_partitions,
        schema=faust.Schema(key_serializer="raw", value_serializer="orjson"),
        options=rocksdb_options(settings),
    )


async def say_rewards_off() -> None:
    log.info(
        "rewards off: AIRMP_AIR_CLIENT_ID, AIRMP_AIR_CLIENT_SECRET and AIRMP_AIR_WALLET_URL"
        " are not set, so reward requests wait on their topic"
    )


def app_options(settings: Settings) -> dict[str, Any]:
    """Faust's settings for the worker (acks=all, raw bytes, sizes, commit cadence)."""
    return {
        "broker": settings.kafka_url,
        "broker_credentials": faust_credentials(settings),
        "store": settings.store,
        "datadir": settings.data_dir,
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication_factor,
        "topic_allow_declare": True,
        "consumer_auto_offset_reset": "earliest",
        "key_serializer": "raw",
        "value_serializer": "raw",
        "web_port": settings.web_port,
        "web_enabled": True,
        # The edges take AIR notifications up to AIRMP_MAX_MESSAGE_BYTES (aiohttp: 1 MiB).
        # Idle kept-alive connections closed after 75 s (aiohttp's own default is an hour).
        "web_application_options": {
            "client_max_size": settings.kafka_max_bytes,
            "handler_args": {"keepalive_timeout": KEEPALIVE_SECONDS},
        },
        "Worker": Worker,
        # Tables that keep their schema's raw keys through a restart (faust-streaming/faust#310).
        "Table": Table,
        "TableManager": TableManager,
        "broker_session_timeout": settings.kafka_session_timeout_seconds,
        "broker_heartbeat_interval": min(3.0, settings.kafka_session_timeout_seconds / 3),
        # A revocation waits for deliveries in flight (AIRMP_DELIVERY_GRACE_SECONDS) and
        # commits before the worker rejoins; the group waits that long for it, so no joining
        # worker gets a partition its previous owner has not committed (docs/reliability.md).
        "broker_rebalance_timeout": rebalance_timeout(settings),
        "table_standby_replicas": settings.table_standby_replicas,
        "broker_request_timeout": max(90.0, rebalance_timeout(settings) + 30.0),  # the join
        "producer_acks": -1,
        # Any notification the input topic took must fit the by-wallet and dead-letter topics.
        "producer_max_request_size": settings.kafka_max_bytes,
        "consumer_max_fetch_size": settings.kafka_max_bytes,
        "producer_linger_ms": 5,
        "producer_compression_type": "lz4" if _has_lz4() else None,
        "stream_buffer_maxsize": 4096,
        "broker_commit_every": 1000,
        "broker_commit_interval": 1.0,
    }


def rebalance_timeout(settings: Settings) -> float:
    """Faust's default (60 s), or the delivery grace and 30 s for the commit if longer."""
    return max(60.0, settings.delivery_grace_seconds + 30.0)


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
