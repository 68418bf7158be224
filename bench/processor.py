"""Processor: AIR topic -> records topic with one `airmp worker`, against a raw aiokafka loop.

Both read the same pre-filled input topic (a backlog), each in its own consumer group.
Throughput is input events divided by the span between the first and the last output
message's timestamp (CreateTime, set by each one's producer), so start-up is not counted.
Latency is measured afterwards on the same, now idle, worker: new wallets' events are
produced at a steady rate with their timestamp, and each record's timestamp minus its
input's is its end-to-end latency (two hops: ingest re-keys by wallet, wallet_events maps).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from services import Worker

from bench.common import (
    MAX_REQUEST,
    Offsets,
    Sizes,
    create_topics,
    event_id_of_record,
    first_last_timestamps,
    median,
    notifications,
    percentile,
    produce,
    producer,
    producer_key,
    progress,
    read_range,
    say,
    unique,
    wait_drained,
    worker_env,
)

WORKER_TIMEOUT = 900.0


@dataclass
class ProcessorResult:
    events: int
    store: str
    worker_rates: list[float] = field(default_factory=list)
    baseline_rates: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)  # per repetition, same conditions
    paced_rate: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def worker_rate(self) -> float:
        return median(self.worker_rates)

    @property
    def baseline_rate(self) -> float:
        return median(self.baseline_rates)

    @property
    def ratio(self) -> float:
        return median(self.ratios)

    def as_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "store": self.store,
            "worker_rates": self.worker_rates,
            "baseline_rates": self.baseline_rates,
            "ratios": self.ratios,
            "worker_rate": self.worker_rate,
            "baseline_rate": self.baseline_rate,
            "ratio": self.ratio,
            "paced_rate": self.paced_rate,
            "latency_events": len(self.latencies_ms),
            "latency_p50_ms": percentile(self.latencies_ms, 50),
            "latency_p99_ms": percentile(self.latencies_ms, 99),
            "latency_max_ms": max(self.latencies_ms, default=float("nan")),
        }


def _trivial_map(doc: Any) -> dict[str, Any]:
    """The baseline's 'mapping': a few header fields and the first operation's wallet."""
    headers = doc["headers"]
    ops = doc.get("atomicOperations") or [{}]
    value = ops[0].get("objectValue") or {}
    return {
        "event_id": headers.get("eesEventId"),
        "event_name": headers.get("eventName"),
        "event_date": headers.get("eventDate"),
        "wallet_id": value.get("walletId") if isinstance(value, dict) else None,
    }


async def raw_aiokafka(bootstrap: str, source: str, total: int) -> float:
    """Consume `source` from the start in a new group, orjson-parse, map trivially, produce
    to a new topic; events/s between the first and last output timestamps."""
    out_topic = unique("baseline-out")
    await create_topics(bootstrap, [out_topic])
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=unique("baseline"),
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        max_partition_fetch_bytes=MAX_REQUEST,
    )
    prod = producer(bootstrap)
    await consumer.start()
    await prod.start()
    done = 0
    try:
        step = max(total // 5, 1)
        while done < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=2000)
            for messages in batch.values():
                for m in messages:
                    record = _trivial_map(orjson.loads(m.value or b"{}"))
                    await prod.send(out_topic, key=m.key, value=orjson.dumps(record))
                    done += 1
                    if done % step == 0:
                        progress("raw aiokafka loop", done, total)
        await prod.flush()
    finally:
        await prod.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()
    count, first, last = await first_last_timestamps(bootstrap, out_topic)
    return count / max((last - first) / 1000, 1e-3)


async def _worker_backlog(bootstrap: str, env: dict[str, str], total: int, worker: Worker) -> float:
    app_id = env["AIRMP_APP_ID"]
    records = env["AIRMP_RECORDS_TOPIC"]
    by_wallet = f"{app_id}-air-by-wallet"
    await wait_drained(
        bootstrap,
        app_id,
        [env["AIRMP_INPUT_TOPIC"], by_wallet],
        "worker",
        total,
        WORKER_TIMEOUT,
        process=worker.process,
    )
    count, first, last = await first_last_timestamps(bootstrap, records)
    say(f"  worker: {total:,} events -> {count:,} records in {(last - first) / 1000:.1f}s")
    return total / max((last - first) / 1000, 1e-3)


async def _paced(
    bootstrap: str, env: dict[str, str], rate: float, seconds: float, worker: Worker
) -> list[float]:
    """Produce new wallets' events at `rate`/s for `seconds`; per-record latency in ms."""
    app_id, topic = env["AIRMP_APP_ID"], env["AIRMP_INPUT_TOPIC"]
    records_topic = env["AIRMP_RECORDS_TOPIC"]
    events = notifications(max(int(rate * seconds), 1), seed_base=900)
    async with Offsets(bootstrap) as offsets:
        before = await offsets.end(records_topic)
    sent: dict[str, int] = {}
    prod = producer(bootstrap, linger_ms=0)
    await prod.start()
    try:
        start = time.monotonic()
        step = max(len(events) // 5, 1)
        for i, raw in enumerate(events):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            now_ms = int(time.time() * 1000)
            event_id = orjson.loads(raw)["headers"]["eesEventId"]
            sent.setdefault(event_id, now_ms)  # a re-delivery: latency from the first
            await prod.send(topic, key=producer_key(raw), value=raw, timestamp_ms=now_ms)
            if (i + 1) % step == 0:
                progress(f"paced at {rate:.0f}/s", i + 1, len(events))
        await prod.flush()
    finally:
        await prod.stop()
    by_wallet = f"{app_id}-air-by-wallet"
    total = sum((await end_offsets_of(bootstrap, topic)).values())
    await wait_drained(
        bootstrap, app_id, [topic, by_wallet], "paced drain", total, 120, process=worker.process
    )
    async with Offsets(bootstrap) as offsets:
        after = await offsets.end(records_topic)
    latencies: list[float] = []
    for _, ts, value in await read_range(bootstrap, records_topic, before, after):
        event_id = event_id_of_record(value)
        if event_id in sent:
            latencies.append(float(ts - sent[event_id]))
    return latencies


async def end_offsets_of(bootstrap: str, topic: str) -> dict[int, int]:
    async with Offsets(bootstrap) as offsets:
        return await offsets.end(topic)


def run(bootstrap: str, workdir: Path, sizes: Sizes, store: str) -> ProcessorResult:
    result = ProcessorResult(sizes.processor_events, store)
    say(f"processor: generating {sizes.processor_events:,} notifications")
    events = notifications(sizes.processor_events)
    input_topic = unique("bench-air")
    items = [(producer_key(e), e) for e in events]
    asyncio.run(create_topics(bootstrap, [input_topic]))
    asyncio.run(produce(bootstrap, input_topic, items, "pre-filling the input topic"))
    for repetition in range(sizes.processor_runs):
        say(f"processor run {repetition + 1}/{sizes.processor_runs}: raw aiokafka baseline")
        base = asyncio.run(raw_aiokafka(bootstrap, input_topic, len(events)))
        say(f"  baseline: {base:,.0f} events/s")
        say(f"processor run {repetition + 1}/{sizes.processor_runs}: airmp worker")
        last = repetition == sizes.processor_runs - 1
        env = worker_env(
            bootstrap, workdir, unique("bench"), AIRMP_INPUT_TOPIC=input_topic, AIRMP_STORE=store
        )
        worker = Worker(env=env, log_path=workdir / f"{env['AIRMP_APP_ID']}.log").start()
        try:
            rate = asyncio.run(_worker_backlog(bootstrap, env, len(events), worker))
            say(f"  worker: {rate:,.0f} events/s ({rate / base:.2f} x baseline)")
            result.worker_rates.append(rate)
            result.baseline_rates.append(base)
            result.ratios.append(rate / base)
            if last:
                # Latency on an idle worker: a steady load well under its throughput.
                result.paced_rate = float(max(50, min(1000, round(rate * 0.3, -1))))
                result.latencies_ms = asyncio.run(
                    _paced(bootstrap, env, result.paced_rate, sizes.paced_seconds, worker)
                )
        finally:
            code = worker.stop()
            if code not in (0, -15, 143):
                say(f"  worker exited with {code}; log: {worker.log_path}")
    return result
