"""The harness as AIR and mParticle at the workers' HTTP edges (streams/edges/): each
edge-routed message of a stream (chaos/load.py) is posted at its place in the stream's
steady rate, to one of the live workers as a load balancer would pick it, until one
answers 200. All of it runs on the harness's background event loop (see run.Background).

- Order: a lane's next message (a wallet's next notification, a customer's next request)
  is posted only once the previous one got its 200; the edge keys by walletId (or identity),
  so Kafka keeps that order. Lanes do not wait for each other.
- Retries: on 429, a 5xx, a refused or dropped connection or a timeout (a worker SIGKILLed
  mid-request), on another live worker: the first retry at once, later ones after a
  backoff or the 429's Retry-After. The same body and X-Request-Id each time: a Firehose
  request keeps its id, so its reward keeps its reference.
- mParticle retries only a 429 (five times, then it drops the message) and never a 5xx:
  a Firehose 5xx is not retried (its reward goes missing and the verdict says so); a
  Firehose request answered 429 more than five times is retried all the same (so the round
  judges the connector, not mParticle's limit) and counted, as mParticle would have lost it.
- Any other answer (401, 403, 400, 413, a suspended subscription) is the harness's mistake:
  the round fails.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import httpx
import orjson

from chaos.kafka_io import Production
from chaos.load import (
    CONNECT,
    CONNECTOR_ID,
    EDGE_ROUTES,
    EXTERNAL_KEY,
    FIREHOSE,
    KAFKA,
    WEBHOOK,
    Load,
    Message,
)
from mappers.errors import AirmpError

MPARTICLE_429_RETRIES = 5  # mParticle's Firehose retries of a 429 before it drops a message
TIMEOUT_SECONDS = 10.0  # an edge waits up to 5 s for Kafka (AIRMP_EDGE_KAFKA_TIMEOUT_SECONDS)
RETRY_AFTER_CAP = 5.0
NO_WORKER_WAIT = 0.5  # none live: as a load balancer with no healthy backend, try again soon
_REFERENCE = re.compile(rb'"reference":"([^"]+)"')


class EdgeRefused(AirmpError):
    """An edge answered what no retry can fix: the harness sent something wrong."""


@dataclass
class Targets:
    """The live workers' web ports, replaced whole by the main thread from its view of the
    processes (running, not stopping): what a load balancer's health checks let through. A
    worker just restarted is live before it listens: its refused connections are retried."""

    live: tuple[tuple[int, int], ...] = ()  # (worker index, web port)


@dataclass
class RouteStats:
    """One edge's requests in a round."""

    requests: int = 0  # messages posted (each until its 200, or a Firehose 5xx)
    attempts: int = 0
    retries: Counter[str] = field(default_factory=Counter)  # why: 429, 503, refused, ...
    retried: int = 0  # requests that needed a retry
    most: int = 0  # the most retries one request needed
    over_limit: int = 0  # Firehose requests answered 429 more than mParticle retries
    dropped: int = 0  # Firehose requests answered 5xx: mParticle never retries them
    twice: int | None = None  # landed in Kafka more often than sent (see `repeats`)

    def describe(self, route: str) -> str:
        reasons = ", ".join(f"{why} {n}" for why, n in sorted(self.retries.items()))
        text = (
            f"{route} {self.requests} requests, {sum(self.retries.values())} retries"
            f"{f' ({reasons})' if reasons else ''} for {self.retried} of them, "
            f"at most {self.most} for one"
        )
        if self.twice is not None:
            text += f", {self.twice} extra copies in Kafka"
        if self.over_limit:
            text += f", {self.over_limit} answered 429 more than mParticle's 5 retries"
        if self.dropped:
            text += f", {self.dropped} answered 5xx (mParticle drops them)"
        return text


