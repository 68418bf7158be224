"""Memory: the worker's RSS as it works through a large backlog.

The AIR topic is pre-filled (generated and produced chunk by chunk, so this process stays
small); one worker (sink disabled) processes it, and its VmRSS is read from /proc when
its wallet_events agent has committed the small and the large count of events.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    Sizes,
    create_topics,
    producer,
    producer_key,
    progress,
    say,
    unique,
    wait_drained,
    worker_env,
)
from testkit import journeys
from testkit.processes import Worker


@dataclass
class MemoryResult:
    store: str
    small: int
    large: int
    samples: list[tuple[int, int, int]] = field(default_factory=list)  # events, RSS, HWM KiB
    seconds: float = 0.0

    def rss_at(self, events: int) -> int:
        return next((rss for n, rss, _ in self.samples if n >= events), 0)

    @property
    def growth(self) -> float:
        small = self.rss_at(self.small)
        return self.rss_at(self.large) / small - 1 if small else float("nan")

    def as_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "small": self.small,
            "large": self.large,
            "samples": self.samples,
            "rss_small_kib": self.rss_at(self.small),
            "rss_large_kib": self.rss_at(self.large),
            "peak_kib": max((h for *_, h in self.samples), default=0),
            "growth": self.growth,
            "seconds": self.seconds,
        }


async def produce_journeys(bootstrap: str, topic: str, count: int, seed_base: int) -> None:
    """`count` notifications, 1000 wallets' journeys at a time."""
    prod = producer(bootstrap)
    await prod.start()
    try:
        sent, seed = 0, seed_base
        while sent < count:
            chunk = journeys.build(1000, seed)[: count - sent]
            for raw in chunk:
                await prod.send(topic, key=producer_key(raw), value=raw)
            sent += len(chunk)
            seed += 1
            progress("pre-filling the input topic", sent, count)
        await prod.flush()
    finally:
        await prod.stop()


def run(bootstrap: str, workdir: Path, sizes: Sizes, store: str) -> MemoryResult:
    result = MemoryResult(store, sizes.memory_small, sizes.memory_large)
    app_id = unique("bench-mem")
    env = worker_env(bootstrap, workdir, app_id, AIRMP_STORE=store)
    asyncio.run(create_topics(bootstrap, [env["AIRMP_INPUT_TOPIC"]]))
    say(f"memory: {sizes.memory_large:,} events into the AIR topic")
    asyncio.run(produce_journeys(bootstrap, env["AIRMP_INPUT_TOPIC"], sizes.memory_large, 100))
    worker = Worker(env=env, log_path=workdir / f"{app_id}.log").start()
    assert worker.process is not None
    try:
        started = time.monotonic()
        result.samples = asyncio.run(
            wait_drained(
                bootstrap,
                app_id,
                [f"{app_id}-air-by-wallet", env["AIRMP_INPUT_TOPIC"]],
                "worker (memory)",
                sizes.memory_large,
                3600,
                process=worker.process,
                checkpoints=[
                    1,
                    sizes.memory_small,
                    *(sizes.memory_large * k // 4 for k in (1, 2, 3)),
                ],
            )
        )
        result.seconds = time.monotonic() - started
    finally:
        worker.stop()
    for events, rss, hwm in result.samples:
        say(f"  after {events:,} events: RSS {rss / 1024:,.0f} MiB (peak {hwm / 1024:,.0f} MiB)")
    return result
