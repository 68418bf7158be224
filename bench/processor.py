"""Processor: AIR topic -> records topic with one `airmp worker`, against two baselines.

The same notifications are pre-filled twice (a backlog): keyed by their own walletId (what
the AIR webhook edge produces; the worker maps each where it lands) and keyed by card
number (the worker re-keys each through the by-wallet topic first). The raw aiokafka loop,
the Faust pass-through agent (`bench.faust_passthrough`) and a worker on each topic run in
turn, each in its own consumer group. Throughput is input events divided by the span
between the first and the last output message's timestamp (CreateTime, set by each one's
producer; the worker's re-keyed topic included), so start-up is not counted; the worker's
CPU time per event is read from /proc over the same backlog (less sensitive to the
machine's other load than events/s). Latency is measured afterwards on each worker, now
idle: new wallets' events are produced at a steady rate with their timestamp, and each
record's timestamp minus its input's is its end-to-end latency."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from bench.common import (
    KEYINGS,
    MAX_BYTES,
    CpuWindow,
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
    progress,
    read_range,
    say,
    unique,
    wait_drained,
    worker_env,
)
from bench.trivial import trivial_map
from testkit.processes import ROOT, Worker

WORKER_TIMEOUT = 900.0


KEYINGS_SHOWN = {"wallet": "input keyed by walletId", "card": "input keyed by card number"}


@dataclass
class WorkerRuns:
    """One worker configuration's repetitions (input keyed one way)."""

    rates: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # worker CPU per event
    vs_faust: list[float] = field(default_factory=list)  # per repetition
    vs_raw: list[float] = field(default_factory=list)
    paced_rate: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "rates": self.rates,
            "rate": median(self.rates),
            "cpu_us_per_event": self.cpu_us,
            "cpu_us": median(self.cpu_us),
            "vs_faust_ratios": self.vs_faust,
            "vs_faust": median(self.vs_faust),
            "vs_raw_ratios": self.vs_raw,
            "vs_raw": median(self.vs_raw),
            "paced_rate": self.paced_rate,
            "latency_events": len(self.latencies_ms),
            "latency_p50_ms": percentile(self.latencies_ms, 50),
            "latency_p99_ms": percentile(self.latencies_ms, 99),
            "latency_max_ms": max(self.latencies_ms, default=float("nan")),
        }


