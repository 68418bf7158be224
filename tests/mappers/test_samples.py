# ruff: noqa: E501  (fixture data reads better on one line)
"""The real AIR samples (AIR_SAMPLES_DIR): all map without error; records pass the oracle."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from mappers import Mapper, MappingOptions
from mappers.models import validate_record

OPTIONS = MappingOptions()
UNMAPPED = {"POSCONNECT.WALLET.OPEN", "WALLET.CONSUMER.CREATE"}


def _samples(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.json") if "invalid" not in p.parts)


def test_every_sample_maps(air_samples_dir: Path, mparticle_oracle) -> None:  # type: ignore[no-untyped-def]
    check_batch, check_bulk = mparticle_oracle
    files = _samples(air_samples_dir)
    assert len(files) >= 20
    batches = []
    for path in files:
        outcome = Mapper(OPTIONS).map_bytes(path.read_bytes())
        assert outcome.rejection is None, (path.name, outcome.rejection)
        if path.name.split("-")[0].removesuffix(".json") in UNMAPPED or "OPEN" in path.name:
            assert outcome.record is None
            continue
        assert outcome.record is not None, path.name
        validate_record(outcome.record)
        assert check_batch(outcome.record["batch"]) == [], path.name
        batches.append(outcome.record["batch"])
    assert check_bulk(batches) == []


def test_spend_flow_in_order(air_samples_dir: Path) -> None:
    mapper = Mapper(OPTIONS)
    outcomes = [
        mapper.map_bytes(p.read_bytes())
        for p in sorted((air_samples_dir / "spend-flow").glob("*.json"))
    ]
    assert [o.rejection for o in outcomes] == [None] * 4
    assert outcomes[0].record is None  # OPEN maps to nothing
    spend = outcomes[1].record["batch"]["events"][0]["data"]["custom_attributes"]  # type: ignore[index]
    assert spend == {
        "original_transaction_reference": "TransactionReferenceJan22abc333",
        "reference": "NSSpendTestabc123",
        "points_balance": "5670",
        "points_spent": "20000",
    }
    assert outcomes[2].counters == {"void_reference_miss": 1}  # voids a spend state never saw
    settle = outcomes[3].record["batch"]  # type: ignore[index]
    assert (
        settle["events"][0]["data"]["product_action"]["transaction_id"]
        == "TransactionReferenceJan22abc333"
    )
    # The SETTLE (Jan 22) is older than the VOID (Feb 26): its points do not overwrite.
    assert settle["user_attributes"] == {"points_balance": "56340"}


def test_settle_sample_values(air_samples_dir: Path) -> None:
    outcome = Mapper(OPTIONS).map_bytes(
        (air_samples_dir / "POSCONNECT.WALLET.SETTLE.json").read_bytes()
    )
    batch = outcome.record["batch"]  # type: ignore[index]
    purchase = batch["events"][0]["data"]
    assert purchase["product_action"]["transaction_id"] == "NSTEST123pos2225"
    assert purchase["product_action"]["total_amount"] == 63.0
    assert purchase["custom_attributes"]["total_points_earned"] == "663"
    assert purchase["custom_attributes"]["discounts_received"] == "700"
    assert [e["data"]["event_name"] for e in batch["events"][1:]] == [
        "ee_loyalty_coupon_redeemed"
    ] * 4
    assert batch["user_identities"] == {"other": "2222222222222214", "customer_id": "216396239"}
    assert batch["user_attributes"]["points_balance"] == "663"


def test_refund_and_delete_samples(air_samples_dir: Path) -> None:
    refund = Mapper(OPTIONS).map_bytes(
        (air_samples_dir / "POSCONNECT.WALLET.REFUND-Full.json").read_bytes()
    )
    action = refund.record["batch"]["events"][0]["data"]["product_action"]  # type: ignore[index]
    assert (action["action"], action["transaction_id"], action["total_amount"]) == (
        "refund",
        "TransactionReferencefeb10b",
        70.0,
    )
    delete = Mapper(OPTIONS).map_bytes(
        (air_samples_dir / "SERVICE.WALLET.DELETE.json").read_bytes()
    )
    assert delete.record["batch"]["user_identities"] == {"customer_id": "217992433"}  # type: ignore[index]
    assert delete.state is not None and delete.state.to_dict()["identities"] == {}
    assert delete.state.to_dict()["seen"] == {
        orjson.loads((air_samples_dir / "SERVICE.WALLET.DELETE.json").read_bytes())["headers"][
            "eesEventId"
        ]: delete.state.seen_high
    }


def test_invalid_sample_is_a_no_wallet_dead_letter(air_samples_dir: Path) -> None:
    """No enrichmentData ([]), a tierMembershipEntity without walletId, resource /tier/177/membership."""
    (path,) = (air_samples_dir / "invalid").glob("*.json")
    outcome = Mapper(OPTIONS).map_bytes(path.read_bytes())
    assert outcome.record is None
    assert outcome.rejection is not None and outcome.rejection.kind == "no_wallet"
    assert outcome.rejection.reason == (
        "no_wallet: no walletId in the operations, enrichmentData or request.resource"
    )


@pytest.mark.parametrize("currency,total", [("JPY", 6300), ("KWD", 6.3)])
def test_currency_exponent(air_samples_dir: Path, currency: str, total: float) -> None:
    mapper = Mapper(MappingOptions(currency=currency))
    outcome = mapper.map_bytes((air_samples_dir / "POSCONNECT.WALLET.SETTLE.json").read_bytes())
    data = outcome.record["batch"]["events"][0]["data"]  # type: ignore[index]
    assert (data["currency_code"], data["product_action"]["total_amount"]) == (currency, total)
