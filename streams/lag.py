"""`airmp lag`: how far the connector's consumer group is behind, per topic and partition.

The Faust app reads the input topic (ingest), the by-wallet topic (wallet_events) and the
records topic (sink) in ONE consumer group, `AIRMP_APP_ID`. For each group asked about this
shows every partition of those topics (and of any other topic the group committed on):
committed offset, end offset, lag. A partition with no committed offset is read from the
start (Faust's `auto_offset_reset=earliest`), so its lag is end - beginning.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from dataclasses import asdict, dataclass
from typing import TextIO

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError

from config import Settings
from streams.kafka_check import (
    BrokerError,
    auth_message,
    check_broker,
    is_auth_failure,
    quiet_aiokafka,
    unreachable_message,
)
from streams.kafka_options import aiokafka_options
from streams.topics import by_wallet_topic

TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int | None  # None: the group never committed here
    end: int
    lag: int


def connector_topics(settings: Settings) -> list[str]:
    """The topics the connector's group consumes."""
    return [settings.input_topic, by_wallet_topic(settings), settings.records_topic]


async def collect_lag(
    settings: Settings, groups: list[str], retry_seconds: float = 20.0
) -> list[PartitionLag]:
    """Committed and end offsets of `groups`; raises `BrokerError` (one line) on failure.

    A broker that is there but not ready (no group coordinator yet, just after it started)
    is asked again for up to `retry_seconds`; an unreachable one fails at once."""
    deadline = time.monotonic() + retry_seconds
    while True:
        try:
            return await _collect_lag(settings, groups)
        except KafkaError as exc:
            if not exc.retriable or time.monotonic() > deadline:
                raise BrokerError(
                    f"Kafka at {settings.kafka_bootstrap_servers} answered with an error: "
                    f"{type(exc).__name__}"
                ) from exc
            await asyncio.sleep(1.0)


async def _collect_lag(settings: Settings, groups: list[str]) -> list[PartitionLag]:
    options = aiokafka_options(settings)
    admin = AIOKafkaAdminClient(**options, request_timeout_ms=TIMEOUT_MS)
    consumer = AIOKafkaConsumer(
        **options, group_id=None, enable_auto_commit=False, request_timeout_ms=TIMEOUT_MS
    )
    try:
        await admin.start()
        await consumer.start()
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
            topics = [t for t in connector_topics(settings) if t in partitions]
            topics += sorted({tp.topic for tp in committed[group]} - set(topics))
            for topic in topics:
                for p in partitions.get(topic, []):
                    rows_wanted.append((group, TopicPartition(topic, p)))
        tps = sorted({tp for _, tp in rows_wanted})
        ends = await consumer.end_offsets(tps) if tps else {}
        begins = await consumer.beginning_offsets(tps) if tps else {}
    except KafkaConnectionError as exc:
        # aiokafka hides why it could not connect: ask once more, ourselves, for the reason.
        await check_broker(settings)
        raise BrokerError(unreachable_message(settings, type(exc).__name__)) from exc
    except KafkaError as exc:
        if is_auth_failure(exc):
            raise BrokerError(auth_message(settings)) from exc
        raise  # collect_lag retries what may pass, and words the rest
    finally:
        # Stopped even when start failed: aiokafka warns about an unclosed client otherwise.
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await consumer.stop()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await admin.close()
    rows = []
    for group, tp in rows_wanted:
        offset = committed[group].get(tp)
        position = offset if offset is not None and offset >= 0 else None
        end = ends[tp]
        start = position if position is not None else begins[tp]
        rows.append(PartitionLag(group, tp.topic, tp.partition, position, end, max(0, end - start)))
    return rows


def render_table(rows: list[PartitionLag]) -> str:
    header = ("GROUP", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG")
    body = [
        (
            r.group,
            r.topic,
            str(r.partition),
            "-" if r.committed is None else str(r.committed),
            str(r.end),
            str(r.lag),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = []
    for row in [header, *body]:
        cells = [
            cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    total = sum(r.lag for r in rows)
    lines.append(f"total lag: {total}")
    return "\n".join(lines)


def render_json(rows: list[PartitionLag]) -> str:
    return orjson.dumps(
        {"partitions": [asdict(r) for r in rows], "total_lag": sum(r.lag for r in rows)}
    ).decode()


def run_lag(
    settings: Settings,
    groups: list[str],
    *,
    as_json: bool = False,
    max_lag: int | None = None,
    watch: float | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Print the lag; 0 when within --max-lag, 1 when above it, 2 when Kafka cannot be used."""
    out = out or sys.stdout
    err = err or sys.stderr
    quiet_aiokafka()
    groups = groups or [settings.app_id]
    status = 0
    while True:
        try:
            rows = asyncio.run(collect_lag(settings, groups))
        except BrokerError as exc:
            err.write(f"airmp lag: {exc}\n")
            err.flush()
            status = 2
            if watch is None:
                return status
        else:
            if watch is not None and not as_json:
                out.write(time.strftime("%Y-%m-%d %H:%M:%S") + "\n")
            out.write((render_json(rows) if as_json else render_table(rows)) + "\n")
            out.flush()
            over = [r for r in rows if max_lag is not None and r.lag > max_lag]
            status = 1 if over else 0
            if over and not as_json:
                err.write(
                    f"airmp lag: {len(over)} partition(s) lag more than --max-lag {max_lag}\n"
                )
                err.flush()
            if watch is None:
                return status
        try:
            time.sleep(watch)
        except KeyboardInterrupt:
            return status
