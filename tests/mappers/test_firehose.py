"""Firehose messages -> reward requests and answers (pure), checked against mParticle's
Firehose schemas; Eagle Eye Connect's generic inbound body -> a reward request."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from pydantic import ValidationError

from mappers import connect, firehose
from mappers.rewards import RewardRequest
from testkit import firehose as requests
from tests.firehose_oracle import Check

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
REQUEST_ID = "6b0f2c1e-1111-4aaa-8bbb-0123456789ab"


def three_profiles_two_audiences() -> dict[str, object]:
    """Adds, a delete, an attribute update, and a profile with only an md5 identity."""
    p = requests
    return p.membership_request(
        [
            p.profile(
                [p.identity("other", "6301000000000001"), p.identity("email", "a@example.com")],
                [p.audience(101), p.audience(202, references="BONUS250, EXTRA")],
            ),
            p.profile(
                [p.identity("other", "6301000000000002")],
                [p.audience(101, action="delete"), p.audience(202, action="attribute_update")],
            ),
            p.profile(
                [p.identity("other", "5f4dcc3b5aa765d61d8327deb882cf99", encoding="md5")],
                [p.audience(101)],
            ),
        ],
        request_id=REQUEST_ID,
    )


def test_a_membership_change_asks_one_reward_per_profile_audience_and_reference() -> None:
    asked = firehose.membership(three_profiles_two_audiences(), "other", {}, at=AT)
    assert asked.rewards == [
        RewardRequest.for_audience(
            "6301000000000001", "WELCOME5000", request_id=REQUEST_ID, audience_id="101",
            audience_name="Audience 101", at=AT,
        ),
        RewardRequest.for_audience(
            "6301000000000001", "BONUS250", request_id=REQUEST_ID, audience_id="202",
            audience_name="Audience 202", at=AT,
        ),
        RewardRequest.for_audience(
            "6301000000000001", "EXTRA", request_id=REQUEST_ID, audience_id="202",
            audience_name="Audience 202", at=AT,
        ),
    ]  # fmt: skip
    assert asked.rejected == [
        firehose.Rejected(
            2,
            ("101",),
            firehose.FirehoseFault.NO_RAW_IDENTITY,
            "no raw other identity (a hashed one finds no wallet)",
        )
    ]
    assert dict(asked.counts) == {"add": 3, "delete": 1, "attribute_update": 1}


def test_legacy_added_audiences_and_remembered_references() -> None:
    message = requests.membership_request(
        [
            {
                "user_identities": [requests.identity("customer", "C-9")],
                "added_audiences": [{"audience_id": 7, "audience_name": "Old"}],
                "removed_audiences": [{"audience_id": 8, "audience_name": "Gone"}],
            }
        ],
        request_id=REQUEST_ID,
    )
    asked = firehose.membership(message, "customer", {"7": ("P1",)}, at=AT)
    assert [(r.identity_value, r.triggers) for r in asked.rewards] == [("C-9", ("P1",))]
    assert dict(asked.counts) == {"add": 1, "delete": 1}
    none_known = firehose.membership(message, "customer", {}, at=AT)
    assert none_known.rejected == [
        firehose.Rejected(
            0,
            ("7",),
            firehose.FirehoseFault.NO_ACTION_REFERENCE,
            "no action reference for the audience",
        )
    ]


def test_a_profile_in_several_audiences_is_one_rejection_per_fault() -> None:
    hashed = requests.identity("other", "5f4dcc3b5aa765d61d8327deb882cf99", encoding="md5")
    message = requests.membership_request(
        [requests.profile([hashed], [requests.audience(1), requests.audience(2)])]
    )
    asked = firehose.membership(message, "other", {}, at=AT)
    assert [(r.position, r.audience_ids, r.fault) for r in asked.rejected] == [
        (0, ("1", "2"), firehose.FirehoseFault.NO_RAW_IDENTITY)
    ]


@pytest.mark.parametrize(
    ("profiles", "problem"),
    [
        (None, None),
        ([], None),
        ({"a": 1}, "user_profiles is not a list"),
        ([{"mpid": "1"}, "x"], "user_profiles[1] is not an object"),
    ],
)
def test_the_shape_of_a_membership_change(profiles: object, problem: str | None) -> None:
    message = {"type": "audience_membership_change_request", "id": REQUEST_ID}
    if profiles is not None:
        message["user_profiles"] = profiles  # type: ignore[assignment]
    assert firehose.shape_problem(message) == problem


def test_account_settings_are_dropped_before_kafka() -> None:
    message = requests.membership_request([], request_id=REQUEST_ID)
    kept = firehose.without_account_settings(message)
    assert kept == {**message, "account": {"account_id": requests.ACCOUNT_ID}}
    assert requests.EXTERNAL_KEY.encode() not in orjson.dumps(kept)
    assert firehose.without_account_settings({"id": "x"}) == {"id": "x"}


def test_a_verification_request_asks_nothing() -> None:
    asked = firehose.membership(requests.membership_request(None), "other", {}, at=AT)
    assert (asked.rewards, asked.rejected, dict(asked.counts)) == ([], [], {})


def test_the_answers_and_our_requests_match_mparticles_schemas(
    firehose_oracle: dict[str, Check],
) -> None:
    registration = firehose.registration(REQUEST_ID, "other")
    assert firehose_oracle["ModuleRegistrationResponse"](registration) == []
    assert registration["permissions"] == {
        "user_identities": [{"type": "other", "encoding": "raw", "required": True}]
    }
    settings = registration["audience_processing_registration"]
    assert [s["id"] for s in settings["account_settings"]] == [
        "air_connector_id",
        "air_external_key",
    ]
    assert [s["confidential"] for s in settings["account_settings"]] == [False, True]
    assert [s["id"] for s in settings["audience_subscription_settings"]] == ["action_references"]
    for kind, name in (
        ("audience_subscription_response", "AudienceSubscriptionResponse"),
        ("audience_membership_change_response", "AudienceMembershipChangeResponse"),
    ):
        assert firehose_oracle[name](firehose.answer(kind, REQUEST_ID)) == []
    suspended = firehose.answer(
        "audience_membership_change_response", REQUEST_ID, suspend_subscription=True
    )
    assert firehose_oracle["AudienceMembershipChangeResponse"](suspended) == []
    assert firehose.answer("x", "not-a-uuid")["id"] != "not-a-uuid"
    check = firehose_oracle
    assert check["ModuleRegistrationRequest"](requests.registration_request()) == []
    assert check["AudienceSubscriptionRequest"](requests.subscription_request(5, "A")) == []
    assert check["AudienceMembershipChangeRequest"](three_profiles_two_audiences()) == []
    assert check["AudienceMembershipChangeRequest"](requests.membership_request(None)) == []


def test_connect_inbound_derives_a_reference_only_when_none_is_given() -> None:
    body = {"identityValue": "2222", "triggers": [{"reference": "WELCOME5000"}]}
    raw = orjson.dumps({"type": "services/trigger", "body": body})
    first = connect.reward_request(raw, "c-1", at=AT)
    again = connect.reward_request(raw, "c-1", at=AT)
    assert first == again and first.reference.startswith("in-")
    assert (first.identity_value, first.triggers) == ("2222", ("WELCOME5000",))
    given = {**body, "walletTransaction": {"reference": "welcome-0001"}}
    raw = orjson.dumps({"type": "services/trigger", "body": given})
    assert connect.reward_request(raw, "c-1", at=AT).reference == "welcome-0001"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"type": "services/trigger", "body": {"triggers": [{"reference": "P"}]}},
            [{"path": "body.identityValue", "message": "Field required"}],
        ),
        (
            {"type": "services/trigger", "body": {"identityValue": "1", "triggers": []}},
            [
                {
                    "path": "body.triggers",
                    "message": "List should have at least 1 item after validation, not 0",
                }
            ],
        ),
        (
            {"type": "other", "body": {"identityValue": "1", "triggers": [{"reference": "P"}]}},
            [{"path": "type", "message": "Input should be 'services/trigger'"}],
        ),
    ],
)
def test_connect_inbound_validation_errors_are_connects_shape(
    body: dict[str, object], errors: list[dict[str, str]]
) -> None:
    with pytest.raises(ValidationError) as caught:
        connect.reward_request(orjson.dumps(body), "c-1")
    assert connect.validation_errors(caught.value) == errors