@dataclass
class ProcessorResult:
    events: int
    store: str
    workers: dict[str, WorkerRuns] = field(
        default_factory=lambda: {keying: WorkerRuns() for keying in KEYINGS_SHOWN}
    )
    faust_rates: list[float] = field(default_factory=list)  # Faust pass-through agent
    faust_cpu_us: list[float] = field(default_factory=list)  # its CPU per event
    baseline_rates: list[float] = field(default_factory=list)
    faust_ratios: list[float] = field(default_factory=list)  # pass-through / raw, per rep

    def as_json(self) -> dict[str, Any]:
        wallet = self.workers["wallet"]
        return {
            "events": self.events,
            "store": self.store,
            "workers": {k: w.as_json() for k, w in self.workers.items()},
            "faust_rates": self.faust_rates,
            "faust_rate": median(self.faust_rates),
            "faust_cpu_us_per_event": self.faust_cpu_us,
            "faust_cpu_us": median(self.faust_cpu_us),
            "faust_ratios": self.faust_ratios,
            "faust_ratio": median(self.faust_ratios),
            "baseline_rates": self.baseline_rates,
            "baseline_rate": median(self.baseline_rates),
            # The headline ratios: the walletId-keyed worker.
            "worker_rate": median(wallet.rates),
            "ratio": median(wallet.vs_raw),
            "ratio_faust": median(wallet.vs_faust),
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
        max_partition_fetch_bytes=MAX_BYTES,
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
                    record = trivial_map(orjson.loads(m.value or b"{}"))
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


async def worker_backlog(
    bootstrap: str, env: dict[str, str], total: int, workers: list[Worker]
) -> tuple[float, CpuWindow]:
    """Events/s of `workers` (one consumer group) through a backlog of `total`, and their
    CPU time over it."""
    app_id = env["AIRMP_APP_ID"]
    records = env["AIRMP_RECORDS_TOPIC"]
    by_wallet = f"{app_id}-air-by-wallet"
    cpu = CpuWindow([w.process.pid for w in workers if w.process is not None])
    await wait_drained(
        bootstrap,
        app_id,
        [env["AIRMP_INPUT_TOPIC"], by_wallet],
        "worker" if len(workers) == 1 else f"{len(workers)} workers",
        total,
        WORKER_TIMEOUT,
        process=workers[0].process,
        cpu=cpu,
    )
    count, first, last = await first_last_timestamps(bootstrap, records)
    # Re-keyed input: the worker's first output is on the by-wallet topic.
    hops, hop_first, _ = await first_last_timestamps(bootstrap, by_wallet)
    if hops:
        first = min(first, hop_first)
    say(
        f"  {total:,} events -> {count:,} records ({hops:,} re-keyed) in"
        f" {(last - first) / 1000:.1f}s"
    )
    return total / max((last - first) / 1000, 1e-3), cpu


async def _paced(
    bootstrap: str,
    env: dict[str, str],
    rate: float,
    seconds: float,
    worker: Worker,
    key: Callable[[bytes], bytes | None],
    seed_base: int,
) -> list[float]:
    """Produce new wallets' events at `rate`/s for `seconds`; per-record latency in ms."""
    app_id, topic = env["AIRMP_APP_ID"], env["AIRMP_INPUT_TOPIC"]
    records_topic = env["AIRMP_RECORDS_TOPIC"]
    events = notifications(max(int(rate * seconds), 1), seed_base=seed_base)
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
            await prod.send(topic, key=key(raw), value=raw, timestamp_ms=now_ms)
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
    for message in await read_range(bootstrap, records_topic, before, after):
        event_id = event_id_of_record(message.value)
        if event_id in sent:
            latencies.append(float(message.timestamp - sent[event_id]))
    return latencies


async def end_offsets_of(bootstrap: str, topic: str) -> dict[int, int]:
    async with Offsets(bootstrap) as offsets:
        return await offsets.end(topic)


async def faust_passthrough(
    bootstrap: str, workdir: Path, source: str, total: int
) -> tuple[float, float]:
    """`bench.faust_passthrough` on `source` in its own group; events/s between its first
    and last output timestamps, and its CPU microseconds per event."""
    app_id = unique("bench-faust")
    out_topic = f"{app_id}-out"
    await create_topics(bootstrap, [out_topic])
    env = {
        "BENCH_BOOTSTRAP": bootstrap,
        "BENCH_SOURCE": source,
        "BENCH_OUT": out_topic,
        "BENCH_APP_ID": app_id,
        "BENCH_DATA_DIR": str(workdir / app_id),
    }
    log = open(workdir / f"{app_id}.log", "ab")  # noqa: SIM115 - the child owns it
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.faust_passthrough", "worker", "-l", "warn"],
        env={**os.environ, **env},
        cwd=str(ROOT),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    cpu = CpuWindow([process.pid])
    try:
        await wait_drained(
            bootstrap,
            app_id,
            [source],
            "Faust pass-through",
            total,
            WORKER_TIMEOUT,
            process,
            cpu=cpu,
        )
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()
    count, first, last = await first_last_timestamps(bootstrap, out_topic)
    return count / max((last - first) / 1000, 1e-3), cpu.us_per_event


def _worker_run(
    bootstrap: str, workdir: Path, topic: str, store: str, total: int, label: str
) -> tuple[Worker, dict[str, str], float, float]:
    """A worker on `topic` until it has processed the backlog; returned still running, with
    its events/s and CPU microseconds per event."""
    env = worker_env(
        bootstrap, workdir, unique("bench"), AIRMP_INPUT_TOPIC=topic, AIRMP_STORE=store
    )
    worker = Worker(env=env, log_path=workdir / f"{env['AIRMP_APP_ID']}.log").start()
    try:
        rate, cpu = asyncio.run(worker_backlog(bootstrap, env, total, [worker]))
    except BaseException:
        worker.stop()
        raise
    say(f"  {label}: {rate:,.0f} events/s, {cpu.us_per_event:,.0f} us CPU per event")
    return worker, env, rate, cpu.us_per_event


def stop_worker(worker: Worker) -> None:
    code = worker.stop()
    if code not in (0, -15, 143):
        say(f"  worker exited with {code}; log: {worker.log_path}")


def run(bootstrap: str, workdir: Path, sizes: Sizes, store: str) -> ProcessorResult:
    result = ProcessorResult(sizes.processor_events, store)
    say(f"processor: generating {sizes.processor_events:,} notifications")
    events = notifications(sizes.processor_events)
    total = len(events)
    topics = {keying: unique(f"bench-air-{keying}") for keying in KEYINGS_SHOWN}
    asyncio.run(create_topics(bootstrap, list(topics.values())))
    for keying, topic in topics.items():
        items = [(KEYINGS[keying](e), e) for e in events]
        asyncio.run(produce(bootstrap, topic, items, f"pre-filling the input topic ({keying})"))
    for repetition in range(sizes.processor_runs):
        step = f"processor run {repetition + 1}/{sizes.processor_runs}"
        say(f"{step}: raw aiokafka baseline")
        base = asyncio.run(raw_aiokafka(bootstrap, topics["wallet"], total))
        say(f"  baseline: {base:,.0f} events/s")
        say(f"{step}: Faust pass-through agent")
        faust_rate, faust_cpu = asyncio.run(
            faust_passthrough(bootstrap, workdir, topics["wallet"], total)
        )
        say(
            f"  Faust pass-through: {faust_rate:,.0f} events/s ({faust_rate / base:.2f} x raw),"
            f" {faust_cpu:,.0f} us CPU per event"
        )
        result.faust_rates.append(faust_rate)
        result.faust_cpu_us.append(faust_cpu)
        result.baseline_rates.append(base)
        result.faust_ratios.append(faust_rate / base)
        for keying, shown in KEYINGS_SHOWN.items():
            say(f"{step}: airmp worker, {shown}")
            label = f"worker ({keying})"
            worker, env, rate, cpu_us = _worker_run(
                bootstrap, workdir, topics[keying], store, total, label
            )
            runs = result.workers[keying]
            try:
                say(f"  {label}: {rate / base:.2f} x raw, {rate / faust_rate:.2f} x pass-through")
                runs.rates.append(rate)
                runs.cpu_us.append(cpu_us)
                runs.vs_raw.append(rate / base)
                runs.vs_faust.append(rate / faust_rate)
                if repetition == sizes.processor_runs - 1:
                    # Latency on an idle worker: a steady load well under its throughput.
                    runs.paced_rate = float(max(50, min(1000, round(rate * 0.3, -1))))
                    seed = 900 if keying == "wallet" else 950
                    runs.latencies_ms = asyncio.run(
                        _paced(
                            bootstrap,
                            env,
                            runs.paced_rate,
                            sizes.paced_seconds,
                            worker,
                            KEYINGS[keying],
                            seed,
                        )
                    )
            finally:
                stop_worker(worker)
    return result
