"""Every eventName of docs/mapping.md §5: our own notification -> the exact expected record."""

from __future__ import annotations

import pytest

from mappers import REGISTRY, MappingOptions, WalletState, family_of, parse, process
from mappers.models import validate_record
from testkit.builders import raw
from testkit.cases import CASES

OPTIONS = MappingOptions()


def test_every_registered_event_has_a_case() -> None:
    names = {name.split("-")[0] for name in CASES}
    assert names == set(REGISTRY)


@pytest.mark.parametrize("case", sorted(CASES))
def test_record(case: str) -> None:
    doc, expected = CASES[case]()
    notification = parse(raw(doc))
    assert not hasattr(notification, "kind"), notification
    outcome = process(notification, None, OPTIONS)  # type: ignore[arg-type]
    assert outcome.rejection is None
    assert outcome.record == expected
    assert list(outcome.record) == ["air", "batch"]
    validate_record(outcome.record)


@pytest.mark.parametrize("case", sorted(CASES))
def test_record_passes_the_oracle(case: str, mparticle_oracle) -> None:  # type: ignore[no-untyped-def]
    check_batch, check_bulk = mparticle_oracle
    doc, _ = CASES[case]()
    outcome = process(parse(raw(doc)), None, OPTIONS)  # type: ignore[arg-type]
    assert outcome.record is not None
    assert check_batch(outcome.record["batch"]) == []
    assert check_bulk([outcome.record["batch"]]) == []


def test_families() -> None:
    assert family_of("POSCONNECT.WALLET.SETTLE") == "pos"
    assert family_of("SERVICE.WALLET.DELETE") == "wallet"
    assert family_of("TIER.MEMBERSHIP.MOVE") == "tier"
    assert family_of("WALLET.ACCOUNT.UPDATE") == "accounts"
    assert family_of("SERVICE.TRIGGER") == "triggers"
    assert family_of("POSCONNECT.WALLET.OPEN") is None


def test_void_miss_is_counted_and_delete_clears_state() -> None:
    doc, _ = CASES["POSCONNECT.WALLET.SPEND.VOID"]()
    assert process(parse(raw(doc)), None, OPTIONS).counters == {"void_reference_miss": 1}  # type: ignore[arg-type]
    doc, _ = CASES["SERVICE.WALLET.DELETE"]()
    outcome = process(parse(raw(doc)), WalletState(), OPTIONS)  # type: ignore[arg-type]
    assert outcome.record is not None
    # Only the dedup memory is kept: a redelivery after the deletion re-emits nothing.
    assert outcome.state is not None
    assert outcome.state.to_dict() == {
        "version": 1,
        "identities": {},
        "member": False,
        "points": {},
        "tier": None,
        "tier_set_at": 0,
        "transactions": {},
        "seen": {doc["headers"]["eesEventId"]: 1740823200000000},
        "seen_high": 1740823200000000,
        "seen_tags": {},
    }
