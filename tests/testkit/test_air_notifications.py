"""The SERVICE.TRIGGER the local AIR emits maps, with the project's mapper, to a record whose
points_balance is the balance before plus the reward; and it is shaped like a real one
(AIR_SAMPLES_DIR; skipped, visibly, without it)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

import mappers
from sinks.air import AirClient
from testkit import air_notifications as air
from testkit import builders, cases
from testkit.local_air import LocalAir
from tests.testkit.conftest import CARD, CLIENT_ID, SECRET, TRIGGERS, WAIT, WALLET

NOW = datetime(2025, 3, 2, 12, 0, 0, tzinfo=UTC)
NOW_MS = 1740916800000
EVENT_DATE = "2025-03-02T12:00:00.000000"


def _earlier() -> list[dict[str, Any]]:
    """The wallet joins (points account 8001 at 0, tier BRONZE), then has 1,200 points."""
    joined, _ = cases.accounts_create()
    earned = builders.notification(
        "WALLET.ACCOUNT.UPDATE",
        [
            builders.op(
                "walletAccountTransactionEntity",
                "UPDATE",
                builders.points("AT-9", 1200, "CREDIT", 1200),
            )
        ],
        event_id="evt-2",
        date="2025-03-01T11:00:00.000000",
    )
    return [joined, earned]


async def test_the_emitted_service_trigger_maps_to_the_raised_balance() -> None:
    earlier = _earlier()
    mapper = mappers.Mapper(mappers.MappingOptions())
    for doc in earlier:
        assert mapper.map_bytes(orjson.dumps(doc)).rejection is None
    assert mapper.states[WALLET].points_balance() == 1200

    async with LocalAir(
        CLIENT_ID, SECRET, triggers=TRIGGERS, clock=lambda: NOW, event_ids=lambda: "evt-reward"
    ) as local:
        local.state.learn(_parsed(earlier[0]))
        local.state.learn(_parsed(earlier[1]))
        async with AirClient(local.base_url, CLIENT_ID, SECRET, timeout=WAIT) as client:
            result = await client.trigger(CARD, "welcome-0001", ["WELCOME5000"])
        assert result.done
        (emitted,) = local.state.emitted

    outcome = mapper.map_bytes(air.dumps(emitted))
    assert outcome.rejection is None
    attributes = {
        "account_id": "4500000001",  # the BEHAVIOURAL_ACTION account the reward created
        "campaign_id": "100641681",
        "points": "5000",
        "coupons": "[]",
    }
    assert outcome.record == builders.record(
        "SERVICE.TRIGGER",
        [
            builders.custom(
                "ee_loyalty_service_trigger", attributes, event_id="evt-reward", ms=NOW_MS
            )
        ],
        {
            "loyalty_member": "true",
            "points_balance": "6200",  # 1,200 before + the 5,000 reward
            **builders.tier_attributes("BRONZE", 0, 0, 0),
        },
        event_id="evt-reward",
        date=EVENT_DATE,
    )


def _parsed(doc: dict[str, Any]) -> mappers.Notification:
    parsed = mappers.parse(orjson.dumps(doc))
    assert isinstance(parsed, mappers.Notification)
    return parsed


def test_the_builder_alone_maps_a_coupon_reward() -> None:
    """The pure builders, without the local AIR: a coupon reward leaves the balance as is
    and lists the coupon."""
    action = air.action_account("7010", WALLET, "5010", "USED", NOW)
    coupon = air.coupon_account("7011", WALLET, "5011", NOW, days=30)
    empty = {"available": 0, "refundable": 0}
    accounts = [
        air.account_transaction("AT-20", action, "REDEEM", 0, empty, empty, NOW),
        air.account_transaction("AT-21", coupon, "CREATE", 0, empty, empty, NOW),
    ]
    transaction = air.wallet_transaction("T-20", WALLET, "coffee-1", None, accounts, NOW)
    assert transaction["type"] == "BEHAVIOURAL_ACTION_COUPON"
    doc = air.service_trigger(
        transaction,
        identities=[{"type": "CARD", "value": CARD, "status": "ACTIVE"}],
        request_body="{}",
        event_id="evt-coffee",
        when=NOW,
    )
    mapper = mappers.Mapper(mappers.MappingOptions())
    mapper.map_bytes(orjson.dumps(_earlier()[0]))
    outcome = mapper.map_bytes(air.dumps(doc))
    assert outcome.record is not None
    (event,) = outcome.record["batch"]["events"]
    assert event["data"]["custom_attributes"] == {
        "account_id": "7010",
        "campaign_id": "5010",
        "points": "0",
        "coupons": (
            '[{"account_id":"7011","campaign_id":"5011","type":"ECOUPON","client_type":"OFFER",'
            '"status":"ACTIVE","state":"LOADED","date_start":"2025-03-02T12:00:00+00:00",'
            '"date_end":"2025-04-01T12:00:00+00:00"}]'
        ),
    }
    assert outcome.record["batch"]["user_attributes"]["points_balance"] == "0"


# --- against the real samples ------------------------------------------------------------------


def _shape(doc: dict[str, Any]) -> dict[str, Any]:
    """Keys and the sequence of operations, not the values."""
    transaction = doc["response"]["body"]
    ops = doc["atomicOperations"]
    return {
        "top": sorted(doc),
        "headers": sorted(doc["headers"]),
        "request": sorted(doc["request"]),
        "response": sorted(doc["response"]),
        "transaction": sorted(transaction),
        "account_transaction": [sorted(a) for a in transaction["accounts"]],
        "account": [sorted(a["account"]) for a in transaction["accounts"]],
        "ops": [
            (
                o["objectType"],
                o["operationType"],
                o["objectValue"].get("event"),
                (o["objectValue"].get("account") or {}).get("type"),
            )
            for o in ops
        ],
        "op_keys": [sorted(o["objectValue"]) for o in ops],
        "enrichment": [sorted(i) for e in doc["enrichmentData"].values() for i in e["identities"]],
    }


async def test_shaped_like_a_real_service_trigger(air_samples_dir: Path) -> None:
    sample = orjson.loads((air_samples_dir / "SERVICE.TRIGGER-points.json").read_bytes())
    wallet = orjson.loads((air_samples_dir / "SERVICE.WALLET.ACCOUNTS.CREATE.json").read_bytes())
    async with LocalAir(CLIENT_ID, SECRET, triggers=["P0002=points:400"]) as local:
        local.state.learn(_parsed(wallet))
        card = next(i["value"] for i in _parsed(wallet).identities() if i["type"] == "CARD")
        async with AirClient(local.base_url, CLIENT_ID, SECRET, timeout=WAIT) as client:
            result = await client.trigger(card, "PurchaseTest31a", ["P0002"])
        assert result.done
        (emitted,) = local.state.emitted
    assert _shape(emitted) == _shape(sample)
    assert result.transaction is not None
    assert sorted(result.transaction) == sorted(sample["response"]["body"])


async def test_a_real_wallet_is_rewarded_and_maps(air_samples_dir: Path) -> None:
    raw = (air_samples_dir / "SERVICE.WALLET.ACCOUNTS.CREATE.json").read_bytes()
    mapper = mappers.Mapper(mappers.MappingOptions())
    joined = mapper.map_bytes(raw)
    assert joined.record is not None
    before = joined.record["batch"]["user_attributes"]
    assert before["points_balance"] == "0"
    async with LocalAir(CLIENT_ID, SECRET, triggers=["WELCOME5000=points:5000"]) as local:
        learnt = _parsed(orjson.loads(raw))
        local.state.learn(learnt)
        card = next(i["value"] for i in learnt.identities() if i["type"] == "CARD")
        async with AirClient(local.base_url, CLIENT_ID, SECRET, timeout=WAIT) as client:
            assert (await client.trigger(card, "welcome-real", ["WELCOME5000"])).done
        (emitted,) = local.state.emitted
    outcome = mapper.map_bytes(air.dumps(emitted))
    assert outcome.record is not None
    assert outcome.record["batch"]["user_attributes"] == {**before, "points_balance": "5000"}
    assert outcome.record["batch"]["user_identities"]["other"] == card
