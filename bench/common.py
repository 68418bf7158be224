"""Shared pieces of the benchmarks: sizes, realistic data, Kafka helpers, statistics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import journeys
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from localkafka import free_port

PARTITIONS = 6
MAX_REQUEST = 8 * 1024 * 1024
_WALLET = re.compile(rb'"walletId":"(\d+)"')
_EVENT_ID = re.compile(rb'"event_id":"([^"]+)"')


@dataclass(frozen=True)
class Sizes:
    """How much each benchmark does; `quick` is a smoke run, `full` the issue's sizes."""

    name: str
    mapping_events: int  # events per mapping round
    mapping_rounds: int
    processor_events: int  # backlog per processor run
    processor_runs: int  # repetitions (worker and baseline alternate)
    paced_seconds: float  # latency phase
    sink_records: int  # backlog per sink run
    sink_runs: int  # repetitions of each merge setting
    sink_rate_limit: float  # AIRMP_SINK_RATE_LIMIT during the sink benchmark
    memory_small: int
    memory_large: int


QUICK = Sizes("quick", 3_000, 3, 4_000, 1, 4.0, 4_000, 1, 2000.0, 2_000, 8_000)
DEFAULT = Sizes("default", 20_000, 5, 15_000, 3, 15.0, 20_000, 2, 2000.0, 10_000, 100_000)
FULL = Sizes("full", 20_000, 5, 100_000, 3, 30.0, 50_000, 3, 2000.0, 100_000, 1_000_000)


def progress(label: str, done: int, total: int) -> None:
    """One updating line on stderr (a terminal) or a line per call (a log)."""
    end = "\r" if sys.stderr.isatty() and done < total else "\n"
    print(f"  {label}: {done:,}/{total:,}", end=end, file=sys.stderr, flush=True)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------- data


def notifications(count: int, seed_base: int = 0) -> list[bytes]:
    """`count` realistic AIR notifications: journeys of 1000 wallets per seed, each seed's
    wallets distinct (journeys numbers them first_wallet + seed * 10_000 + i), so a large
    run spreads over many wallets and every partition. The result is cut to `count`, which
    leaves the last wallets mid-journey; that is what a live topic looks like too."""
    out: list[bytes] = []
    seed = seed_base
    while len(out) < count:
        out.extend(journeys.build(1000, seed))
        seed += 1
        if len(out) < count and count > 50_000:
            progress("generating notifications", len(out), count)
    return out[:count]


def producer_key(raw: bytes) -> bytes:
    """Like journeys.producer_key (`card-<walletId>`) without parsing the whole event."""
    match = _WALLET.search(raw)
    return b"card-" + (match.group(1) if match else b"none")


def event_id_of_record(value: bytes) -> str | None:
    """The AIR eesEventId a record came from (its `air.event_id`, first in the record)."""
    match = _EVENT_ID.search(value, 0, 400)
    return match.group(1).decode() if match else None


# ---------------------------------------------------------------- statistics


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 100]."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil
    return float(ordered[int(rank) - 1])


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB, from /proc."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


# ---------------------------------------------------------------- Kafka


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int = PARTITIONS) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [
            NewTopic(n, partitions, 1, topic_configs={"max.message.bytes": str(MAX_REQUEST)})
            for n in names
        ]
        await admin.create_topics(topics)
    finally:
        await admin.close()


def producer(bootstrap: str, linger_ms: int = 5) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=linger_ms,
        max_request_size=MAX_REQUEST,
        max_batch_size=256 * 1024,
    )


async def produce(
    bootstrap: str, topic: str, items: Sequence[tuple[bytes | None, bytes]], label: str
) -> None:
    """Produce as fast as the producer takes them (a backlog), with progress."""
    prod = producer(bootstrap)
    await prod.start()
    try:
        step = max(len(items) // 10, 1)
        for i, (key, value) in enumerate(items, 1):
            await prod.send(topic, key=key, value=value)
            if i % step == 0 or i == len(items):
                progress(label, i, len(items))
        await prod.flush()
    finally:
        await prod.stop()


class Offsets:
    """One consumer and one admin client for repeated offset look-ups."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)

    async def __aenter__(self) -> Offsets:
        await self._consumer.start()
        await self._admin.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._admin.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self._consumer.stop()

    async def end(self, topic: str) -> dict[int, int]:
        partitions = self._consumer.partitions_for_topic(topic)
        if not partitions:
            await self._consumer._client.force_metadata_update()
            partitions = self._consumer.partitions_for_topic(topic) or set()
        ends = await self._consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return {tp.partition: off for tp, off in ends.items()}

    async def committed(self, group: str) -> dict[tuple[str, int], int]:
        try:
            offsets = await self._admin.list_consumer_group_offsets(group)
        except KafkaError:  # no coordinator yet (a fresh broker): nothing committed yet
            return {}
        return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    async with Offsets(bootstrap) as offsets:
        return await offsets.end(topic)


async def read_range(
    bootstrap: str, topic: str, start: dict[int, int], end: dict[int, int]
) -> list[tuple[int, int, bytes]]:
    """Messages of `topic` from `start` to `end` offsets: (partition, timestamp ms, value)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=MAX_REQUEST,
    )
    await consumer.start()
    out: list[tuple[int, int, bytes]] = []
    try:
        wanted = {p: e for p, e in end.items() if e > start.get(p, 0)}
        tps = [TopicPartition(topic, p) for p in wanted]
        if not tps:
            return out
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, start.get(tp.partition, 0))
        remaining = set(wanted)
        deadline = time.monotonic() + 300
        while remaining and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, messages in batch.items():
                for m in messages:
                    if m.offset < wanted[tp.partition]:
                        out.append((tp.partition, m.timestamp, m.value or b""))
                if messages and messages[-1].offset >= wanted[tp.partition] - 1:
                    remaining.discard(tp.partition)
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()
    return out


