"""Reward requests at the reward topic's edge, and SPEND.VOID's AIR look-up hook."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from pydantic import ValidationError

from mappers import MappingOptions, Notification, parse, process, void_lookup
from mappers.rewards import Cause, CauseKind, RewardRequest
from testkit.builders import WALLET, raw
from testkit.cases import CASES

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_an_audience_reward_is_one_per_user_audience_and_action_reference() -> None:
    first = RewardRequest.for_audience(
        "2222", "WELCOME5000", request_id="req-1", audience_id="77", at=AT
    )
    later_request = RewardRequest.for_audience(
        "2222", "WELCOME5000", request_id="req-2", audience_id="77", at=datetime.now(UTC)
    )
    other_audience = RewardRequest.for_audience("2222", "WELCOME5000", audience_id="78", at=AT)
    other_reference = RewardRequest.for_audience("2222", "BONUS", audience_id="77", at=AT)
    other_user = RewardRequest.for_audience("2223", "WELCOME5000", audience_id="77", at=AT)
    # Pinned: a reference must not change across versions, or a re-delivery is a new reward.
    assert first.reference == later_request.reference == "mp-43b3d6d0-8fc3-50bf-b36c-a901bc79c694"
    others = {r.reference for r in (other_audience, other_reference, other_user)}
    assert len(others) == 3 and first.reference not in others
    assert first.key == b"2222" and first.triggers == ("WELCOME5000",)
    assert first.cause == Cause(
        kind=CauseKind.MPARTICLE_AUDIENCE, request_id="req-1", audience_id="77"
    )


def test_a_reward_by_hand_keeps_a_given_reference_or_makes_a_new_one() -> None:
    named = RewardRequest.by_hand("2222", ("P1",), reference="support-42", note="ticket 42", at=AT)
    assert named.reference == "support-42"
    made = {RewardRequest.by_hand("2222", ("P1",), at=AT).reference for _ in range(3)}
    assert len(made) == 3 and all(r.startswith("api-") for r in made)


def test_bytes_round_trip_exactly() -> None:
    request = RewardRequest.by_hand("2222", ("P1", "P2"), reference="r-1", at=AT)
    data = request.to_bytes()
    assert orjson.loads(data) == {
        "identity_value": "2222",
        "triggers": ["P1", "P2"],
        "reference": "r-1",
        "cause": {"kind": "api"},
        "requested_at": "2026-12-01T09:00:00Z",
    }
    assert RewardRequest.from_bytes(data) == request


@pytest.mark.parametrize(
    "doc",
    [
        b"not json",
        b'{"identity_value": "", "triggers": ["P1"], "reference": "r", "cause": {"kind": "api"},'
        b' "requested_at": "2026-12-01T09:00:00Z"}',
        b'{"identity_value": "1", "triggers": [], "reference": "r", "cause": {"kind": "api"},'
        b' "requested_at": "2026-12-01T09:00:00Z"}',
        b'{"identity_value": "1", "triggers": ["P"], "reference": "r", "cause": {"kind": "api"},'
        b' "requested_at": "2026-12-01T09:00:00"}',  # no time zone
        b'{"identity_value": "1", "triggers": ["P"], "reference": "r", "cause": {"kind": "x"},'
        b' "requested_at": "2026-12-01T09:00:00Z"}',
    ],
)
def test_anything_else_is_refused(doc: bytes) -> None:
    with pytest.raises(ValidationError):
        RewardRequest.from_bytes(doc)


def test_void_lookup_asks_for_a_parent_nobody_knows_and_process_uses_the_answer() -> None:
    doc, expected = CASES["POSCONNECT.WALLET.SPEND.VOID"]()
    n = parse(raw(doc))
    assert isinstance(n, Notification)
    assert void_lookup(n, None) == (WALLET, "T-5")
    outcome = process(n, None, MappingOptions(), looked_up={"T-5": "R-300"})
    assert outcome.record is not None
    attributes = outcome.record["batch"]["events"][0]["data"]["custom_attributes"]
    want = expected["batch"]["events"][0]["data"]["custom_attributes"]
    assert attributes == {"original_transaction_reference": "R-300", **want}
    assert "void_reference_miss" not in outcome.counters
    # Without an answer: the case's record, the miss counted.
    missed = process(n, None, MappingOptions())
    assert missed.record == expected and missed.counters["void_reference_miss"] == 1


def test_void_lookup_is_none_when_state_or_the_event_knows_or_for_other_events() -> None:
    doc, _ = CASES["POSCONNECT.WALLET.SPEND.VOID"]()
    n = parse(raw(doc))
    assert isinstance(n, Notification)
    state = process(n, None, MappingOptions()).state
    assert state is not None
    state.transactions["T-5"] = "R-300"
    assert void_lookup(n, state) is None
    settle = parse(raw(CASES["POSCONNECT.WALLET.SETTLE"]()[0]))
    assert isinstance(settle, Notification) and void_lookup(settle, None) is None
