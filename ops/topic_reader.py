"""Reading a fixed range of a topic without a consumer group, and progress on stderr: what
`airmp replay` and `airmp dead-letters` share.

A range is fixed when the command starts (`spans`: the end offsets captured then), so what
is produced meanwhile, a live worker's output or the command's own, is not read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from config import Settings
from ops.replay.range import Bounds, ReplayRange, Span
from streams.kafka import KafkaClients

PROGRESS_INTERVAL = 0.5  # seconds between progress lines at most
FETCH_MAX_BYTES = 52_428_800  # aiokafka's default for one fetch (all partitions)


# --- progress -----------------------------------------------------------------------------


def duration(value: float) -> str:
    seconds = max(0, round(value))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """`done/total unit (pct), rate, ETA` on stderr, at most one line per `interval` s."""

    def __init__(
        self,
        total: int,
        err: TextIO,
        interval: float = PROGRESS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        *,
        prefix: str = "airmp replay",
        unit: str = "events",
    ) -> None:
        self.total = total
        self.err = err
        self.interval = interval
        self.clock = clock
        self.prefix = prefix
        self.unit = unit
        self.started = clock()
        self.last = self.started

    def rate(self, done: int) -> float:
        elapsed = self.clock() - self.started
        return done / elapsed if elapsed > 0 else 0.0

    def line(self, done: int) -> str:
        pct = 100.0 * done / self.total if self.total else 100.0
        rate = self.rate(done)
        eta = duration((self.total - done) / rate) if rate > 0 else "?"
        return (
            f"{self.prefix}: {done}/{self.total} {self.unit} ({pct:.0f}%), "
            f"{rate:.0f} {self.unit}/s, ETA {eta}"
        )

    def update(self, done: int, force: bool = False) -> None:
        now = self.clock()
        if force or now - self.last >= self.interval:
            self.last = now
            self.err.write(self.line(done) + "\n")
            self.err.flush()


# --- reading -------------------------------------------------------------------------------


async def range_consumer(kafka: KafkaClients, settings: Settings) -> AIOKafkaConsumer:
    """A consumer without a group for reading ranges: any message the broker may hold
    (`Settings.kafka_max_bytes`) fits one fetch."""
    fetch = settings.kafka_max_bytes
    return await kafka.consumer(
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=fetch,
        fetch_max_bytes=max(fetch, FETCH_MAX_BYTES),
    )


async def partitions_of(admin: AIOKafkaAdminClient, topic: str) -> list[int] | None:
    """The topic's partitions; None when it does not exist."""
    (described,) = await admin.describe_topics([topic])
    if described.get("error_code", 0) != 0 or not described.get("partitions"):
        return None
    return sorted(p["partition"] for p in described["partitions"])


async def spans(
    consumer: AIOKafkaConsumer, topic: str, partitions: list[int], rng: ReplayRange
) -> dict[TopicPartition, Span]:
    """The offsets Kafka reports now, made into the spans to read (`ReplayRange.spans`)."""
    tps = [TopicPartition(topic, p) for p in partitions]
    begins = await consumer.beginning_offsets(tps)
    ends = await consumer.end_offsets(tps)
    at_from = await offsets_at(consumer, tps, rng.from_ms)
    at_to = await offsets_at(consumer, tps, rng.to_ms)
    bounds = {
        tp.partition: Bounds(begins[tp], ends[tp], at_from.get(tp), at_to.get(tp)) for tp in tps
    }
    return {TopicPartition(topic, p): span for p, span in rng.spans(topic, bounds).items()}


async def offsets_at(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], ms: int | None
) -> dict[TopicPartition, int]:
    """The first offset at or after `ms` of each partition that has one."""
    if ms is None:
        return {}
    found = await consumer.offsets_for_times(dict.fromkeys(tps, ms))
    return {tp: at.offset for tp, at in found.items() if at is not None}


async def read_spans(
    consumer: AIOKafkaConsumer,
    spans: dict[TopicPartition, Span],
    each: Callable[[Any], Any],
) -> bool:
    """Every message of `spans`, per partition in offset order; `each` is awaited if async.
    `each` returning False stops the reading: then False is returned, else True."""
    if not spans:
        return True
    consumer.assign(list(spans))
    for tp, span in spans.items():
        consumer.seek(tp, span.start)
    remaining = set(spans)
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=1000)
        for tp, messages in batch.items():
            stop = spans[tp].stop
            for message in messages:
                if message.offset >= stop:
                    break
                result = each(message)
                if asyncio.iscoroutine(result):
                    result = await result
                if result is False:
                    return False
        for tp in list(remaining):
            # A position past the stop offset (also across gaps: compaction, transaction
            # markers) ends the partition.
            if await consumer.position(tp) >= spans[tp].stop:
                remaining.discard(tp)
                consumer.pause(tp)
    return True
