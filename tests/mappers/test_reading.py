# ruff: noqa: E501  (fixture data reads better on one line)
"""Tolerant reading and dead letters."""

from __future__ import annotations

import orjson
import pytest

from mappers import (
    Mapper,
    MappingOptions,
    Notification,
    Rejection,
    RejectReason,
    parse,
    process,
)
from mappers.batch import MAX_VALUE, Limits
from mappers.reading import decode_json, object_type
from testkit.builders import WALLET, notification, op, raw, transaction
from testkit.cases import settle, spend

OPTIONS = MappingOptions()


@pytest.mark.parametrize(
    "data,kind,detail",
    [
        (b"nope", "not_json", "invalid literal, expected 'null': line 1 column 1 (char 0)"),
        (b"[1, 2]", "not_object", "the notification is a JSON array"),
        (b'{"headers": {}}', "no_event_name", "headers.eventName is missing or empty"),
        (b'{"headers": "x"}', "no_event_name", "headers.eventName is missing or empty"),
    ],
)
def test_parse_rejections(data: bytes, kind: str, detail: str) -> None:
    result = parse(data)
    assert result == Rejection(RejectReason(kind), detail)
    assert result.reason == f"{kind}: {detail}"  # type: ignore[union-attr]


def test_notification_fields_and_aliases() -> None:
    doc, _ = settle()
    doc["atomicOperations"] = [
        {**o, "objectType": "WALLET_TRANSACTION_ENTITY"} for o in doc["atomicOperations"][:1]
    ]
    n = parse(raw(doc))
    assert isinstance(n, Notification)
    assert (n.event_name, n.event_id, n.event_date, n.wallet_id) == (
        "POSCONNECT.WALLET.SETTLE", "evt-1", "2025-03-01T10:00:00.000000", WALLET,
    )  # fmt: skip
    assert n.ops[0][0] == "walletTransactionEntity"
    assert object_type("WALLET_ACCOUNT_TRANSACTION_ENTITY") == "walletAccountTransactionEntity"


@pytest.mark.parametrize(
    "body,expected",
    [
        ('{"a": 1}', {"a": 1}),
        (orjson.dumps('{"a": 1}').decode(), {"a": 1}),
        ({"a": 1}, {"a": 1}),
        (None, None),
        ("not json", None),
        ("[1]", None),
    ],
)
def test_bodies(body: object, expected: object) -> None:
    assert decode_json(body) == expected


def test_wallet_from_resource_and_missing_enrichment() -> None:
    doc = notification(
        "WALLET.ACCOUNT.CREATE.SCHEME", [], resource="/wallet/123456/scheme/1/account"
    )
    doc["enrichmentData"] = []
    n = parse(raw(doc))
    assert isinstance(n, Notification) and n.wallet_id == "123456"
    outcome = process(n, None, OPTIONS)
    assert outcome.record is not None
    assert outcome.record["batch"]["user_identities"] == {"customer_id": "123456"}


def test_open_prefers_the_live_transaction_wallet() -> None:
    doc = notification(
        "POSCONNECT.WALLET.OPEN",
        [
            op("walletTransactionEntity", "DELETE", transaction("T-0", "SETTLE", "DELETED", "X_DELETED_1", wallet="111")),
            op("walletTransactionEntity", "CREATE", transaction("T-9", "SETTLE", "ACTIVE", "R-9")),
        ],
    )  # fmt: skip
    n = parse(raw(doc))
    assert isinstance(n, Notification) and n.wallet_id == WALLET
    outcome = process(n, None, OPTIONS)
    assert outcome.record is None and outcome.counters == {"unmapped:POSCONNECT.WALLET.OPEN": 1}
    assert outcome.state is not None and outcome.state.transactions == {"T-9": "R-9"}


def test_missing_operation_and_invalid_headers() -> None:
    doc = notification(
        "POSCONNECT.WALLET.SETTLE", [op("walletEntity", "READ", {"walletId": WALLET})]
    )
    outcome = process(parse(raw(doc)), None, OPTIONS)  # type: ignore[arg-type]
    assert outcome.rejection == Rejection(
        RejectReason.MISSING_OPERATION,
        "POSCONNECT.WALLET.SETTLE: no walletTransactionEntity SETTLE/SETTLED with basket contents",
    )
    doc, _ = spend()
    doc["headers"]["eventDate"] = "yesterday"
    outcome = process(parse(raw(doc)), None, OPTIONS)  # type: ignore[arg-type]
    assert outcome.rejection == Rejection(
        RejectReason.INVALID_NOTIFICATION, "headers.eventDate is not an ISO date: 'yesterday'"
    )
    del doc["headers"]["eesEventId"]
    outcome = process(parse(raw(doc)), None, OPTIONS)  # type: ignore[arg-type]
    assert outcome.rejection == Rejection(
        RejectReason.INVALID_NOTIFICATION, "headers.eesEventId is missing"
    )


def test_unknown_event_without_wallet_is_counted_not_dead_lettered() -> None:
    outcome = Mapper(OPTIONS).map_bytes(b'{"headers": {"eventName": "SOMETHING.NEW"}}')
    assert (outcome.record, outcome.rejection, outcome.counters) == (
        None, None, {"unmapped:SOMETHING.NEW": 1},
    )  # fmt: skip


def test_long_values_are_truncated_and_counted() -> None:
    doc, _ = spend()
    doc["request"]["body"] = orjson.dumps({"reference": "R" * 5000}).decode()
    outcome = process(parse(raw(doc)), None, OPTIONS)  # type: ignore[arg-type]
    assert outcome.truncated == 1
    value = outcome.record["batch"]["events"][0]["data"]["custom_attributes"]["reference"]  # type: ignore[index]
    assert value == "R" * MAX_VALUE
    limits = Limits()
    many = {f"a{i}": "v" for i in range(103)}
    assert len(limits.attributes(many, 100)) == 100 and limits.truncated == 3


def test_process_never_raises_on_a_broken_notification() -> None:
    n = parse(raw(notification("POSCONNECT.WALLET.SETTLE", [])))
    assert isinstance(n, Notification)
    n.ops = None  # type: ignore[assignment]
    outcome = process(n, None, OPTIONS)
    assert outcome.rejection is not None and outcome.rejection.kind == RejectReason.MAPPING_ERROR
    assert outcome.rejection.detail.startswith("TypeError: ")


def test_strict_mode_reraises_what_a_mapper_raises() -> None:
    n = parse(raw(notification("POSCONNECT.WALLET.SETTLE", [])))
    assert isinstance(n, Notification)
    n.ops = None  # type: ignore[assignment]
    with pytest.raises(TypeError):
        process(n, None, MappingOptions(strict=True))


def test_options() -> None:
    options = MappingOptions(mparticle_identity_type="otherid2", environment="production")
    assert options.mparticle_identity_type == "other_id_2"
    with pytest.raises(ValueError, match="environment"):
        MappingOptions(environment="staging")
    from config.settings import Settings

    settings = Settings(
        identity_type="mobile", mparticle_wallet_id_type="customerid", currency="jpy"
    )  # type: ignore[call-arg]
    built = MappingOptions.from_settings(settings)
    assert (built.identity_type, built.mparticle_wallet_id_type, built.currency, built.environment) == (
        "MOBILE", "customer_id", "JPY", "development",
    )  # fmt: skip