class Poster:
    """Posts the edge-routed messages of every stream (see the module)."""

    def __init__(
        self,
        seed: int,
        targets: Targets,
        webhook_token: str,
        firehose_token: str,
        backoff: tuple[float, float] = (0.25, 2.0),  # first and longest wait between retries
    ) -> None:
        self.targets = targets
        self._backoff = backoff
        self.stats = {route: RouteStats() for route in EDGE_ROUTES}
        self._rng = random.Random(f"chaos-balancer/{seed}")
        self._webhook_token = webhook_token
        self._firehose_token = firehose_token

    def summary(self) -> str:
        return "; ".join(self.stats[route].describe(route) for route in EDGE_ROUTES)

    async def run(
        self, streams: Sequence[tuple[Sequence[Message], Production]], seconds: float
    ) -> None:
        """Every stream's edge-routed messages over the same `seconds` as the producer's."""
        limits = httpx.Limits(max_connections=500, max_keepalive_connections=100)
        timeout = httpx.Timeout(TIMEOUT_SECONDS, pool=None)
        async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
            await asyncio.gather(
                *(self._stream(client, n, messages, state, seconds)
                  for n, (messages, state) in enumerate(streams))
            )  # fmt: skip

    async def _stream(
        self,
        client: httpx.AsyncClient,
        number: int,
        messages: Sequence[Message],
        state: Production,
        seconds: float,
    ) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        lanes: dict[str, asyncio.Queue[int | None]] = {}
        tasks: list[asyncio.Task[None]] = []
        for i, message in enumerate(messages):
            if message.route == KAFKA:
                continue
            wait = started + seconds * i / len(messages) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            queue = lanes.get(message.lane)
            if queue is None:
                queue = lanes[message.lane] = asyncio.Queue()
                lane = self._lane(client, number, queue, messages, state)
                tasks.append(asyncio.create_task(lane))
            queue.put_nowait(i)
            state.sent += 1
        for queue in lanes.values():
            queue.put_nowait(None)
        await asyncio.gather(*tasks)

    async def _lane(
        self,
        client: httpx.AsyncClient,
        number: int,
        queue: asyncio.Queue[int | None],
        messages: Sequence[Message],
        state: Production,
    ) -> None:
        while (i := await queue.get()) is not None:
            await self._deliver(client, f"chaos-{number}-{i}", messages[i], i, state)

    def _request(self, message: Message) -> tuple[str, dict[str, str]]:
        """The path and headers each edge's caller sends."""
        if message.route == FIREHOSE:
            return "/mparticle/firehose", {"Authorization": f"Token {self._firehose_token}"}
        if message.route == CONNECT:
            return f"/in/mparticle/{CONNECTOR_ID}", {"X-Auth-Token": EXTERNAL_KEY}
        # AIR's webhook has two paths (ours, Eagle Eye Connect's outbound one): both used.
        odd = message.wallet.isdigit() and int(message.wallet) % 2 == 1
        path = f"/out/mparticle/{CONNECTOR_ID}" if odd else "/air/notifications"
        return path, {"X-Auth-Token": self._webhook_token}

    async def _deliver(
        self,
        client: httpx.AsyncClient,
        request_id: str,
        message: Message,
        i: int,
        state: Production,
    ) -> None:
        route, stats = message.route, self.stats[message.route]
        path, headers = self._request(message)
        headers |= {"Content-Type": "application/json", "X-Request-Id": request_id}
        failures: list[str] = []
        last: int | None = None
        too_many = 0  # Firehose: 429s
        while True:
            live = self.targets.live
            choices = [t for t in live if t[0] != last] or list(live)
            if not choices:
                await asyncio.sleep(NO_WORKER_WAIT)
                continue
            worker, port = self._rng.choice(choices)
            last = worker
            stats.attempts += 1
            retry_after = 0.0
            answer = await _post(client, f"http://127.0.0.1:{port}{path}", message, headers)
            if isinstance(answer, str):
                why = answer
            else:
                status = answer.status_code
                if status == 200:
                    _check(route, answer, request_id)
                    self._done(stats, failures, state, i, f"{route}: 200 from worker {worker}")
                    return
                if status == 429:
                    why, too_many = "429", too_many + 1
                    retry_after = _seconds(answer.headers.get("Retry-After"))
                    if route == FIREHOSE and too_many == MPARTICLE_429_RETRIES + 1:
                        stats.over_limit += 1
                elif status >= 500 and route == FIREHOSE:
                    stats.dropped += 1
                    text = f"{route}: {status} from worker {worker}, dropped (mParticle)"
                    self._done(stats, failures, state, i, text, answered=False)
                    return
                elif status >= 500:
                    why = str(status)
                else:
                    raise EdgeRefused(
                        f"{route} {request_id}: worker {worker} answered {status} "
                        f"{answer.text[:200]}"
                    )
            failures.append(f"{why}@{worker}")
            stats.retries[why] += 1
            await self._pause(len(failures), retry_after)

    async def _pause(self, failures: int, retry_after: float) -> None:
        """Before the next attempt: none after the first failure (it goes to another worker
        at once), then the Retry-After (capped) or a jittered backoff."""
        if failures > 1:
            first, cap = self._backoff
            backoff = min(first * 2 ** (failures - 2), cap) * self._rng.uniform(0.5, 1)
            await asyncio.sleep(min(retry_after, RETRY_AFTER_CAP) or backoff)

    @staticmethod
    def _done(
        stats: RouteStats,
        failures: list[str],
        state: Production,
        i: int,
        text: str,
        answered: bool = True,
    ) -> None:
        stats.requests += 1
        stats.retried += bool(failures)
        stats.most = max(stats.most, len(failures))
        if failures:
            text += f" after {len(failures)} retries ({', '.join(failures)})"
        state.posted[i] = text
        state.acked += answered


