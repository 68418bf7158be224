"""The ledger's look-up in the log (streams/offsets.py) on a real broker."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faust.types import TP

from config import Settings
from streams.app import create_app
from testkit.kafka import create_topics, unique

pytestmark = pytest.mark.integration


async def produce_with_a_marker(bootstrap: str, topic: str) -> None:
    """Offsets 0 and 1 in a transaction, its commit marker at 2, then 3 plainly."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=unique("tx"))
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send_and_wait(topic, b"a", partition=0)
            await producer.send_and_wait(topic, b"b", partition=0)
    finally:
        await producer.stop()
    # The coordinator writes the commit marker after it answered: wait for it to land at 2.
    await wait_end_offset(bootstrap, topic, 3)
    plain = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await plain.start()
    try:
        await plain.send_and_wait(topic, b"c", partition=0)
    finally:
        await plain.stop()


async def wait_end_offset(bootstrap: str, topic: str, end: int) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        for _ in range(100):
            if (await consumer.end_offsets([tp]))[tp] >= end:
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{topic} did not reach offset {end}")
    finally:
        await consumer.stop()


def test_first_offset_from_sees_messages_and_markers(kafka_bootstrap: str, tmp_path: Path) -> None:
    topic = unique("probe")
    asyncio.run(create_topics(kafka_bootstrap, [topic], 1))
    asyncio.run(produce_with_a_marker(kafka_bootstrap, topic))
    settings = Settings(  # type: ignore[call-arg]
        kafka_bootstrap_servers=kafka_bootstrap, store="memory://", data_dir=str(tmp_path)
    )
    consumer: Any = create_app(settings).consumer
    tp = TP(topic, 0)

    async def look() -> list[int | None]:
        try:
            return [await consumer.first_offset_from(tp, offset) for offset in (0, 1, 2, 3, 4)]
        finally:
            await consumer._probe.stop()

    # 2 is the transaction's commit marker: no message, the next one is 3; nothing after 3.
    assert asyncio.run(look()) == [0, 1, 3, 3, None]
