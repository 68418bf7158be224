"""The reward agent: reward topic -> AIR's POST /services/trigger, once per reference.

    reward topic (keyed by identity) --deliver_rewards--> AIR (local or real)
        granted: the rewards-granted table (identity -> references AIR granted)
        refused (4xx) or unreadable: the dead-letter topic, with AIR's status and body

A request is sent only when the rewards-granted table does not know its reference; a 2xx
is written there before the event is completed, so a request re-read after a crash or a
rebalance is not sent again. Should the crash come between AIR's answer and the table
write, the re-sent request carries the same reference, which AIR answers as the first.
Each customer's requests run in order, in a lane of their own (streams/lanes.py): retries
of one customer (429 with Retry-After, 5xx, timeouts, dropped connections: capped backoff
with jitter, never given up) do not hold the others up. A 401/403 stops the agent, as the
sink's: nothing is completed, readiness turns 503, the requests wait for a restart.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Coroutine
from enum import StrEnum
from functools import partial
from typing import Any

from faust.types import EventT, StreamT

from mappers.rewards import RewardRequest
from sinks import AirClient, AirResult, backoff_delay
from streams import metrics
from streams.agents import events, guarded
from streams.dead_letters import Stage
from streams.delivery import Path, sendable, until_answered
from streams.errors import Rebalancing
from streams.lanes import Lanes
from streams.offsets import hold
from streams.pipeline import Air, Pipeline

log = logging.getLogger("airmp.rewards")

MAX_REFERENCES = 1000  # per customer in the table, beside the age bound
PENDING_PER_REQUEST_SLOT = 16  # requests waiting in lanes per concurrent AIR request
REWARDS = Path(
    "rewards",
    "AIR",
    "Fix AIRMP_AIR_CLIENT_ID / AIRMP_AIR_CLIENT_SECRET and restart; no reward request is"
    " committed meanwhile.",
    log,
)


class RewardFault(StrEnum):
    INVALID_REQUEST = "invalid_reward_request"  # the topic held no reward request
    AIR_REFUSED = "air_refused"  # AIR answered 4xx (no wallet, unknown trigger, ...)


async def deliver_rewards(p: Pipeline, stream: StreamT) -> None:
    """The agent: each request into its customer's lane, as lanes free up."""
    assert p.air is not None, "the reward agent runs only with AIR credentials"
    air = p.air
    lanes = Lanes(p.settings.air_max_in_flight * PENDING_PER_REQUEST_SLOT)
    try:
        async for event in events(stream):
            hold(event)
            handle = partial(reward_one, air)
            await lanes.submit(event.key, partial(guarded, p, event, Stage.REWARD, handle))
    finally:
        await lanes.cancel()


async def reward_one(air: Air, p: Pipeline, event: EventT) -> None:
    """Ask AIR for one reward, unless it granted it already; `guarded` completes it."""
    metrics.REWARD_REQUESTS.inc()
    try:
        request = RewardRequest.from_bytes(bytes(event.value or b""))
    except ValueError as exc:
        reason = f"{RewardFault.INVALID_REQUEST}: {str(exc).splitlines()[0]}"[:500]
        await _dead_letter(p, event, RewardFault.INVALID_REQUEST, reason, str(exc))
        return
    if not sendable(p):  # waited in its lane meanwhile: leave it
        raise Rebalancing()
    if request.reference in granted_references(air, request.key):
        metrics.REWARDS.labels("already_granted").inc()
        return
    result = await trigger_until_answered(p, air.client, request)
    if result.done:
        remember(p, air, request, result)
        metrics.REWARDS.labels("granted").inc()
        log.info("reward %s granted to %s", request.reference, _masked(request.identity_value))
        return
    code = f" {result.error_code}" if result.error_code else ""
    reason = f"{RewardFault.AIR_REFUSED}: AIR answered {result.status}{code}"
    await _dead_letter(p, event, RewardFault.AIR_REFUSED, reason, result.body)


async def trigger_until_answered(
    p: Pipeline, client: AirClient, request: RewardRequest
) -> AirResult:
    """AIR's answer, done or refused: transient failures are retried without end."""

    def send() -> Coroutine[Any, Any, AirResult]:
        return client.trigger(
            request.identity_value, request.reference, request.triggers, partial(sendable, p)
        )

    def retry_in(result: AirResult, attempt: int) -> float | None:
        metrics.AIR_REQUESTS.labels("trigger", result.reason).inc()
        metrics.AIR_LATENCY.labels("trigger").observe(result.seconds)
        if not result.transient:
            return None
        metrics.AIR_RETRIES.labels(result.reason).inc()
        # AIR's Retry-After as it says; else capped backoff with jitter.
        if result.retry_after is not None:
            return result.retry_after
        return backoff_delay(attempt, cap=p.settings.air_max_backoff_seconds)

    return await until_answered(p, REWARDS, send, retry_in)


def granted_references(air: Air, key: bytes) -> dict[str, object]:
    stored = air.granted.get(key)
    found = stored.get("granted") if isinstance(stored, dict) else None
    return found if isinstance(found, dict) else {}


def remember(p: Pipeline, air: Air, request: RewardRequest, result: AirResult) -> None:
    """Add the reference to the customer's granted ones, dropping those past the memory
    (`AIRMP_REWARD_MEMORY_DAYS`, at most MAX_REFERENCES)."""
    now = time.time()
    oldest = now - p.settings.reward_memory_days * 86400
    kept = {
        reference: entry
        for reference, entry in granted_references(air, request.key).items()
        if isinstance(entry, list)
        and entry
        and isinstance(entry[0], int | float)
        and entry[0] >= oldest
    }
    transaction = (result.transaction or {}).get("walletTransactionId")
    kept[request.reference] = [now, str(transaction) if transaction is not None else None]
    newest = dict(list(kept.items())[-MAX_REFERENCES:])
    air.granted[request.key] = {"granted": newest}


async def _dead_letter(
    p: Pipeline, event: EventT, kind: RewardFault, reason: str, detail: str
) -> None:
    metrics.REWARDS.labels("dead_lettered").inc()
    await p.dead_letters.send(event, kind=kind, reason=reason, stage=Stage.REWARD, detail=detail)


def _masked(identity: str) -> str:
    """An identity in a log line: its last four characters only."""
    return "*" * max(len(identity) - 4, 0) + identity[-4:]