async def first_last_timestamps(bootstrap: str, topic: str) -> tuple[int, int, int]:
    """(count, earliest first-message timestamp, latest last-message timestamp) of a topic,
    reading only the first and the last message of each partition."""
    ends = await end_offsets(bootstrap, topic)
    count = sum(ends.values())
    firsts = await read_range(
        bootstrap, topic, {p: 0 for p in ends}, {p: min(e, 1) for p, e in ends.items()}
    )
    lasts = await read_range(bootstrap, topic, {p: max(e - 1, 0) for p, e in ends.items()}, ends)
    if not firsts or not lasts:
        return count, 0, 0
    return count, min(t for _, t, _ in firsts), max(t for _, t, _ in lasts)


# ---------------------------------------------------------------- the worker


def worker_env(bootstrap: str, workdir: Path, app_id: str, **overrides: str) -> dict[str, str]:
    (workdir / app_id).mkdir(parents=True, exist_ok=True)
    env = {
        "AIRMP_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "AIRMP_APP_ID": app_id,
        "AIRMP_INPUT_TOPIC": f"{app_id}-air",
        "AIRMP_RECORDS_TOPIC": f"{app_id}-records",
        "AIRMP_DEAD_LETTER_TOPIC": f"{app_id}-dlq",
        "AIRMP_TOPIC_PARTITIONS": str(PARTITIONS),
        "AIRMP_STORE": "rocksdb://",
        "AIRMP_DATA_DIR": str(workdir / app_id / "data"),
        "AIRMP_WEB_PORT": str(free_port()),
        "AIRMP_LOG_LEVEL": "warn",
        "AIRMP_SINK_ENABLED": "false",
        "AIRMP_IDENTITY_TYPE": "CARD",
        "AIRMP_CURRENCY": "GBP",
        "AIRMP_MPARTICLE_ENVIRONMENT": "development",
    }
    env.update(overrides)
    return env


async def wait_drained(
    bootstrap: str,
    group: str,
    topics: Sequence[str],
    label: str,
    total: int,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    checkpoints: Sequence[int] = (),
) -> list[tuple[int, int, int]]:
    """Until `group` committed every message of `topics` and at least `total` of the first
    (which counts for progress and checkpoints).

    With `process` (the worker), fails when it exits, and samples its (events committed,
    VmRSS, VmHWM) when the committed count of the first topic passes each of
    `checkpoints`, and at the end."""
    deadline = time.monotonic() + timeout
    samples: list[tuple[int, int, int]] = []
    pending = sorted(checkpoints)
    shown = -1
    pid = process.pid if process is not None else None
    async with Offsets(bootstrap) as offsets:
        while True:
            ends = {t: await offsets.end(t) for t in topics}
            done = await offsets.committed(group)
            counts = [sum(min(done.get((t, p), 0), e) for p, e in ends[t].items()) for t in topics]
            totals = [sum(ends[t].values()) for t in topics]
            first = counts[0]
            while pid is not None and pending and first >= pending[0]:
                samples.append((first, *rss_kib(pid)))
                pending.pop(0)
            # A line per 5% in a log; in a terminal, one line updated in place.
            if first != shown and (sys.stderr.isatty() or first - shown >= total / 20):
                progress(label, min(first, total), total)
                shown = first
            if first >= total and all(c == t for c, t in zip(counts, totals, strict=True)):
                if pid is not None:
                    samples.append((first, *rss_kib(pid)))
                return samples
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{label}: the worker exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{label}: {first}/{total} after {timeout:.0f}s")
            await asyncio.sleep(0.2 if pending else 0.5)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")
