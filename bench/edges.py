"""The edges under a steady load: Firehose membership changes and AIR webhook posts at a
fixed rate against one worker (agents running: the webhook's notifications are mapped as
they come), answer time per request, Kafka's ack included. Goal: p99 <= 100 ms at 200
requests/s (reported, never asserted in tests).

The load comes from aiohttp's client, open loop: each request is sent at its planned time
and timed from then, so a server that falls behind shows as growing answer times. (httpx
was the client before: with more requests waiting than connections, httpcore's pool
re-scans every waiting request against every connection on each change, a getpeername
call each, and the client itself fell to ~20-40 requests/s, p50 seconds to tens of seconds,
while the worker sat mostly idle; see docs/benchmarks.md.)"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson

from bench.common import Sizes, create_topics, notifications, percentile, say, unique, worker_env
from testkit import firehose
from testkit.processes import Worker, http_status, poll

WEBHOOK_TOKEN, FIREHOSE_TOKEN = "bench-webhook-token", "bench-firehose-token"


@dataclass
class EdgeRun:
    rate: float  # requests/s asked for
    seconds: float
    sent: int
    achieved: float  # requests answered per second
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]

    def as_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def requests_to_send(count: int) -> list[tuple[str, bytes, dict[str, str]]]:
    """(path, body, headers): membership changes and AIR notifications, alternating."""
    air = notifications(count)
    out = []
    for n in range(count):
        if n % 2:
            out.append(("/air/notifications", air[n], {"X-Auth-Token": WEBHOOK_TOKEN}))
        else:
            profile = firehose.profile(
                [firehose.identity("other", f"6301{n:012d}")], [firehose.audience(7)]
            )
            body = orjson.dumps(firehose.membership_request([profile]))
            out.append(("/mparticle/firehose", body, {"Authorization": f"Token {FIREHOSE_TOKEN}"}))
    return out


async def _load(base: str, rate: float, seconds: float) -> tuple[list[float], Counter[str], float]:
    """Answer times (ms), statuses, and seconds from the first request to the last answer."""
    planned = requests_to_send(int(rate * seconds))
    times: list[float] = []
    statuses: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=64)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as client:

        async def one(path: str, body: bytes, headers: dict[str, str]) -> None:
            started = time.perf_counter()
            try:
                async with client.post(path, data=body, headers=headers) as answer:
                    await answer.read()
                    statuses[str(answer.status)] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                statuses[type(exc).__name__] += 1
                return
            times.append((time.perf_counter() - started) * 1000)

        loop = asyncio.get_running_loop()
        start = loop.time()
        tasks = []
        for i, request in enumerate(planned):
            wait = start + i / rate - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one(*request)))
        await asyncio.gather(*tasks)
        elapsed = loop.time() - start
    return times, statuses, elapsed


def run(bootstrap: str, workdir: Path, sizes: Sizes) -> EdgeRun:
    app_id = unique("bench-edges")
    env = worker_env(
        bootstrap,
        workdir,
        app_id,
        AIRMP_AIR_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
        AIRMP_MPARTICLE_FIREHOSE_TOKEN=FIREHOSE_TOKEN,
        AIRMP_CONNECTOR_ID=firehose.CONNECTOR_ID,
        AIRMP_EXTERNAL_KEY=firehose.EXTERNAL_KEY,
        AIRMP_LOG_LEVEL="warn",
    )
    topics = [env["AIRMP_INPUT_TOPIC"], env["AIRMP_REWARD_TOPIC"], env["AIRMP_DEAD_LETTER_TOPIC"]]
    asyncio.run(create_topics(bootstrap, topics))
    worker = Worker(env, workdir / f"{app_id}.log").start()
    base = f"http://127.0.0.1:{env['AIRMP_WEB_PORT']}"
    try:
        if not poll(lambda: http_status(f"{base}/readyz") == 200, timeout=120):
            raise RuntimeError(f"edges: the worker never got ready: {worker.log()[-2000:]}")
        say(f"  edges: {sizes.edge_rate:g} requests/s for {sizes.edge_seconds:g} s")
        times, statuses, elapsed = asyncio.run(_load(base, sizes.edge_rate, sizes.edge_seconds))
    finally:
        worker.stop()
    return EdgeRun(
        rate=sizes.edge_rate,
        seconds=sizes.edge_seconds,
        sent=sum(statuses.values()),
        achieved=len(times) / elapsed if elapsed else 0.0,
        p50_ms=percentile(times, 50) if times else float("nan"),
        p99_ms=percentile(times, 99) if times else float("nan"),
        statuses=dict(statuses),
    )
