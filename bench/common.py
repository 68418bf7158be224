"""Shared pieces of the benchmarks: sizes, realistic data, Kafka and worker set-up, statistics."""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from aiokafka import AIOKafkaProducer

from testkit import journeys, kafka, processes
from testkit.kafka import MAX_BYTES, Offsets, end_offsets, read_range, unique

__all__ = ["MAX_BYTES", "Offsets", "end_offsets", "read_range", "unique"]

PARTITIONS = 6
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
    edge_rate: float = 200.0  # requests/s against the HTTP edges
    edge_seconds: float = 20.0
    scale_events: int = 20_000  # backlog of each scale-out run (one worker, then two)
    scale_runs: int = 3  # repetitions of the pair
    # Firehose membership changes of these many profiles, then the largest that fits the
    # body limit (issue #21)
    edge_audiences: tuple[int, ...] = (1_000, 10_000)


QUICK = Sizes(
    "quick", 3_000, 3, 4_000, 1, 4.0, 4_000, 1, 2000.0, 2_000, 8_000, 200.0, 5.0, 4_000, 1
)
QUICK = replace(QUICK, edge_audiences=(1_000,))  # a short smoke: 1,000 (and the largest)
DEFAULT = Sizes("default", 20_000, 5, 15_000, 3, 15.0, 20_000, 2, 2000.0, 10_000, 100_000)
FULL = Sizes(
    "full", 20_000, 5, 100_000, 3, 30.0, 50_000, 3, 2000.0, 100_000, 1_000_000, 200.0, 20.0, 50_000
)


def progress(label: str, done: int, total: int) -> None:
    """One updating line on stderr (a terminal) or a line per call (a log)."""
    end = "\r" if sys.stderr.isatty() and done < total else "\n"
    print(f"  {label}: {done:,}/{total:,}", end=end, file=sys.stderr, flush=True)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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


def wallet_key(raw: bytes) -> bytes | None:
    """The notification's own walletId as its key (what the AIR webhook edge produces), as
    the worker reads it (docs/mapping.md §1); None without one."""
    return journeys.wallet_of(raw).encode() or None


KEYINGS = {"wallet": wallet_key, "card": producer_key}  # keyed by walletId / otherwise


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used, from /proc (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU time used on the whole machine (all processes, all CPUs), from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


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


# ---------------------------------------------------------------- Kafka and the worker
# testkit.kafka, with the benchmarks' partitions and their large topics.


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int = PARTITIONS) -> None:
    config = {"max.message.bytes": str(MAX_BYTES)}
    await kafka.create_topics(bootstrap, names, partitions, config=config)


def producer(bootstrap: str, linger_ms: int = 5) -> AIOKafkaProducer:
    return kafka.producer(bootstrap, linger_ms=linger_ms, max_batch_size=256 * 1024)


async def produce(
    bootstrap: str, topic: str, items: Sequence[tuple[bytes | None, bytes]], label: str
) -> None:
    """Produce as fast as the producer takes them (a backlog), with progress."""
    await kafka.produce(bootstrap, topic, items, progress=lambda d, t: progress(label, d, t))


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
    return count, min(m.timestamp for m in firsts), max(m.timestamp for m in lasts)


def worker_env(bootstrap: str, workdir: Path, app_id: str, **overrides: str) -> dict[str, str]:
    (workdir / app_id).mkdir(parents=True, exist_ok=True)
    settings = {
        "AIRMP_APP_ID": app_id,
        "AIRMP_TOPIC_PARTITIONS": str(PARTITIONS),
        "AIRMP_STORE": "rocksdb://",
        "AIRMP_LOG_LEVEL": "warn",
        "AIRMP_SINK_ENABLED": "false",
        "AIRMP_KAFKA_SESSION_TIMEOUT_SECONDS": "30",
        **overrides,
    }
    return processes.worker_env(bootstrap, workdir / app_id, **settings)


@dataclass
class CpuWindow:
    """CPU time of some processes (workers) from when a tenth of a backlog is committed to
    when all of it is: start-up left out. Filled in by `wait_drained`."""

    pids: Sequence[int]
    start: tuple[int, float] | None = None  # (events committed, CPU seconds of all pids)
    end: tuple[int, float] | None = None

    def sample(self) -> tuple[int, float]:
        return 0, sum(cpu_seconds(pid) for pid in self.pids)

    @property
    def us_per_event(self) -> float:
        if self.start is None or self.end is None or self.end[0] <= self.start[0]:
            return float("nan")
        return (self.end[1] - self.start[1]) / (self.end[0] - self.start[0]) * 1e6


async def wait_drained(
    bootstrap: str,
    group: str,
    topics: Sequence[str],
    label: str,
    total: int,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    checkpoints: Sequence[int] = (),
    cpu: CpuWindow | None = None,
) -> list[tuple[int, int, int]]:
    """Until `group` committed every message of `topics` and at least `total` of the first
    (which counts for progress and checkpoints).

    With `process` (the worker), fails when it exits, and samples its (events committed,
    VmRSS, VmHWM) when the committed count of the first topic passes each of
    `checkpoints`, and at the end. With `cpu`, fills in its window."""
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
            if cpu is not None and cpu.start is None and first >= total / 10:
                cpu.start = (first, cpu.sample()[1])
            while pid is not None and pending and first >= pending[0]:
                samples.append((first, *rss_kib(pid)))
                pending.pop(0)
            # A line per 5% in a log; in a terminal, one line updated in place.
            if first != shown and (sys.stderr.isatty() or first - shown >= total / 20):
                progress(label, min(first, total), total)
                shown = first
            if first >= total and all(c == t for c, t in zip(counts, totals, strict=True)):
                if cpu is not None:
                    cpu.end = (first, cpu.sample()[1])
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
