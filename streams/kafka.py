"""Our own Kafka clients, beside Faust's: their options, their errors in one line, the broker
check and the consumer-group lag. Used by the worker (topic creation, the lag gauge, the
readiness check) and by the operator commands (`airmp lag`, `airmp replay`).

aiokafka's clients swallow the reason a connection failed (a refused socket and rejected
SASL credentials both end as "Unable to bootstrap"), so `check_broker` opens one connection
itself, with the connector's settings, and names the setting to fix. The password never
appears: messages are built from setting names and the bootstrap address only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.metadata import MetadataRequest

from config import Settings
from config.settings import SecurityProtocol
from streams.errors import BrokerError

# The timeouts of our own clients, in one place (Faust's clients take theirs from the app).
REQUEST_TIMEOUT_MS = 15_000  # one admin or consumer request
PRODUCE_TIMEOUT_MS = 2 * REQUEST_TIMEOUT_MS  # acks=all: the request waits for every replica
TOPICS_TIMEOUT_MS = 30_000  # topic creation at start-up: a broker just started may be slow
BROKER_CHECK_TIMEOUT_SECONDS = 10.0  # connect, then one metadata request
NOT_READY_RETRY_SECONDS = 20.0  # a broker just started has no group coordinator yet

QUIET_LOGGERS = ("aiokafka", "aiokafka.conn", "aiokafka.client", "aiokafka.consumer")


# --- options ------------------------------------------------------------------------------


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.kafka_security_protocol not in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL):
        return None
    context = ssl.create_default_context(cafile=settings.kafka_ssl_ca_file)
    if settings.kafka_ssl_cert_file:
        context.load_cert_chain(settings.kafka_ssl_cert_file, settings.kafka_ssl_key_file)
    return context


def _sasl(settings: Settings) -> bool:
    return settings.kafka_security_protocol in (
        SecurityProtocol.SASL_PLAINTEXT,
        SecurityProtocol.SASL_SSL,
    )


def faust_credentials(settings: Settings) -> Any:
    """Faust's `broker_credentials` for the configured security protocol (None: plaintext)."""
    protocol = settings.kafka_security_protocol
    if protocol == SecurityProtocol.PLAINTEXT:
        return None
    if protocol == SecurityProtocol.SSL:
        return faust.SSLCredentials(ssl_context(settings))
    password = settings.kafka_sasl_password
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=password.get_secret_value() if password else None,
        ssl_context=ssl_context(settings),
        mechanism=settings.kafka_sasl_mechanism.value,
    )


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaConsumer/Producer/AdminClient."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol.value,
    }
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if _sasl(settings):
        password = settings.kafka_sasl_password
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism.value,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=password.get_secret_value() if password else None,
        )
    return options


