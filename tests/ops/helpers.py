"""Small helpers for the operations tests: run `airmp`, produce, commit a group's offsets."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from services import AIRMP

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def clean_env(**airmp: str) -> dict[str, str]:
    """The test's own environment without any AIRMP_ variable, plus `airmp`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRMP_")}
    env.update(airmp)
    return env


def airmp(
    args: list[str], env: dict[str, str], timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AIRMP, *args],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(ROOT),
    )


async def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def produce(
    bootstrap: str,
    topic: str,
    items: Iterable[tuple[int | None, bytes | None, bytes]],
    timestamps_ms: Iterable[int] | None = None,
) -> None:
    """(partition or None, key, value) in order, optionally with explicit timestamps."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    stamps = list(timestamps_ms) if timestamps_ms is not None else None
    try:
        for i, (partition, key, value) in enumerate(items):
            ts = stamps[i] if stamps is not None else None
            await producer.send(topic, key=key, value=value, partition=partition, timestamp_ms=ts)
        await producer.flush()
    finally:
        await producer.stop()


async def commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def poll(what: Callable[[], T | None], timeout: float, interval: float = 0.3) -> T | None:
    """`what()` until it returns something truthy, or None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def http_status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=3).status_code
    except httpx.HTTPError:
        return None
