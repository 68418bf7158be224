"""The one Kafka helper of the tests, the benchmarks, the demo and chaos: topics, producing,
reading topics back, and a consumer group's offsets, on a real broker (plain aiokafka).

The connector's own Kafka plumbing (settings, credentials, one-line errors) is in
streams/; this is the harnesses' side, on a local PLAINTEXT broker."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from config.settings import DEFAULT_MAX_MESSAGE_BYTES, KAFKA_HEADROOM_BYTES

# As the worker's topics with the default AIRMP_MAX_MESSAGE_BYTES.
MAX_BYTES = DEFAULT_MAX_MESSAGE_BYTES + KAFKA_HEADROOM_BYTES


@dataclass(frozen=True)
class Message:
    """A message read back: where it is, its bytes and headers."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes] = field(default_factory=dict)
    timestamp: int = 0  # ms

    def header(self, name: str) -> str:
        return self.headers.get(name, b"").decode(errors="replace")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def create_topics(
    bootstrap: str, names: Iterable[str], partitions: int, config: dict[str, str] | None = None
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1, topic_configs=config) for n in names])
    finally:
        await admin.close()


def producer(bootstrap: str, **options: object) -> AIOKafkaProducer:
    """acks=all, a short linger, and the worker's topics' size limit; `options` win."""
    settings: dict[str, object] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "linger_ms": 5,
        "max_request_size": MAX_BYTES,
    }
    settings.update(options)
    return AIOKafkaProducer(**settings)


async def produce(
    bootstrap: str,
    topic: str,
    items: Sequence[tuple[bytes | None, bytes]],
    *,
    partitions: Sequence[int | None] | None = None,
    timestamps_ms: Sequence[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """(key, value) in order, optionally to given partitions with given timestamps;
    `progress(done, total)` about ten times along the way."""
    prod = producer(bootstrap, max_batch_size=256 * 1024)
    await prod.start()
    step = max(len(items) // 10, 1)
    try:
        for i, (key, value) in enumerate(items):
            await prod.send(
                topic,
                key=key,
                value=value,
                partition=partitions[i] if partitions is not None else None,
                timestamp_ms=timestamps_ms[i] if timestamps_ms is not None else None,
            )
            if progress is not None and ((i + 1) % step == 0 or i + 1 == len(items)):
                progress(i + 1, len(items))
        await prod.flush()
    finally:
        await prod.stop()


def _consumer(bootstrap: str, *topics: str, **options: object) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_BYTES,
        **options,
    )


async def _stop(consumer: AIOKafkaConsumer) -> None:
    # aiokafka's group-less consumer can raise CancelledError from its own stop().
    with contextlib.suppress(asyncio.CancelledError):
        await consumer.stop()


def _message(r: ConsumerRecord[bytes, bytes]) -> Message:
    headers = {k: bytes(v or b"") for k, v in r.headers or ()}
    return Message(r.partition, r.offset, r.key, r.value or b"", headers, r.timestamp)


async def consume(
    bootstrap: str,
    topic: str,
    count: int,
    timeout: float = 240.0,
    settle: float = 0.0,
    until: Callable[[list[Message]], bool] | None = None,
) -> list[Message]:
    """Read `topic` from the start until `count` messages and `until(found)` (then `settle`
    s more, to see what should not come), or until `timeout`."""
    consumer = _consumer(bootstrap, topic)
    await consumer.start()
    found: list[Message] = []
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            if settle_until is None and len(found) >= count and (until is None or until(found)):
                settle_until = time.monotonic() + settle
            if settle_until is not None and time.monotonic() >= settle_until:
                break
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                found.extend(_message(r) for r in records)
    finally:
        await _stop(consumer)
    return found


class Offsets:
    """One consumer and one admin client for repeated offset look-ups."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)

    async def __aenter__(self) -> Offsets:
        await self._consumer.start()
        await self._admin.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._admin.close()
        await _stop(self._consumer)

    async def partitions(self, topic: str, timeout: float = 30) -> set[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            partitions = self._consumer.partitions_for_topic(topic)
            if partitions:
                return set(partitions)
            await self._consumer._client.force_metadata_update()  # no public way for one topic
            await asyncio.sleep(0.2)
        raise TimeoutError(f"topic {topic} has no partitions")

    async def end(self, topic: str) -> dict[int, int]:
        tps = [TopicPartition(topic, p) for p in await self.partitions(topic)]
        ends = await self._consumer.end_offsets(tps)
        return {tp.partition: offset for tp, offset in ends.items()}

    async def committed(self, group: str) -> dict[tuple[str, int], int]:
        """The group's committed offsets ({} when it has none, or no coordinator yet)."""
        try:
            offsets = await self._admin.list_consumer_group_offsets(group)
        except KafkaError:
            return {}
        return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    async with Offsets(bootstrap) as offsets:
        return await offsets.end(topic)


async def committed(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    async with Offsets(bootstrap) as offsets:
        return await offsets.committed(group)


async def lag(bootstrap: str, group: str, topics: Sequence[str]) -> int:
    """Messages of `topics` the group has not committed (its whole backlog on them)."""
    async with Offsets(bootstrap) as offsets:
        done = await offsets.committed(group)
        total = 0
        for topic in topics:
            for partition, end in (await offsets.end(topic)).items():
                total += max(end - done.get((topic, partition), 0), 0)
        return total


async def commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit `offsets` for `group`, as a worker of it would."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def read_range(
    bootstrap: str, topic: str, start: dict[int, int], end: dict[int, int], timeout: float = 300
) -> list[Message]:
    """Messages of `topic` from `start` (default 0) up to `end` offsets, per partition."""
    wanted = {p: e for p, e in end.items() if e > start.get(p, 0)}
    if not wanted:
        return []
    consumer = _consumer(bootstrap)
    await consumer.start()
    out: list[Message] = []
    try:
        tps = [TopicPartition(topic, p) for p in wanted]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, start.get(tp.partition, 0))
        deadline = time.monotonic() + timeout
        while wanted and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, records in batch.items():
                stop = wanted.get(tp.partition)
                if stop is None:
                    continue
                out.extend(_message(r) for r in records if r.offset < stop)
                if records and records[-1].offset >= stop - 1:
                    del wanted[tp.partition]
        if wanted:
            raise TimeoutError(f"reading {topic}: {len(wanted)} partitions unfinished")
    finally:
        await _stop(consumer)
    return out


async def read_topic(bootstrap: str, topic: str, timeout: float = 120) -> list[Message]:
    """Every message of `topic` up to its end offsets at the call."""
    return await read_range(bootstrap, topic, {}, await end_offsets(bootstrap, topic), timeout)
