# ruff: noqa: E501  (fixture data reads better on one line)
"""Journeys through one in-memory Mapper: state carried, duplicates, late events, deletion."""

from __future__ import annotations

from mappers import Mapper, MappingOptions, Outcome, WalletState
from mappers.models import validate_record
from testkit.builders import (
    CARD,
    DATE,
    WALLET,
    notification,
    op,
    points,
    raw,
    tier,
    tier_attributes,
)
from testkit.cases import PROFILE, accounts_create, settle


def test_join_purchase_duplicate_move_delete() -> None:
    mapper = Mapper(MappingOptions())
    join, _ = accounts_create()
    join["headers"].update(eesEventId="j-1", eventDate="2025-03-01T09:00:00")
    joined = mapper.map_bytes(raw(join))
    assert joined.record is not None
    assert joined.record["batch"]["user_attributes"]["loyalty_member"] == "true"

    purchase, _ = settle()
    first = mapper.map_bytes(raw(purchase))
    assert first.record is not None
    assert first.record["batch"]["user_attributes"] == {
        "loyalty_member": "true",
        "points_balance": "157",
        **tier_attributes("GOLD", 57, 780, 1),
    }
    again = mapper.map_bytes(raw(purchase))  # AIR delivers at least once
    assert again.duplicate and again.record is None and again.rejection is None
    assert again.counters == {"duplicate": 1}

    move = notification(
        "TIER.MEMBERSHIP.MOVE",
        [op("tierMembershipEntity", "UPDATE", tier("PLATINUM", 57, 780, 1))],
        event_id="m-1",
        date="2025-03-02T08:00:00.000000",
        enrichment=False,
        resource="/wallet/900100/tier/membership/T-55/move",
    )
    moved = mapper.map_bytes(raw(move))
    assert moved.record is not None
    assert moved.record["batch"]["user_identities"] == {"other": CARD, "customer_id": WALLET}
    assert moved.record["batch"]["user_attributes"]["tier_id"] == "PLATINUM"
    assert moved.record["batch"]["user_attributes"]["points_balance"] == "157"  # carried

    delete = notification(
        "SERVICE.WALLET.DELETE",
        [
            op(
                "walletIdentityEntity",
                "DELETE",
                {"walletId": WALLET, "type": "CARD", "value": "DELETED_9"},
            )
        ],
        event_id="d-1",
        date="2025-03-03T08:00:00.000000",
        enrichment=False,
    )
    left = mapper.map_bytes(raw(delete))
    assert left.record is not None and left.state is not None
    assert left.state.identities == {} and left.state.points == {} and left.state.tier is None
    assert not left.state.member and set(left.state.seen) == {"j-1", "evt-1", "m-1", "d-1"}
    assert mapper.map_bytes(raw(delete)).duplicate  # delivered again after the deletion
    batch = left.record["batch"]
    assert batch["user_identities"] == {"other": CARD, "customer_id": WALLET}
    assert batch["deleted_user_attributes"] == PROFILE
    assert "user_attributes" not in batch
    for outcome in (joined, first, moved, left):
        validate_record(outcome.record)


def test_late_older_tier_event_does_not_roll_the_profile_back() -> None:
    mapper = Mapper(MappingOptions())
    newer = notification(
        "TIER.MEMBERSHIP.CREDIT",
        [op("tierMembershipEntity", "UPDATE", tier("GOLD", 900, 9000, 9))],
        event_id="t-2",
        date="2025-03-05T12:00:00",
    )
    older = notification(
        "TIER.MEMBERSHIP.DEBIT",
        [op("tierMembershipEntity", "UPDATE", tier("SILVER", 100, 1000, 1))],
        event_id="t-1",
        date="2025-03-04T12:00:00",
    )
    mapper.map_bytes(raw(newer))
    late = mapper.map_bytes(raw(older))
    assert late.record is not None
    batch = late.record["batch"]
    assert batch["user_attributes"] == tier_attributes("GOLD", 900, 9000, 9)
    # The event itself still says what happened to the membership then.
    assert batch["events"][0]["data"]["custom_attributes"] == tier_attributes(
        "SILVER", 100, 1000, 1
    )


def test_points_carried_per_account_and_older_points_ignored() -> None:
    mapper = Mapper(MappingOptions())
    second = points("AT-20", 40)
    second["account"]["accountId"] = "8002"
    both = notification(
        "WALLET.ACCOUNT.CREATE.SCHEME",
        [
            op("walletAccountTransactionEntity", "CREATE", points("AT-19", 100)),
            op("walletAccountTransactionEntity", "CREATE", second),
        ],
        event_id="p-1",
        date="2025-03-01T10:00:00",
    )
    assert profile(mapper.map_bytes(raw(both))) == {"points_balance": "140"}
    one = notification(
        "SERVICE.TRIGGER",
        [
            op("walletAccountTransactionEntity", "CREATE", {"event": "REDEEM", "account": {"type": "BEHAVIOURAL_ACTION", "accountId": "7", "campaignId": "8"}}),
            op("walletAccountTransactionEntity", "CREATE", points("AT-21", 160, "CREDIT", 60)),
        ],
        event_id="p-2",
        date="2025-03-02T10:00:00",
    )  # fmt: skip
    assert profile(mapper.map_bytes(raw(one))) == {"points_balance": "200"}
    stale = notification(
        "WALLET.ACCOUNT.CREATE.SCHEME",
        [op("walletAccountTransactionEntity", "UPDATE", points("AT-18", 5))],
        event_id="p-0",
        date="2025-02-01T10:00:00",
    )
    assert profile(mapper.map_bytes(raw(stale))) == {"points_balance": "200"}


