"""The fan-out agent: one mParticle membership change -> a reward request per customer.

    Firehose edge --audience topic (keyed by mParticle account)--> fan_out_audiences
        --reward topic (keyed by identity, in profile order)--> deliver_rewards

The edge puts the request on Kafka once, as mParticle sent it but for the account's
settings (streams/edges/firehose.py), and answers: an audience of any size up to the body
limit is one produce, answered within mParticle's deadline. Here the request becomes one
reward request per profile x audience entered x action reference, and one dead letter per
profile that cannot be rewarded (that profile, and where it came from, never the whole
request).

A request mParticle delivers twice (same id: it retries what it saw no answer to) fans out
once: the account's recent request ids are in the audience-requests table, written only
after every reward request of the fan-out is acknowledged by Kafka. A crash before that
fans the request out again; the repeats carry the same references, which the reward agent
grants once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson
from faust.types import EventT, StreamT

from mappers import firehose
from mappers.vocabulary import FIREHOSE_IDENTITY_TYPES
from streams import metrics
from streams.agents import events, guarded
from streams.dead_letters import Stage
from streams.pipeline import Pipeline, kept
from streams.source import H_AUDIENCE_REFERENCES, headers_dict

log = logging.getLogger("airmp.audiences")

MAX_REQUEST_IDS = 1000  # per account, beside the age bound
REQUEST_ID_MEMORY_SECONDS = 86400.0  # mParticle retries within minutes; a day is ample


async def fan_out_audiences(p: Pipeline, stream: StreamT) -> None:
    """The agent: each membership change fanned out, in the account's order."""
    async for event in events(stream):
        await guarded(p, event, Stage.FIREHOSE, fan_out_one)


async def fan_out_one(p: Pipeline, event: EventT) -> None:
    """Reward requests and dead letters of one membership change; `guarded` completes it."""
    try:
        request = orjson.loads(bytes(event.value or b""))
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the audience topic held no JSON: {exc}") from exc
    if not isinstance(request, dict):
        raise ValueError("the audience topic held no membership change")
    account = event.key or b""
    request_id = str(request.get("id") or "")
    seen = recent_ids(p, account)
    if request_id and request_id in seen:
        metrics.AUDIENCE_CHANGES.labels("duplicate").inc()
        log.info("membership change %s fanned out before: skipped", request_id)
        return
    identity_type = FIREHOSE_IDENTITY_TYPES[p.settings.mparticle_identity_type]
    asked = firehose.membership(request, identity_type, remembered(event))
    sent = [
        await p.topics.rewards.send(key=reward.key, value=reward.to_bytes())
        for reward in asked.rewards
    ]
    for rejected in asked.rejected:
        await dead_letter(p, event, request, rejected)
    await asyncio.gather(*sent)  # every request in Kafka before the id is remembered
    if request_id:
        remember(p, account, seen, request_id)
    for action, count in asked.counts.items():
        metrics.FIREHOSE_ACTIONS.labels(action).inc(count)
    metrics.AUDIENCE_CHANGES.labels("fanned_out").inc()
    metrics.AUDIENCE_REWARDS.inc(len(asked.rewards))
    log.info(
        "membership change %s: %d reward requests, %d profiles dead-lettered, %s",
        request_id,
        len(asked.rewards),
        len(asked.rejected),
        dict(asked.counts),
    )


def remembered(event: EventT) -> dict[str, tuple[str, ...]]:
    """The action references the edge remembered, from the event's header."""
    value = headers_dict(event.message.headers).get(H_AUDIENCE_REFERENCES)
    try:
        found = orjson.loads(value) if value else {}
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {
        str(audience): tuple(str(r) for r in refs)
        for audience, refs in found.items()
        if isinstance(refs, list)
    }


async def dead_letter(
    p: Pipeline, event: EventT, request: Mapping[str, Any], rejected: firehose.Rejected
) -> None:
    """One profile that cannot be rewarded: that profile, where it came from in headers."""
    profile = request["user_profiles"][rejected.position]
    detail = {
        "request_id": request.get("id"),
        "audience_ids": list(rejected.audience_ids),
        "position": rejected.position,
    }
    await p.dead_letters.send(
        event,
        kind=rejected.fault,
        reason=f"{rejected.fault}: {rejected.why}",
        stage=Stage.FIREHOSE,
        detail=orjson.dumps(detail).decode(),
        value=orjson.dumps(profile),
    )


def recent_ids(p: Pipeline, account: bytes) -> dict[str, float]:
    """The account's request ids fanned out within the memory (id -> when)."""
    stored = kept(p.audience_requests).get(account)
    found = stored.get("ids") if isinstance(stored, dict) else None
    if not isinstance(found, dict):
        return {}
    oldest = time.time() - REQUEST_ID_MEMORY_SECONDS
    return {
        str(rid): float(at)
        for rid, at in found.items()
        if isinstance(at, int | float) and at >= oldest
    }


def remember(p: Pipeline, account: bytes, seen: dict[str, float], request_id: str) -> None:
    kept_ids = dict(list({**seen, request_id: time.time()}.items())[-MAX_REQUEST_IDS:])
    kept(p.audience_requests)[account] = {"ids": kept_ids}
