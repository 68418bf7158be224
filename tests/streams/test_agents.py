"""The ingest, wallet and sink agents in process: Faust's `agent.test_context()`, a memory
table store, and in-memory channels in place of the pipeline's output topics.

What each agent produces is read from its output channel, in order; "nothing produced" is
shown by a later event's output arriving first. The sink agent delivers to the local
mParticle endpoint on loopback."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import faust
import orjson
import pytest
from faust.types import ChannelT, EventT

from config import Settings, load_settings
from streams import agents, sink_agent
from streams.app import app_options, pipeline
from streams.dead_letters import DeadLetterTopic
from streams.offsets import App
from streams.pipeline import Pipeline, Topics
from streams.source import H_OFFSET, H_PARTITION, H_TOPIC
from testkit.builders import WALLET
from testkit.cases import CASES
from testkit.local_mparticle import LocalEndpoint

KEY, SECRET = "agent-key", "agent-secret"


def _settings(**overrides: Any) -> Settings:
    # A broker nobody answers on: nothing here talks to Kafka.
    return load_settings(
        kafka_bootstrap_servers="127.0.0.1:9", store="memory://", app_id="agents", **overrides
    )


@pytest.fixture
async def p() -> AsyncIterator[Pipeline]:
    yield _pipeline(_settings())


def _pipeline(settings: Settings) -> Pipeline:
    app = App("agents", **app_options(settings))
    real = pipeline(app, settings)
    channels = Topics(
        input=app.channel(),
        by_wallet=app.channel(),
        records=app.channel(),
        dead_letters=app.channel(),
    )
    app.flow_control.resume()
    return dataclasses.replace(
        real, topics=channels, dead_letters=DeadLetterTopic(channels.dead_letters)
    )


def _agent(p: Pipeline, fun: Any, channel: ChannelT) -> Any:
    return p.app.agent(channel, name=fun.__name__, concurrency=1)(partial(fun, p))


async def _next(channel: ChannelT) -> EventT:
    return await channel.get(timeout=10)


def _headers(event: EventT) -> dict[str, bytes]:
    raw = event.message.headers or {}
    items = raw.items() if isinstance(raw, dict) else raw
    return {k: bytes(v) for k, v in items}


def _notification(name: str) -> bytes:
    return orjson.dumps(CASES[name]()[0])


async def test_ingest_rekeys_by_wallet_and_dead_letters_bad_input(p: Pipeline) -> None:
    agent = _agent(p, agents.ingest, p.topics.input)
    settle = _notification("POSCONNECT.WALLET.SETTLE")
    async with agent.test_context() as test:
        await test.put(value=b"not json", key=b"k1", wait=False)
        await test.put(value=b'{"headers": {"eventName": "SOMETHING.NEW"}}', wait=False)
        await test.put(value=settle, key=b"card-1", wait=False)

        dead = await _next(p.topics.dead_letters)
        forwarded = await _next(p.topics.by_wallet)

    assert (dead.key, dead.value) == (b"k1", b"not json")
    dead_headers = _headers(dead)
    assert dead_headers["airmp-stage"] == b"ingest"
    assert dead_headers["airmp-reason"] == (
        b"not_json: invalid literal, expected 'null': line 1 column 1 (char 0)"
    )
    # The unknown event without a wallet went nowhere: the settle is the next output.
    assert (forwarded.key, forwarded.value) == (WALLET.encode(), settle)
    source = {k: v for k, v in _headers(forwarded).items() if k.startswith("airmp-source")}
    assert source[H_OFFSET] == b"2" and set(source) == {H_TOPIC, H_PARTITION, H_OFFSET}
    assert p.topics.by_wallet.empty() and p.topics.dead_letters.empty()


async def test_wallet_agent_maps_with_state_and_drops_another_delivery(p: Pipeline) -> None:
    agent = _agent(p, agents.wallet_events, p.topics.by_wallet)
    settle, expected = CASES["POSCONNECT.WALLET.SETTLE"]()
    spend, expected_spend = CASES["POSCONNECT.WALLET.SPEND"]()
    first = {H_TOPIC: b"air", H_PARTITION: b"0", H_OFFSET: b"7"}
    other = {H_TOPIC: b"air", H_PARTITION: b"3", H_OFFSET: b"41"}
    key = WALLET.encode()
    async with agent.test_context() as test:
        await test.put(value=orjson.dumps(settle), key=key, headers=first, wait=False)
        record = await _next(p.topics.records)
        # The same delivery again (a re-run after a crash) maps again ...
        await test.put(value=orjson.dumps(settle), key=key, headers=first, wait=False)
        rerun = await _next(p.topics.records)
        # ... another delivery of the same eesEventId (AIR's at-least-once) does not.
        await test.put(value=orjson.dumps(settle), key=key, headers=other, wait=False)
        await test.put(value=orjson.dumps(spend), key=key, headers=other, wait=False)
        after = await _next(p.topics.records)
        stored = p.wallet_state[key]

    assert record.key == key and orjson.loads(record.value) == expected
    assert orjson.loads(rerun.value) == expected
    assert orjson.loads(after.value)["air"] == expected_spend["air"]
    assert stored is not None and stored["points"] == {"8001": [40, stored["points"]["8001"][1]]}
    assert p.topics.records.empty() and p.topics.dead_letters.empty()


async def test_wallet_agent_dead_letters_a_rejected_event(p: Pipeline) -> None:
    agent = _agent(p, agents.wallet_events, p.topics.by_wallet)
    doc, _ = CASES["POSCONNECT.WALLET.SPEND"]()
    del doc["headers"]["eesEventId"]
    raw = orjson.dumps(doc)
    async with agent.test_context() as test:
        await test.put(value=raw, key=WALLET.encode(), wait=False)
        dead = await _next(p.topics.dead_letters)

    assert dead.value == raw
    assert _headers(dead)["airmp-reason"] == b"invalid_notification: headers.eesEventId is missing"
    assert _headers(dead)["airmp-stage"] == b"wallet"


async def test_sink_agent_delivers_and_dead_letters_what_mparticle_refuses() -> None:
    async with LocalEndpoint(KEY, SECRET) as endpoint:
        settings = _settings(
            mparticle_api_endpoint=endpoint.base_url,
            mparticle_api_key=KEY,
            mparticle_api_secret=SECRET,
            sink_linger_seconds=0.05,
        )
        p = _pipeline(settings)
        agent = _agent(p, sink_agent.deliver_records, p.topics.records)
        good = CASES["POSCONNECT.WALLET.SETTLE"]()[1]
        refused = CASES["POSCONNECT.WALLET.SPEND"]()[1]
        endpoint.faults.reject_source_request_ids = {refused["batch"]["source_request_id"]}
        async with agent.test_context() as test:
            await test.put(value=b"[1]", key=b"k", wait=False)
            await test.put(value=orjson.dumps(good), key=b"w", wait=False)
            await test.put(value=orjson.dumps(refused), key=b"w", wait=False)
            not_a_record = await _next(p.topics.dead_letters)
            invalid = await _next(p.topics.dead_letters)

    assert endpoint.state.accepted == [good["batch"]]
    assert (not_a_record.value, _headers(not_a_record)["airmp-reason"]) == (
        b"[1]",
        b"not_a_record: a record needs a 'batch' object",
    )
    assert invalid.value == orjson.dumps(refused)
    assert _headers(invalid)["airmp-reason"] == b"invalid_batch"
    assert _headers(invalid)["airmp-stage"] == b"sink"
    assert b"rejected" in _headers(invalid)["airmp-detail"].lower()
    assert p.health.sink_stopped is None


def test_create_app_wires_three_agents_on_the_pipeline_topics() -> None:
    from streams.app import create_app

    app = create_app(_settings())
    assert sorted(app.agents) == ["deliver_records", "ingest", "wallet_events"]
    topics = {name: agent.channel.get_topic_name() for name, agent in app.agents.items()}
    assert topics == {
        "ingest": "air-notifications",
        "wallet_events": "agents-air-by-wallet",
        "deliver_records": "mparticle-records",
    }
    assert isinstance(app, faust.App)
