"""The harness's own Kafka traffic: the steady producer, whole-topic reads and committed
offsets. All of it runs on the harness's background event loop (see run.Background)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from chaos.load import Message
from config.settings import DEFAULT_MAX_MESSAGE_BYTES, KAFKA_HEADROOM_BYTES

# As the worker's topics with the default AIRMP_MAX_MESSAGE_BYTES.
MAX_BYTES = DEFAULT_MAX_MESSAGE_BYTES + KAFKA_HEADROOM_BYTES


@dataclass
class Production:
    """Shared with the main thread, which only reads it (ints and list slots: GIL-safe)."""

    total: int
    sent: int = 0
    acked: int = 0
    placed: list[tuple[int, int] | None] = field(default_factory=list)  # (partition, offset)
    finished: bool = False


async def produce(
    bootstrap: str, topic: str, messages: Sequence[Message], seconds: float, state: Production
) -> None:
    """Every message once, in order, spread evenly over `seconds`: a steady rate while the
    workers run. Idempotent with a long timeout, so a broker restart neither loses nor
    repeats nor reorders a message; a message that still fails fails the round."""
    state.placed = [None] * len(messages)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        request_timeout_ms=120_000,
        retry_backoff_ms=250,
        max_request_size=MAX_BYTES,
    )
    await producer.start()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        futures: list[asyncio.Future[object]] = []
        for i, message in enumerate(messages):
            wait = started + seconds * i / len(messages) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            future = await producer.send(topic, key=message.key, value=message.value)
            future.add_done_callback(lambda f, i=i: _placed(state, i, f))
            futures.append(future)
            state.sent = i + 1
        await asyncio.wait_for(producer.flush(), 180)
        for future in futures:
            future.result()  # raises the failure of any message
        state.finished = True
    finally:
        await producer.stop()


def _placed(state: Production, index: int, future: asyncio.Future[object]) -> None:
    if not future.cancelled() and future.exception() is None:
        meta = future.result()
        state.placed[index] = (meta.partition, meta.offset)  # type: ignore[attr-defined]
        state.acked += 1


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()

    def header(self, name: str) -> str:
        return next((v.decode(errors="replace") for k, v in self.headers if k == name), "")


async def read_topic(bootstrap: str, topic: str, timeout: float = 120) -> list[Record]:
    """Every message of `topic` up to its end offsets at the call, no consumer group."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_BYTES,
    )
    await consumer.start()
    out: list[Record] = []
    try:
        partitions = await _partitions(consumer, topic)
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = await consumer.end_offsets(tps)
        wanted = {tp: end for tp, end in ends.items() if end > 0}
        if not wanted:
            return out
        consumer.assign(list(wanted))
        await consumer.seek_to_beginning(*wanted)
        deadline = time.monotonic() + timeout
        while wanted and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, messages in batch.items():
                end = wanted.get(tp)
                for m in messages:
                    if end is not None and m.offset < end:
                        headers = tuple((k, bytes(v or b"")) for k, v in m.headers or ())
                        value = m.value or b""
                        out.append(Record(tp.partition, m.offset, m.key, value, headers))
                if end is not None and messages and messages[-1].offset >= end - 1:
                    del wanted[tp]
        if wanted:
            raise TimeoutError(f"reading {topic}: {len(wanted)} partitions unfinished")
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()
    return out


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return set(partitions)
        await consumer._client.force_metadata_update()  # no public way to ask for one topic
        await asyncio.sleep(0.2)
    raise TimeoutError(f"topic {topic} has no partitions")


async def committed(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    """The group's committed offsets ({} when it has none, or no coordinator yet)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    except KafkaError:
        return {}
    finally:
        await admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}


async def lag(bootstrap: str, group: str, topics: Sequence[str]) -> int:
    """Messages of `topics` the group has not committed (its whole backlog on them)."""
    done = await committed(bootstrap, group)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        total = 0
        for topic in topics:
            tps = [TopicPartition(topic, p) for p in await _partitions(consumer, topic)]
            for tp, end in (await consumer.end_offsets(tps)).items():
                total += max(end - done.get((topic, tp.partition), 0), 0)
        return total
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()
