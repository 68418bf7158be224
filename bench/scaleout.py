"""Scale-out: one worker, then two in one consumer group, on the same backlog; the pair
three times (default run), the ratio the median of the pairs' ratios.

Each run gets its own input topic (6 partitions) of the same notifications, keyed by
walletId. The workers are started on the empty topic and the backlog is produced only once
the group is stable with every worker holding partitions, so the rebalance of a second
worker joining is not counted; the producer is an order of magnitude faster than the
workers, so they work through a backlog all the same. Events/s as in the processor step
(first to last output timestamp). Where the CPU went, over the same span: the workers, the
broker, this process (producer and polling) and everything else on the machine (other
users of a shared machine), from /proc.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from bench.common import (
    KEYINGS,
    Sizes,
    cpu_seconds,
    create_topics,
    machine_cpu_seconds,
    median,
    notifications,
    produce,
    say,
    unique,
    worker_env,
)
from bench.processor import stop_worker, worker_backlog
from testkit.processes import Worker, http_status, poll

READY_TIMEOUT = 180.0


@dataclass
class ScaleRun:
    workers: int
    repetition: int = 0
    rate: float = 0.0  # events/s, first to last output
    seconds: float = 0.0  # wall time of the CPU accounting (produce start to drained)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by who used them

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ScaleResult:
    events: int
    runs: list[ScaleRun] = field(default_factory=list)

    def rates(self, workers: int) -> list[float]:
        return [r.rate for r in self.runs if r.workers == workers]

    @property
    def ratios(self) -> list[float]:
        """Two workers / one, per repetition (each pair run back to back)."""
        return [two / one for one, two in zip(self.rates(1), self.rates(2), strict=False) if one]

    def cpu_shares(self, workers: int) -> dict[str, float]:
        """CPU in use by who, as a share of one core, over all runs with `workers`."""
        runs = [r for r in self.runs if r.workers == workers]
        seconds = sum(r.seconds for r in runs)
        names = runs[0].cpu if runs else {}
        return {k: sum(r.cpu[k] for r in runs) / seconds for k in names} if seconds else {}

    def as_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "ratios": self.ratios,
            "ratio": median(self.ratios),
            "rate_1": median(self.rates(1)),
            "rate_2": median(self.rates(2)),
            "cpu_1": self.cpu_shares(1),
            "cpu_2": self.cpu_shares(2),
            "runs": [r.as_json() for r in self.runs],
        }


async def group_stable(bootstrap: str, group: str, members: int) -> bool:
    """The group is Stable with `members` members, each assigned something."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    for response in described:
        for _error, group_id, state, _protocol_type, _protocol, found, *_ in response.groups:
            if group_id == group:
                assigned = [m for m in found if m[-1]]  # member_assignment bytes
                return bool(state == "Stable" and len(assigned) == members)
    return False


def _ready(workers: list[Worker], envs: list[dict[str, str]], bootstrap: str, group: str) -> bool:
    urls = [f"http://127.0.0.1:{env['AIRMP_WEB_PORT']}/readyz" for env in envs]
    if not all(http_status(url) == 200 for url in urls):
        return False
    return asyncio.run(group_stable(bootstrap, group, len(workers)))


def one_run(
    bootstrap: str, broker_pid: int | None, workdir: Path, events: list[bytes], count: int
) -> ScaleRun:
    app_id = unique("bench-scale")
    topic = unique("bench-scale-air")
    asyncio.run(create_topics(bootstrap, [topic]))
    envs = [
        worker_env(bootstrap, workdir / f"{app_id}-{n}", app_id, AIRMP_INPUT_TOPIC=topic)
        for n in range(count)
    ]
    workers = [
        Worker(env=env, log_path=workdir / f"{app_id}-{n}.log") for n, env in enumerate(envs)
    ]
    run = ScaleRun(count)
    try:
        for worker in workers:
            worker.start()
        if not poll(lambda: _ready(workers, envs, bootstrap, app_id), READY_TIMEOUT, 1.0):
            raise RuntimeError(f"scale-out: {count} workers never got ready ({workdir})")
        pids = {"broker": broker_pid, "workers": None}
        before = _cpu(workers, pids)
        started = time.monotonic()
        items = [(KEYINGS["wallet"](e), e) for e in events]
        asyncio.run(produce(bootstrap, topic, items, "producing the backlog"))
        run.rate, _ = asyncio.run(worker_backlog(bootstrap, envs[0], len(events), workers))
        run.seconds = time.monotonic() - started
        after = _cpu(workers, pids)
        run.cpu = {k: after[k] - before[k] for k in after}
        run.cpu["other"] = run.cpu.pop("machine") - sum(run.cpu.values())
    finally:
        for worker in workers:
            stop_worker(worker)
    shares = ", ".join(f"{k} {v:.1f} s" for k, v in run.cpu.items())
    say(f"  {count} worker(s): {run.rate:,.0f} events/s; CPU over {run.seconds:.0f} s: {shares}")
    return run


def _cpu(workers: list[Worker], pids: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds so far: the workers, the broker, this process, the whole machine."""
    worker_pids = [w.process.pid for w in workers if w.process is not None]
    broker = pids.get("broker")
    return {
        "workers": sum(cpu_seconds(pid) for pid in worker_pids),
        "broker": cpu_seconds(broker) if broker else 0.0,
        "bench": cpu_seconds(os.getpid()),
        "machine": machine_cpu_seconds(),
    }


def run(bootstrap: str, broker_pid: int | None, workdir: Path, sizes: Sizes) -> ScaleResult:
    result = ScaleResult(sizes.scale_events)
    say(f"scale-out: generating {sizes.scale_events:,} notifications")
    events = notifications(sizes.scale_events, seed_base=300)
    for repetition in range(sizes.scale_runs):
        for count in (1, 2):
            step = f"scale-out run {repetition + 1}/{sizes.scale_runs}"
            say(f"{step}: {count} worker(s), input keyed by walletId")
            run = one_run(bootstrap, broker_pid, workdir, events, count)
            run.repetition = repetition
            result.runs.append(run)
        say(f"  two workers / one: {result.ratios[-1]:.2f}")
    return result
