"""Test helpers on a real broker: unique names, produce, consume until done, run workers."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from localkafka import free_port
from services import AIRMP, Endpoint, Worker

__all__ = ["AIRMP", "Endpoint", "Worker", "free_port"]


@dataclass
class Message:
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    partition: int
    offset: int


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, items: Iterable[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=8 * 1024 * 1024
    )
    await producer.start()
    try:
        for key, value in items:
            await producer.send(topic, key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()


async def consume(
    bootstrap: str,
    topic: str,
    count: int,
    timeout: float = 240.0,
    settle: float = 0.0,
    until: Callable[[list[Message]], bool] | None = None,
) -> list[Message]:
    """Read `topic` from the start until `count` messages and `until(found)` (then `settle`
    s more), or timeout."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
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
                for r in records:
                    headers = {k: bytes(v) for k, v in (r.headers or ())}
                    found.append(Message(r.key, r.value or b"", headers, r.partition, r.offset))
    finally:
        await consumer.stop()
    return found


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [p["partition"] for p in described["partitions"]]
    assert partitions, f"topic {topic} has no partitions: {described}"
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = await consumer.end_offsets(tps)
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        # aiokafka's group-less consumer can raise CancelledError from its own stop().
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()


def worker_env(bootstrap: str, tmp: Path, **overrides: str) -> dict[str, str]:
    """Settings for one test's worker: its own app id, topics and data dir."""
    app_id = unique("t")
    env = {
        "AIRMP_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "AIRMP_APP_ID": app_id,
        "AIRMP_INPUT_TOPIC": f"{app_id}-air",
        "AIRMP_RECORDS_TOPIC": f"{app_id}-records",
        "AIRMP_DEAD_LETTER_TOPIC": f"{app_id}-dlq",
        "AIRMP_TOPIC_PARTITIONS": "3",
        "AIRMP_STORE": "memory://",
        "AIRMP_DATA_DIR": str(tmp / "data"),
        "AIRMP_WEB_PORT": str(free_port()),
        "AIRMP_LOG_LEVEL": "info",
        "AIRMP_KAFKA_SESSION_TIMEOUT_SECONDS": "8",  # a killed worker's partitions move fast
        "AIRMP_IDENTITY_TYPE": "CARD",
        "AIRMP_CURRENCY": "GBP",
        "AIRMP_MPARTICLE_ENVIRONMENT": "development",
    }
    env.update(overrides)
    return env


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)