async def _post(
    client: httpx.AsyncClient, url: str, message: Message, headers: dict[str, str]
) -> httpx.Response | str:
    """The edge's answer, or why there was none: refused, timeout, dropped."""
    try:
        return await client.post(url, content=message.value, headers=headers)
    except httpx.ConnectError:
        return "refused"
    except httpx.TimeoutException:
        return "timeout"
    except httpx.TransportError:
        return "dropped"


def _check(route: str, answer: httpx.Response, request_id: str) -> None:
    """A 200 says what the edge's caller expects: mParticle must not be told to suspend."""
    body = orjson.loads(answer.content)
    if route == FIREHOSE and (
        body.get("type") != "audience_membership_change_response"
        or body.get("suspend_subscription")
    ):
        raise EdgeRefused(f"{route} {request_id}: answered 200 {body}")
    if route != FIREHOSE and body != {"status": "OK"}:
        raise EdgeRefused(f"{route} {request_id}: answered 200 {body}")


def _seconds(value: str | None) -> float:
    try:
        return max(float(value or 0), 0.0)
    except ValueError:
        return 0.0


def repeats(load: Load, on_input: Iterable[bytes], on_rewards: Iterable[bytes]) -> dict[str, int]:
    """Per edge, the copies in Kafka beyond what was sent: a retry after an answer the
    caller never got (a worker killed between Kafka's ack and its 200, a 429 after a
    timeout while the message was still on its way). The AIR webhook's copies are the
    notification's bytes (dropped by eesEventId); the reward edges' are requests with the
    same reference (granted once)."""
    sent = Counter(m.value for m in load.messages if m.route == WEBHOOK)
    landed = Counter(v for v in on_input if v in sent)
    routes = {r: m.route for m in load.rewards if m.route != KAFKA for r in m.asks}
    wanted = Counter(r for m in load.rewards if m.route != KAFKA for r in m.asks)
    found: Counter[str] = Counter()
    for value in on_rewards:
        match = _REFERENCE.search(value)
        if match and match.group(1).decode() in routes:
            found[match.group(1).decode()] += 1
    out = {route: 0 for route in EDGE_ROUTES}
    out[WEBHOOK] = sum(max(n - sent[v], 0) for v, n in landed.items())
    for reference, n in found.items():
        out[routes[reference]] += max(n - wanted[reference], 0)
    return out
