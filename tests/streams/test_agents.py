"""The ingest, wallet and sink agents in process: Faust's `agent.test_context()`, a memory
table store, and in-memory channels in place of the pipeline's output topics.

What each agent produces is read from its output channels, in order (a channel delivers to
the readers subscribed to it); "nothing produced" is shown by a later event's output
arriving first. The sink agent delivers to the local
mParticle endpoint on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import faust
import orjson
import pytest
from aiokafka.partitioner import murmur2
from faust.types import ChannelT, EventT

import mappers
from config import Settings, load_settings
from streams import agents, metrics, sink_agent
from streams.app import app_options, pipeline
from streams.dead_letters import DeadLetterTopic
from streams.logs import secrets_of
from streams.offsets import App
from streams.pipeline import Pipeline, Topics, kept
from streams.source import H_OFFSET, H_PARTITION, H_REDRIVEN, H_TOPIC, headers_dict
from testkit.builders import WALLET
from testkit.cases import CASES
from testkit.local_mparticle import LocalEndpoint

KEY, SECRET = "agent-key", "agent-secret"


def _settings(**overrides: Any) -> Settings:
    # A broker nobody answers on: nothing here talks to Kafka.
    return load_settings(
        kafka_bootstrap_servers="127.0.0.1:9", store="memory://", app_id="agents", **overrides
    )


@dataclasses.dataclass
class Outputs:
    """Readers subscribed to the pipeline's output channels."""

    by_wallet: ChannelT
    records: ChannelT
    dead_letters: ChannelT

    def empty(self) -> bool:
        return self.by_wallet.empty() and self.records.empty() and self.dead_letters.empty()


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
        rewards=app.channel(),
        audiences=app.channel(),
    )
    app.flow_control.resume()
    return dataclasses.replace(
        real,
        topics=channels,
        dead_letters=DeadLetterTopic(channels.dead_letters, secrets_of(settings)),
    )


def outputs(p: Pipeline) -> Outputs:
    t = p.topics
    return Outputs(*(c.clone(is_iterator=True) for c in (t.by_wallet, t.records, t.dead_letters)))


def _agent(p: Pipeline, fun: Any, channel: ChannelT) -> Any:
    return p.app.agent(channel, name=fun.__name__, concurrency=1)(partial(fun, p))


async def _next(channel: ChannelT) -> EventT:
    return await channel.get(timeout=10)


def _headers(event: EventT) -> dict[str, bytes]:
    return headers_dict(event.message.headers)


def _notification(name: str) -> bytes:
    return orjson.dumps(CASES[name]()[0])


async def test_ingest_rekeys_by_wallet_and_dead_letters_bad_input(p: Pipeline) -> None:
    agent = _agent(p, agents.ingest, p.topics.input)
    out = outputs(p)
    settle = _notification("POSCONNECT.WALLET.SETTLE")
    async with agent.test_context() as test:
        await test.put(value=b"not json", key=b"k1", wait=False)
        await test.put(value=b'{"headers": {"eventName": "SOMETHING.NEW"}}', wait=False)
        await test.put(value=settle, key=b"card-1", wait=False)

        dead = await _next(out.dead_letters)
        forwarded = await _next(out.by_wallet)

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
    assert out.empty()


