"""The local AIR produces its SERVICE.TRIGGER notifications to a real Kafka topic, keyed by
walletId, in grant order; read back, they map to the raised balance."""

from __future__ import annotations

import asyncio

import orjson
import pytest

import mappers
from sinks.air import AirClient
from testkit import air_notifications as air
from testkit import builders
from testkit.kafka import consume, create_topics, unique
from testkit.local_air import LocalAir, targets_for
from tests.testkit.conftest import CARD, CLIENT_ID, SECRET, TRIGGERS, WAIT, WALLET, WALLETS

pytestmark = pytest.mark.integration

OTHER = {"walletId": "900200", "identities": [{"type": "CARD", "value": "6301000000000002"}]}


async def test_notifications_reach_the_topic_keyed_by_wallet(kafka_bootstrap: str) -> None:
    topic = unique("air-notifications")
    await create_topics(kafka_bootstrap, [topic], 3)
    targets = targets_for(emit_bootstrap=kafka_bootstrap, emit_topic=topic)
    async with LocalAir(
        CLIENT_ID, SECRET, wallets=[*WALLETS, OTHER], triggers=TRIGGERS, targets=targets
    ) as local:
        async with AirClient(local.base_url, CLIENT_ID, SECRET, timeout=WAIT) as client:
            for identity, reference in [
                (CARD, "k-1"),
                ("6301000000000002", "k-2"),
                (CARD, "k-3"),
                (CARD, "k-1"),  # a repeat: no second notification
            ]:
                assert (await client.trigger(identity, reference, ["WELCOME5000"])).done
        await asyncio.wait_for(local.drain(), WAIT)
        emitted = [air.dumps(n) for n in local.state.emitted]
    assert local.emitter.delivered == 3
    found = await consume(kafka_bootstrap, topic, 3, timeout=WAIT, settle=1.0)
    assert sorted((m.key, m.value) for m in found) == sorted(
        zip([WALLET.encode(), b"900200", WALLET.encode()], emitted, strict=True)
    )
    # One wallet's notifications share a partition, in grant order.
    mine = [m for m in found if m.key == WALLET.encode()]
    assert len({m.partition for m in mine}) == 1
    assert [m.value for m in sorted(mine, key=lambda m: m.offset)] == [emitted[0], emitted[2]]
    balances = []
    mapper = mappers.Mapper(mappers.MappingOptions())
    for message in sorted(mine, key=lambda m: m.offset):
        outcome = mapper.map_bytes(message.value)
        assert outcome.record is not None
        balances.append(outcome.record["batch"]["user_attributes"]["points_balance"])
    assert balances == ["6200", "11200"]  # 1,200 before, then 5,000 twice
    assert orjson.loads(mine[0].value)["enrichmentData"] == {
        f"walletEntity_{WALLET}": {
            "identities": list(local.state.wallets[WALLET].identities.values())
        }
    }
    assert builders.CUSTOMER in mine[0].value.decode()