def test_void_reference_from_state() -> None:
    mapper = Mapper(MappingOptions())
    spend = notification(
        "POSCONNECT.WALLET.SPEND",
        [
            op("walletTransactionEntity", "UPDATE", {"walletTransactionId": "T-5", "walletId": WALLET, "reference": "BASKET-5", "type": "SETTLE", "status": "ACTIVE"}),
            op("walletTransactionEntity", "UPDATE", {"walletTransactionId": "T-6", "walletId": WALLET, "reference": "SP-6", "type": "SPEND", "parentWalletTransactionId": "T-5"}),
        ],
        event_id="s-1",
    )  # fmt: skip
    void = notification(
        "POSCONNECT.WALLET.SPEND.VOID",
        [op("walletTransactionEntity", "UPDATE", {"walletTransactionId": "T-6", "walletId": WALLET, "reference": "SP-6", "type": "SPEND", "status": "VOIDED", "parentWalletTransactionId": "T-5"})],
        event_id="s-2",
        body='{"reference": "SP-6"}',
    )  # fmt: skip
    mapper.map_bytes(raw(spend))
    outcome = mapper.map_bytes(raw(void))
    assert outcome.counters == {}
    assert outcome.record["batch"]["events"][0]["data"]["custom_attributes"] == {  # type: ignore[index]
        "original_transaction_reference": "BASKET-5",
        "transaction_reference": "SP-6",
        "voided": "true",
    }


def test_dedup_window_and_replay_switch() -> None:
    purchase, _ = settle()
    state = WalletState()
    options = MappingOptions(dedup_window_seconds=3600)
    mapper = Mapper(options)
    assert mapper.map_bytes(raw(purchase)).record is not None
    later = notification("SERVICE.WALLET.CREATE", [], event_id="x-2", date="2025-03-01T12:00:00")
    mapper.map_bytes(raw(later))  # two hours later: evt-1 left the window
    assert mapper.map_bytes(raw(purchase)).duplicate is False
    replay = Mapper(MappingOptions(dedup=False))
    assert replay.map_bytes(raw(purchase)).record == replay.map_bytes(raw(purchase)).record
    assert state.to_dict() == WalletState.from_dict(state.to_dict()).to_dict()


def test_state_round_trips_through_a_plain_dict() -> None:
    import orjson

    mapper = Mapper(MappingOptions(recent_transactions_max=2, dedup_max_ids=2))
    for index in range(4):
        doc, _ = settle()
        doc["headers"].update(eesEventId=f"e-{index}", eventDate=DATE)
        doc["atomicOperations"][-1]["objectValue"]["walletTransactionId"] = f"T-{index}"
        mapper.map_bytes(raw(doc))
    state = mapper.states[WALLET]
    stored = orjson.loads(orjson.dumps(state.to_dict()))
    assert WalletState.from_dict(stored) == state
    assert list(stored["transactions"]) == ["T-1", "T-3"]  # most recently seen last
    assert list(stored["seen"]) == ["e-2", "e-3"]
    assert stored["identities"]["CARD"][0] == CARD
    assert WalletState.from_dict({"points": "nonsense", "seen": None}) == WalletState()


def test_the_same_delivery_again_is_a_rerun_and_re_emits() -> None:
    """After a crash the changelog may know an event whose record never reached Kafka: the
    same delivery (tag) is mapped again; another delivery of that event is AIR's duplicate."""
    from mappers import parse, process

    options = MappingOptions()
    purchase, expected = settle()
    notification_ = parse(raw(purchase))
    first = process(notification_, None, options, tag="air[0]@7")
    assert first.record == expected
    rerun = process(notification_, first.state, options, tag="air[0]@7")
    assert not rerun.duplicate
    assert rerun.record == expected
    assert rerun.state == first.state
    other_delivery = process(notification_, first.state, options, tag="air[2]@41")
    assert other_delivery.duplicate and other_delivery.record is None
    stored = WalletState.from_dict(first.state.to_dict() if first.state else {})
    assert stored.seen_tags == {purchase["headers"]["eesEventId"]: "air[0]@7"}


def profile(outcome: Outcome) -> dict[str, str]:
    assert outcome.record is not None, outcome.rejection
    attributes: dict[str, str] = outcome.record["batch"]["user_attributes"]
    return attributes