async def test_wallet_agent_maps_with_state_and_drops_another_delivery(p: Pipeline) -> None:
    agent = _agent(p, agents.wallet_events, p.topics.by_wallet)
    out = outputs(p)
    settle, expected = CASES["POSCONNECT.WALLET.SETTLE"]()
    spend, _ = CASES["POSCONNECT.WALLET.SPEND"]()
    spend["headers"]["eesEventId"] = "evt-2"  # the cases share one id
    first = {H_TOPIC: b"air", H_PARTITION: b"0", H_OFFSET: b"7"}
    other = {H_TOPIC: b"air", H_PARTITION: b"3", H_OFFSET: b"41"}
    key = WALLET.encode()
    async with agent.test_context() as test:
        await test.put(value=orjson.dumps(settle), key=key, headers=first, wait=False)
        record = await _next(out.records)
        # The same delivery again (a re-run after a crash) maps again ...
        await test.put(value=orjson.dumps(settle), key=key, headers=first, wait=False)
        rerun = await _next(out.records)
        # ... another delivery of the same eesEventId (AIR's at-least-once) does not.
        await test.put(value=orjson.dumps(settle), key=key, headers=other, wait=False)
        await test.put(value=orjson.dumps(spend), key=key, headers=other, wait=False)
        after = await _next(out.records)
        stored = kept(p.wallet_state)[key]

    assert record.key == key and orjson.loads(record.value) == expected
    assert orjson.loads(rerun.value) == expected
    assert orjson.loads(after.value)["air"]["event_id"] == "evt-2"
    # The table holds what the mapper returns for the same deliveries, in the same order.
    state = None
    for doc, tag in ((settle, "air[0]@7"), (settle, "air[0]@7"), (settle, "air[3]@41")):
        state = mappers.process(mappers.parse(orjson.dumps(doc)), state, p.options, tag).state
    state = mappers.process(mappers.parse(orjson.dumps(spend)), state, p.options, "air[3]@41").state
    assert state is not None and stored == state.to_dict()
    assert out.empty()


async def test_wallet_agent_dead_letters_a_rejected_event(p: Pipeline) -> None:
    agent = _agent(p, agents.wallet_events, p.topics.by_wallet)
    out = outputs(p)
    doc, _ = CASES["POSCONNECT.WALLET.SPEND"]()
    del doc["headers"]["eesEventId"]
    raw = orjson.dumps(doc)
    async with agent.test_context() as test:
        await test.put(value=raw, key=WALLET.encode(), wait=False)
        dead = await _next(out.dead_letters)

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
        out = outputs(p)
        good = CASES["POSCONNECT.WALLET.SETTLE"]()[1]
        refused = CASES["POSCONNECT.WALLET.SPEND"]()[1]
        refused["batch"]["source_request_id"] = "6f1b5b1e-0000-5000-8000-000000000002"
        endpoint.faults.reject_source_request_ids = {refused["batch"]["source_request_id"]}
        async with agent.test_context() as test:
            await test.put(value=b"[1]", key=b"k", wait=False)
            await test.put(value=orjson.dumps(good), key=b"w", wait=False)
            await test.put(value=orjson.dumps(refused), key=b"w", wait=False)
            not_a_record = await _next(out.dead_letters)
            invalid = await _next(out.dead_letters)

    assert endpoint.state.accepted == [good["batch"]]
    assert (not_a_record.value, _headers(not_a_record)["airmp-reason"]) == (
        b"[1]",
        b"not_a_record: a record needs a 'batch' object",
    )
    assert invalid.value == orjson.dumps(refused)
    assert _headers(invalid)["airmp-reason"] == b"invalid_batch"
    assert _headers(invalid)["airmp-stage"] == b"sink"
    assert b"rejected" in _headers(invalid)["airmp-detail"].lower()
    assert p.health.stopped == {}


async def _acked(event: EventT) -> bool:
    deadline = asyncio.get_running_loop().time() + 10
    while not event.message.acked and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    return bool(event.message.acked)


async def test_sink_agent_sends_a_batch_mparticle_accepted_only_once() -> None:
    # A record met again (its partition read again, its input mapped again) is completed
    # without a request: its batch id is in the sink-accepted table.
    async with LocalEndpoint(KEY, SECRET) as endpoint:
        settings = _settings(
            mparticle_api_endpoint=endpoint.base_url,
            mparticle_api_key=KEY,
            mparticle_api_secret=SECRET,
            sink_linger_seconds=0.05,
        )
        p = _pipeline(settings)
        agent = _agent(p, sink_agent.deliver_records, p.topics.records)
        first, second = (
            CASES["POSCONNECT.WALLET.SETTLE"]()[1],
            CASES["POSCONNECT.WALLET.SPEND"]()[1],
        )
        second["batch"]["source_request_id"] = "6f1b5b1e-0000-5000-8000-000000000003"
        before = metrics.SINK_REPEATS._value.get()
        async with agent.test_context() as test:
            sent = await test.put(value=orjson.dumps(first), key=b"w", wait=False)
            assert await _acked(sent)
            twice = [
                await test.put(value=orjson.dumps(r), key=b"w", wait=False)
                for r in (first, second, second)
            ]
            assert [await _acked(e) for e in twice] == [True, True, True]
        assert p.sink_accepted is not None
        remembered = p.sink_accepted.get(b"w")

    assert endpoint.state.accepted == [first["batch"], second["batch"]]
    assert metrics.SINK_REPEATS._value.get() - before == 2
    ids = [first["batch"]["source_request_id"], second["batch"]["source_request_id"]]
    assert remembered == {"ids": ids}