@contextlib.contextmanager
def quiet_aiokafka() -> Iterator[None]:
    """aiokafka logs each failed connection at ERROR: a command prints our one line instead."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def auth_message(settings: Settings) -> str:
    return (
        f"Kafka at {settings.kafka_bootstrap_servers} rejected the credentials "
        f"(SASL {settings.kafka_sasl_mechanism.value}): check AIRMP_KAFKA_SASL_USERNAME and "
        "AIRMP_KAFKA_SASL_PASSWORD (and AIRMP_KAFKA_SASL_MECHANISM)"
    )


def unreachable_message(settings: Settings, detail: str = "") -> str:
    why = f" ({detail})" if detail else ""
    return (
        f"cannot reach Kafka at {settings.kafka_bootstrap_servers}{why}: check "
        "AIRMP_KAFKA_BOOTSTRAP_SERVERS and AIRMP_KAFKA_SECURITY_PROTOCOL"
    )


def is_auth_failure(exc: BaseException) -> bool:
    return isinstance(exc, SaslAuthenticationFailed | AuthenticationFailedError)


def _short(exc: BaseException, settings: Settings) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    password = settings.kafka_sasl_password
    if password is not None and password.get_secret_value():
        text = text.replace(password.get_secret_value(), "**********")
    return text


async def check_broker(settings: Settings, timeout: float = BROKER_CHECK_TIMEOUT_SECONDS) -> None:
    """Connect to a bootstrap server and ask for metadata; raise `BrokerError` when that
    fails (rejected credentials win over an unreachable host in the message)."""
    options = aiokafka_options(settings)
    options.pop("bootstrap_servers")
    last = ""
    for hostport in settings.kafka_bootstrap_servers.split(","):
        host, port = hostport.rsplit(":", 1)
        try:
            conn = await asyncio.wait_for(
                create_conn(host, int(port), request_timeout_ms=int(timeout * 1000), **options),
                timeout,
            )
        except (SaslAuthenticationFailed, AuthenticationFailedError) as exc:
            raise BrokerError(auth_message(settings)) from exc
        except UnsupportedSaslMechanismError as exc:
            raise BrokerError(
                f"Kafka at {settings.kafka_bootstrap_servers} does not offer SASL "
                f"{settings.kafka_sasl_mechanism.value}: check AIRMP_KAFKA_SASL_MECHANISM"
            ) from exc
        except (TimeoutError, OSError, KafkaError) as exc:
            if _sasl(settings) and "auth" in str(exc).lower():
                raise BrokerError(auth_message(settings)) from exc
            last = _short(exc, settings)
            continue
        try:
            await asyncio.wait_for(conn.send(MetadataRequest([])), timeout)
            return
        except (TimeoutError, KafkaError, OSError) as exc:
            last = _short(exc, settings)
        finally:
            conn.close()
    raise BrokerError(unreachable_message(settings, last))


async def broker_error(settings: Settings, exc: KafkaError) -> BrokerError:
    """A client's KafkaError in one line: why it could not connect (asked again, ourselves,
    since aiokafka hides it), rejected credentials, or the error the broker answered with."""
    if isinstance(exc, KafkaConnectionError):
        await check_broker(settings)  # raises the precise reason
        return BrokerError(unreachable_message(settings, type(exc).__name__))
    if is_auth_failure(exc):
        return BrokerError(auth_message(settings))
    return BrokerError(
        f"Kafka at {settings.kafka_bootstrap_servers} answered with an error: {type(exc).__name__}",
        retriable=exc.retriable,
    )


# --- clients ------------------------------------------------------------------------------


class KafkaClients:
    """Plain aiokafka clients with the connector's settings, for one `async with` block.

    Each client is started when asked for; on leaving the block every client made is
    stopped (also one whose start failed: aiokafka warns about an unclosed client
    otherwise), and a KafkaError from inside leaves as one `BrokerError` line."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stops: list[Callable[[], Awaitable[Any]]] = []

    async def admin(self, *, request_timeout_ms: int = REQUEST_TIMEOUT_MS) -> AIOKafkaAdminClient:
        client = AIOKafkaAdminClient(
            **aiokafka_options(self.settings), request_timeout_ms=request_timeout_ms
        )
        self._stops.append(client.close)
        await client.start()
        return client

    async def consumer(self, **options: Any) -> AIOKafkaConsumer:
        """A consumer outside any group, committing nothing; `options` add to or override."""
        client = AIOKafkaConsumer(
            **{
                **aiokafka_options(self.settings),
                "group_id": None,
                "enable_auto_commit": False,
                "request_timeout_ms": REQUEST_TIMEOUT_MS,
                **options,
            }
        )
        self._stops.append(client.stop)
        await client.start()
        return client

    async def producer(self, **options: Any) -> AIOKafkaProducer:
        """acks=all, any message the topics take; `options` add to or override."""
        client = AIOKafkaProducer(
            **{
                **aiokafka_options(self.settings),
                "acks": "all",
                "max_request_size": self.settings.kafka_max_bytes,
                "request_timeout_ms": PRODUCE_TIMEOUT_MS,
                **options,
            }
        )
        self._stops.append(client.stop)
        await client.start()
        return client

    async def __aenter__(self) -> KafkaClients:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stops, self._stops = self._stops, []
        for stop in reversed(stops):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await stop()
        if isinstance(exc, KafkaError):
            raise await broker_error(self.settings, exc) from exc


# --- consumer lag -------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int | None  # None: the group never committed here
    end: int
    lag: int


async def collect_lag(
    settings: Settings,
    groups: list[str],
    topics: list[str],
    retry_seconds: float = NOT_READY_RETRY_SECONDS,
) -> list[PartitionLag]:
    """Committed and end offsets of `groups` on `topics` (those that exist) and on any other
    topic a group committed on; raises `BrokerError` (one line) on failure.

    A partition with no committed offset is read from the start (Faust's
    `auto_offset_reset=earliest`), so its lag is end - beginning. A broker that is there but
    not ready (no group coordinator yet, just after it started) is asked again for up to
    `retry_seconds`; an unreachable one fails at once."""
    deadline = time.monotonic() + retry_seconds
    while True:
        try:
            return await _collect_lag(settings, groups, topics)
        except BrokerError as exc:
            if not exc.retriable or time.monotonic() > deadline:
                raise
            await asyncio.sleep(1.0)


async def _collect_lag(
    settings: Settings, groups: list[str], topics: list[str]
) -> list[PartitionLag]:
    async with KafkaClients(settings) as kafka:
        admin = await kafka.admin()
        consumer = await kafka.consumer()
        partitions: dict[str, list[int]] = {
            t["topic"]: sorted(p["partition"] for p in t["partitions"])
            for t in await admin.describe_topics()
            if t["error_code"] == 0
        }
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group in groups:
            offsets = await admin.list_consumer_group_offsets(group)
            committed[group] = {tp: meta.offset for tp, meta in offsets.items()}
        rows_wanted: list[tuple[str, TopicPartition]] = []
        for group in groups:
            shown = [t for t in topics if t in partitions]
            shown += sorted({tp.topic for tp in committed[group]} - set(shown))
            for topic in shown:
                for p in partitions.get(topic, []):
                    rows_wanted.append((group, TopicPartition(topic, p)))
        tps = sorted({tp for _, tp in rows_wanted})
        ends = await consumer.end_offsets(tps) if tps else {}
        begins = await consumer.beginning_offsets(tps) if tps else {}
    rows = []
    for group, tp in rows_wanted:
        offset = committed[group].get(tp)
        position = offset if offset is not None and offset >= 0 else None
        end = ends[tp]
        start = position if position is not None else begins[tp]
        rows.append(PartitionLag(group, tp.topic, tp.partition, position, end, max(0, end - start)))
    return rows
