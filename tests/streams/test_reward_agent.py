"""The reward agent in process (Faust's test_context, memory tables, channels in place of
topics) against the local AIR on loopback: each reference granted once, AIR's refusals
dead-lettered with its status and body, transient faults retried, credentials stop it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from types import SimpleNamespace
from typing import Any, cast

import orjson
import pytest
from faust.types import ChannelT, EventT

from config import load_settings
from mappers.rewards import RewardRequest
from streams import rewards
from streams.app import app_options, pipeline
from streams.dead_letters import DeadLetterTopic
from streams.offsets import App, LedgerConsumer
from streams.pipeline import Pipeline, Topics
from streams.source import headers_dict
from streams.stopping import Rebalancing
from testkit.local_air import LocalAir

CLIENT_ID, SECRET = "agent-air-client", "agent-air-secret"
AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CARDS = [f"63010000000{n:05d}" for n in range(5)]
WALLETS = [
    {
        "walletId": str(900200 + n),
        "identities": [{"type": "CARD", "value": card}],
        "points": {"accountId": str(8100 + n), "campaignId": "3001", "current": 100},
    }
    for n, card in enumerate(CARDS)
]
WAIT = 30.0  # a bound on waiting, never an assertion about speed


@pytest.fixture
async def air() -> AsyncIterator[LocalAir]:
    async with LocalAir(
        CLIENT_ID, SECRET, wallets=WALLETS, triggers=["WELCOME5000=points:5000"]
    ) as local:
        yield local


def _pipeline(
    air: LocalAir, secret: str = SECRET, grace: float = 10.0
) -> tuple[Pipeline, ChannelT]:
    settings = load_settings(
        delivery_grace_seconds=grace,
        kafka_bootstrap_servers="127.0.0.1:9",
        store="memory://",
        app_id="rewards",
        air_client_id=CLIENT_ID,
        air_client_secret=secret,
        air_wallet_url=air.base_url,
        air_max_backoff_seconds=0.05,
        air_rate_limit=1000,
    )
    app = App("rewards", **app_options(settings))
    real = pipeline(app, settings)
    channels = Topics(*(app.channel() for _ in range(6)))
    app.flow_control.resume()
    p = dataclasses.replace(
        real, topics=channels, dead_letters=DeadLetterTopic(channels.dead_letters)
    )
    return p, channels.dead_letters.clone(is_iterator=True)


def _agent(p: Pipeline) -> Any:
    fun = partial(rewards.deliver_rewards, p)
    return p.app.agent(p.topics.rewards, name="deliver_rewards", concurrency=1)(fun)


def _request(card: str, reference: str, trigger: str = "WELCOME5000") -> RewardRequest:
    return RewardRequest.by_hand(card, (trigger,), reference=reference, at=AT)


async def _granted(air: LocalAir, count: int) -> dict[str, int]:
    deadline = asyncio.get_running_loop().time() + WAIT
    while len(air.state.granted) < count and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    return dict(air.state.granted)


async def test_each_reference_is_granted_once_through_faults(air: LocalAir) -> None:
    p, _ = _pipeline(air)
    agent = _agent(p)
    air.faults.update({"rate_limit_next": 3, "retry_after": 0.05, "server_error_next": 3})
    air.faults.update({"drop_next": 2, "drop_after_accept_next": 2})
    wanted = [_request(card, f"r-{n}-{card}") for n in range(2) for card in CARDS]
    async with agent.test_context() as test:
        for request in wanted:
            await test.put(value=request.to_bytes(), key=request.key, wait=False)
        granted = await _granted(air, len(wanted))
        # The same requests again, as after a crash: the table knows them, AIR is not asked.
        asked = sum(air.state.trigger_requests.values())
        for request in wanted:
            await test.put(value=request.to_bytes(), key=request.key, wait=False)
        await asyncio.sleep(0.5)
        asked_again = sum(air.state.trigger_requests.values())
        stored = {card: p.air.granted[card.encode()] for card in CARDS} if p.air else {}

    assert granted == {request.reference: 1 for request in wanted}
    assert asked_again == asked  # nothing sent for the re-read requests
    assert {card: sorted(entry["granted"]) for card, entry in stored.items()} == {  # type: ignore[index]
        card: sorted(r.reference for r in wanted if r.identity_value == card) for card in CARDS
    }


async def test_air_refusals_are_dead_letters_and_the_others_are_granted(air: LocalAir) -> None:
    p, dead_letters = _pipeline(air)
    agent = _agent(p)
    unknown_identity = _request("9999999999999999", "r-404")
    unknown_trigger = _request(CARDS[0], "r-400", trigger="NO-SUCH-TRIGGER")
    good = _request(CARDS[1], "r-ok")
    async with agent.test_context() as test:
        await test.put(value=b"{not a request", key=b"x", wait=False)
        for request in (unknown_identity, unknown_trigger, good):
            await test.put(value=request.to_bytes(), key=request.key, wait=False)
        dead: list[EventT] = [await dead_letters.get(timeout=WAIT) for _ in range(3)]
        granted = await _granted(air, 1)

    assert granted == {"r-ok": 1}
    by_value = {d.value: headers_dict(d.message.headers) for d in dead}
    assert set(by_value) == {
        b"{not a request",
        unknown_identity.to_bytes(),
        unknown_trigger.to_bytes(),
    }
    bad = by_value[b"{not a request"]
    assert bad["airmp-stage"] == b"reward"
    assert bad["airmp-reason"].startswith(b"invalid_reward_request: ")
    not_found = by_value[unknown_identity.to_bytes()]
    assert not_found["airmp-reason"] == b"air_refused: AIR answered 404 WALLET_NOT_FOUND"
    assert orjson.loads(not_found["airmp-detail"])["errorCode"] == "WALLET_NOT_FOUND"
    refused = by_value[unknown_trigger.to_bytes()]
    assert refused["airmp-reason"] == b"air_refused: AIR answered 400 INVALID_TRIGGER"


async def test_refused_credentials_stop_rewards_and_complete_nothing(air: LocalAir) -> None:
    p, dead_letters = _pipeline(air, secret="not-the-secret")
    agent = _agent(p)
    request = _request(CARDS[2], "r-401")
    async with agent.test_context() as test:
        event = await test.put(value=request.to_bytes(), key=request.key, wait=False)
        deadline = asyncio.get_running_loop().time() + WAIT
        while "rewards" not in p.health.stopped and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        acked = event.message.acked

    stopped = p.health.stopped["rewards"]
    assert stopped.startswith("AIR rejected the credentials: AIR answered 401")
    assert SECRET not in stopped and "not-the-secret" not in stopped
    assert not acked and air.state.granted == {} and dead_letters.empty()


async def test_a_rebalance_leaves_a_reward_still_retrying_uncompleted(
    air: LocalAir,
) -> None:
    p, dead_letters = _pipeline(air)
    agent = _agent(p)
    air.faults.update({"server_error_next": 10_000})  # AIR down for the whole test
    request = _request(CARDS[3], "r-rebalance")
    async with agent.test_context() as test:
        event = await test.put(value=request.to_bytes(), key=request.key, wait=False)
        deadline = asyncio.get_running_loop().time() + WAIT
        while not air.state.requests and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        p.app.flow_control.suspend()  # as Faust does when a rebalance revokes partitions
        while not event.message.acked and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        acked = event.message.acked
        p.app.flow_control.resume()
    consumer = p.app.consumer
    assert isinstance(consumer, LedgerConsumer)
    done = consumer.ledger.done.get(event.message.tp, set())

    assert acked  # Faust's rebalance is not held up ...
    assert event.message.offset not in done  # ... and the ledger has it unfinished
    assert air.state.granted == {} and dead_letters.empty()


@pytest.mark.parametrize(("grace", "granted"), [(5.0, True), (0.2, False)])
async def test_a_rebalance_gives_a_request_in_flight_the_grace_period(
    air: LocalAir, grace: float, granted: bool
) -> None:
    # AIR answers after 1 s. Within the grace the grant is written and completed: the
    # partition's next owner has nothing to ask again. Past it, the request is left.
    p, dead_letters = _pipeline(air, grace=grace)
    agent = _agent(p)
    air.faults.update({"delay_seconds": 1.0})
    request = _request(CARDS[2], "r-in-flight")
    async with agent.test_context() as test:
        event = await test.put(value=request.to_bytes(), key=request.key, wait=False)
        deadline = asyncio.get_running_loop().time() + WAIT
        while not air.state.requests and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        p.app.flow_control.suspend()  # a rebalance begins while AIR is answering
        while not event.message.acked and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        p.app.flow_control.resume()
    consumer = p.app.consumer
    assert isinstance(consumer, LedgerConsumer)
    done = consumer.ledger.done.get(event.message.tp, set())
    assert (event.message.offset in done) is granted
    assert p.air is not None
    assert (request.reference in rewards.granted_references(p.air, request.key)) is granted
    assert dead_letters.empty()


async def test_a_request_still_in_its_lane_is_left_when_the_worker_stops(air: LocalAir) -> None:
    # On SIGTERM only requests in flight get the grace period: one that has not started
    # is left uncompleted at once (its partition's next owner sends it).
    p, _ = _pipeline(air)
    assert p.air is not None
    request = _request(CARDS[1], "r-stopping")
    p.app._stopped.set()  # what mode's Service.stop sets first: should_stop
    event = cast(EventT, SimpleNamespace(value=request.to_bytes(), key=request.key))
    with pytest.raises(Rebalancing):
        await rewards.reward_one(p.air, p, event)
    assert air.state.requests == []