def test_create_app_wires_four_agents_on_the_pipeline_topics() -> None:
    from streams.app import create_app

    app = create_app(_settings())
    assert sorted(app.agents) == ["deliver_records", "fan_out_audiences", "ingest", "wallet_events"]
    topics = {name: agent.channel.get_topic_name() for name, agent in app.agents.items()}
    assert topics == {
        "ingest": "air-notifications",
        "wallet_events": "agents-air-by-wallet",
        "deliver_records": "mparticle-records",
        "fan_out_audiences": "mparticle-audience-changes",
    }
    assert isinstance(app, faust.App)


async def test_a_redriven_notification_keeps_its_delivery_and_its_mark(p: Pipeline) -> None:
    """`airmp dead-letters redrive` sends a notification back with its source headers: the
    ingest agent forwards them as they are (the wallet agent then sees the same delivery),
    and a dead letter of it says it was re-driven, with the kind in a header of its own."""
    agent = _agent(p, agents.ingest, p.topics.input)
    out = outputs(p)
    settle = _notification("POSCONNECT.WALLET.SETTLE")
    redriven = {
        H_TOPIC: b"air-notifications",
        H_PARTITION: b"2",
        H_OFFSET: b"41",
        H_REDRIVEN: b"air-dead-letters[0]@7",
    }
    async with agent.test_context() as test:
        await test.put(value=settle, key=b"900100", headers=redriven, wait=False)
        await test.put(value=b"[1]", key=b"k", headers=redriven, wait=False)
        forwarded = await _next(out.by_wallet)
        dead = await _next(out.dead_letters)

    assert (forwarded.value, _headers(forwarded)) == (settle, redriven)
    assert _headers(dead) == {
        **redriven,
        "airmp-kind": b"not_object",
        "airmp-reason": b"not_object: the notification is a JSON array",
        "airmp-stage": b"ingest",
    }
    assert out.empty()


async def test_ingest_maps_a_notification_keyed_by_its_wallet_where_it_lands(
    p: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a topic partitioned like the by-wallet topic (6 partitions here).
    monkeypatch.setattr(p.app.consumer, "topic_partitions", lambda topic: 6)
    agent = _agent(p, agents.ingest, p.topics.input)
    out = outputs(p)
    settle, expected = CASES["POSCONNECT.WALLET.SETTLE"]()
    spend, _ = CASES["POSCONNECT.WALLET.SPEND"]()
    spend["headers"]["eesEventId"] = "evt-2"
    home = (murmur2(WALLET.encode()) & 0x7FFFFFFF) % 6
    async with agent.test_context() as test:
        await test.put(value=orjson.dumps(settle), key=WALLET.encode(), partition=home, wait=False)
        record = await _next(out.records)
        # Keyed by its wallet but on another partition: re-keyed as any other.
        other = (home + 1) % 6
        await test.put(value=orjson.dumps(spend), key=WALLET.encode(), partition=other, wait=False)
        forwarded = await _next(out.by_wallet)
        stored = kept(p.wallet_state)[WALLET.encode()]

    assert orjson.loads(record.value) == expected and record.key == WALLET.encode()
    assert orjson.loads(forwarded.value)["headers"]["eesEventId"] == "evt-2"
    assert stored is not None and "evt-1" in stored["seen"]
    assert out.empty()
