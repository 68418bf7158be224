"""The edges under a steady load: Firehose membership changes and AIR webhook posts at a
fixed rate against one worker (agents running: the webhook's notifications are mapped as
they come), answer time per request, Kafka's ack included. Goal: p99 <= 100 ms at 200
requests/s (reported, never asserted in tests).

The load comes from aiohttp's client, open loop: each request is sent at its planned time
and timed from then, so a server that falls behind shows as growing answer times. (httpx
was the client before: with more requests waiting than connections, httpcore's pool
re-scans every waiting request against every connection on each change, a getpeername
call each, and the client itself fell to ~20-40 requests/s, p50 seconds to tens of seconds,
while the worker sat mostly idle; see docs/benchmarks.md.)

Then audiences at their real size (issue #21): one Firehose membership change each of
1,000 and 10,000 profiles and of the most profiles whose JSON body fits the worker's
AIRMP_MAX_MESSAGE_BYTES, each profile entering one audience with one action reference, so
one reward request each. Timed per request: from the POST to its 200 (the edge answers once
the request is on the audience topic), and from the POST until the fan-out agent has put
every reward request on the reward topic (its end offsets, polled). The worker has no AIR
credentials: the reward agent is off, so nothing waits on AIR; the sink is off too.
Goal: 10,000 profiles answered within 1 s."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp
import orjson

from bench.common import Sizes, create_topics, notifications, percentile, say, unique, worker_env
from config.settings import DEFAULT_MAX_MESSAGE_BYTES
from testkit import firehose
from testkit.kafka import Offsets, lag
from testkit.processes import Worker, http_status, poll

WEBHOOK_TOKEN, FIREHOSE_TOKEN = "bench-webhook-token", "bench-firehose-token"
AUDIENCE = 21  # the audience every benchmark profile enters (issue #21)
ON_TOPIC_TIMEOUT = 300.0  # seconds for one request's reward requests to reach the topic


@dataclass
class AudienceRun:
    """One membership change of `profiles` profiles, each one reward request."""

    profiles: int
    body_bytes: int
    status: str  # the first answer's status (or the client's exception): 200 expected
    answer_ms: float  # POST to its answer
    all_on_topic_ms: float  # POST to the last reward request on the reward topic (NaN: never)
    on_topic: int  # reward requests of this change found on the topic
    largest: bool  # the most profiles under the body limit


@dataclass
class EdgeRun:
    rate: float  # requests/s asked for
    seconds: float
    sent: int
    achieved: float  # requests answered per second
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    audiences: list[AudienceRun] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return asdict(self)


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


def body_limit(env: dict[str, str]) -> int:
    """The worker's AIRMP_MAX_MESSAGE_BYTES: its own env, else ours (Worker passes
    os.environ on), else the default."""
    value = env.get("AIRMP_MAX_MESSAGE_BYTES") or os.environ.get("AIRMP_MAX_MESSAGE_BYTES")
    return int(value) if value else DEFAULT_MAX_MESSAGE_BYTES


def membership_body(count: int, prefix: str) -> bytes:
    """A membership change of `count` profiles, each entering AUDIENCE with one raw identity
    of the mParticle type the worker reads (`other`): one reward request per profile."""
    profiles = [
        firehose.profile(
            [firehose.identity("other", f"{prefix}{n:012d}")], [firehose.audience(AUDIENCE)]
        )
        for n in range(count)
    ]
    return orjson.dumps(firehose.membership_request(profiles))


def largest_body(limit: int, prefix: str) -> tuple[int, bytes]:
    """The most profiles whose body is <= `limit` bytes, and that body: every profile has
    the same length (fixed-width identities), so one profile's bytes give the count; the
    trim covers an estimate that is off."""
    empty = len(membership_body(0, prefix))
    per = len(membership_body(1, prefix)) - empty + 1  # a profile and its comma
    count = max((limit - empty + 1) // per, 1)
    body = membership_body(count, prefix)
    while len(body) > limit and count > 1:
        count -= max(-(-(len(body) - limit) // per), 1)
        body = membership_body(count, prefix)
    return count, body


def audience_bodies(counts: tuple[int, ...], limit: int) -> list[tuple[int, bytes, bool]]:
    """(profiles, body, largest) for each count, then the largest that fits; each request's
    identities its own (prefix 65NN), so no two requests share a reward request's key."""
    out = [(n, membership_body(n, f"65{i:02d}"), False) for i, n in enumerate(counts)]
    count, body = largest_body(limit, f"65{len(counts):02d}")
    return [*out, (count, body, True)]


async def _settled(bootstrap: str, group: str, topic: str, timeout: float = 120) -> None:
    """Until the worker has committed all of the audience topic: the steady load's reward
    requests are all on the reward topic, so they do not count for the next request."""
    deadline = time.monotonic() + timeout
    while await lag(bootstrap, group, [topic]) > 0:
        if time.monotonic() > deadline:
            say(f"  edges: the audience topic still has lag after {timeout:g} s")
            return
        await asyncio.sleep(0.5)


async def _post_and_wait(
    client: aiohttp.ClientSession, offsets: Offsets, topic: str, body: bytes, expected: int
) -> tuple[str, float, float, int]:
    """(status, answer ms, ms until `expected` more messages are on `topic`, how many came)."""
    before = sum((await offsets.end(topic)).values())
    headers = {"Authorization": f"Token {FIREHOSE_TOKEN}"}
    started = time.perf_counter()
    try:
        async with client.post("/mparticle/firehose", data=body, headers=headers) as answer:
            await answer.read()
            status = str(answer.status)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return type(exc).__name__, math.nan, math.nan, 0
    answer_ms = (time.perf_counter() - started) * 1000
    if status != "200":  # first try only: a retry would time mParticle's retry, not ours
        return status, answer_ms, math.nan, 0
    while True:
        found = sum((await offsets.end(topic)).values()) - before
        elapsed = time.perf_counter() - started
        if found >= expected:
            return status, answer_ms, elapsed * 1000, found
        if elapsed > ON_TOPIC_TIMEOUT:
            return status, answer_ms, math.nan, found
        await asyncio.sleep(0.02)


async def _audiences(
    base: str, bootstrap: str, env: dict[str, str], sizes: Sizes
) -> list[AudienceRun]:
    """Each membership change in turn, the next once the last one's rewards are all there."""
    await _settled(bootstrap, env["AIRMP_APP_ID"], env["AIRMP_AUDIENCE_TOPIC"])
    bodies = audience_bodies(sizes.edge_audiences, body_limit(env))
    runs: list[AudienceRun] = []
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, timeout=timeout) as client, Offsets(bootstrap) as off:
        for profiles, body, largest in bodies:
            status, answer_ms, on_topic_ms, found = await _post_and_wait(
                client, off, env["AIRMP_REWARD_TOPIC"], body, profiles
            )
            runs.append(
                AudienceRun(profiles, len(body), status, answer_ms, on_topic_ms, found, largest)
            )
            say(
                f"  edges: {profiles:,} profiles ({len(body):,} bytes): {status} in"
                f" {answer_ms:,.0f} ms, {found:,} reward requests on the topic in"
                f" {on_topic_ms:,.0f} ms"
            )
    return runs


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
        audiences = asyncio.run(_audiences(base, bootstrap, env, sizes))
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
        audiences=audiences,
    )
