"""`airmp check`'s rows and renderings, without any network: exact output."""

from __future__ import annotations

import orjson
import pytest
from pydantic import SecretStr

from config import Settings, load_settings
from ops.check.kafka_facts import MISSING, GroupFacts, KafkaFacts, TopicFacts
from ops.check.kafka_rows import group_row, kafka_rows, topic_row
from ops.check.protocol import NOT_TOLD, Operation
from ops.check.rows import Row, Status, exit_status, fail, ok, render_json, render_table, skip
from ops.check.services import air_row, mparticle_row
from ops.check.settings_rows import edge_rows, settings_row
from sinks.air import AirCredentialsRejected, AirOutcome, AirResult
from streams.kafka import BrokerError

ROWS = [
    ok("settings", "valid; 3 AIRMP_ variables set"),
    fail("mparticle credentials", "mParticle answered 401: check AIRMP_MPARTICLE_API_KEY"),
    skip("air credentials", "AIR not configured"),
]
READ_WRITE = (1 << Operation.READ) | (1 << Operation.WRITE) | (1 << Operation.DESCRIBE)


def test_table() -> None:
    assert render_table(ROWS) == (
        "CHECK                  STATUS  REASON\n"
        "settings               ok      valid; 3 AIRMP_ variables set\n"
        "mparticle credentials  FAIL    mParticle answered 401: check AIRMP_MPARTICLE_API_KEY\n"
        "air credentials        skip    AIR not configured\n"
        "3 checks, 1 failed"
    )


def test_json() -> None:
    assert render_json(ROWS) == (
        '{"ok":false,"checks":['
        '{"name":"settings","status":"ok","reason":"valid; 3 AIRMP_ variables set"},'
        '{"name":"mparticle credentials","status":"FAIL",'
        '"reason":"mParticle answered 401: check AIRMP_MPARTICLE_API_KEY"},'
        '{"name":"air credentials","status":"skip","reason":"AIR not configured"}]}'
    )
    assert orjson.loads(render_json(ROWS[:1]))["ok"] is True


def test_exit_status_counts_failures_only() -> None:
    assert exit_status(ROWS) == 1
    assert exit_status([ROWS[0], ROWS[2]]) == 0


def settings(**overrides: object) -> Settings:
    return load_settings(app_id="app", topic_partitions=3, **overrides)


def topic(name: str, partitions: int = 3, operations: int = READ_WRITE) -> TopicFacts:
    return TopicFacts(name, None, partitions, operations)


@pytest.mark.parametrize(
    ("facts", "row"),
    [
        (
            topic("app-air-by-wallet"),
            ok("topic app-air-by-wallet", "3 partitions; may read and write"),
        ),
        (
            topic("mparticle-records", 6),
            fail(
                "topic mparticle-records",
                "6 partitions, AIRMP_TOPIC_PARTITIONS=3: its table's changelog has 3"
                " (Faust: PartitionsMismatch)",
            ),
        ),
        (
            topic("air-notifications", 6),
            ok(
                "topic air-notifications",
                "6 partitions, AIRMP_TOPIC_PARTITIONS=3 (every notification goes through the"
                " by-wallet topic); may read and write",
            ),
        ),
        (
            topic("air-dead-letters", 1),
            ok("topic air-dead-letters", "1 partitions, AIRMP_TOPIC_PARTITIONS=3; may write"),
        ),
        (
            topic("mparticle-records", operations=1 << Operation.DESCRIBE),
            fail("topic mparticle-records", "3 partitions; READ and WRITE not granted"),
        ),
        (
            topic("air-notifications", operations=1 << Operation.READ),
            fail("topic air-notifications", "3 partitions; WRITE not granted"),
        ),
        (
            topic("air-notifications", operations=NOT_TOLD),
            ok("topic air-notifications", "3 partitions; permissions not told by the broker"),
        ),
        (
            TopicFacts("air-notifications", "TopicAuthorizationFailedError"),
            fail(
                "topic air-notifications",
                "TopicAuthorizationFailedError: grant DESCRIBE on topic air-notifications",
            ),
        ),
        (
            TopicFacts("air-notifications", MISSING),
            ok(
                "topic air-notifications",
                "missing: the worker creates it (3 partitions, validated)",
            ),
        ),
        (
            TopicFacts("air-notifications", MISSING, creation="InvalidReplicationFactorError"),
            fail(
                "topic air-notifications",
                "missing, and the broker would not create it: InvalidReplicationFactorError",
            ),
        ),
    ],
)
def test_topic_rows(facts: TopicFacts, row: Row) -> None:
    assert topic_row(settings(), facts) == row


def test_input_topic_needs_no_write_without_the_edges() -> None:
    row = topic_row(
        settings(edges_enabled=False), topic("air-notifications", operations=8 | 1 << 3)
    )
    assert row == ok("topic air-notifications", "3 partitions; may read")


def test_missing_topic_with_auto_creation_off() -> None:
    row = topic_row(settings(topic_auto_create=False), TopicFacts("air-notifications", MISSING))
    assert row == fail(
        "topic air-notifications",
        "missing and AIRMP_TOPIC_AUTO_CREATE=false: create it (3 partitions)",
    )


@pytest.mark.parametrize(
    ("facts", "row"),
    [
        (GroupFacts("app", None, "Dead"), ok("kafka group app", "new; may read")),
        (
            GroupFacts("app", None, "Stable", 2),
            ok("kafka group app", "Stable, 2 members; may read"),
        ),
        (
            GroupFacts("app", None, "Empty", read_error="GroupAuthorizationFailedError"),
            fail("kafka group app", "Empty, 0 members; READ not granted on group app"),
        ),
        (
            GroupFacts("app", "GroupAuthorizationFailedError"),
            fail("kafka group app", "GroupAuthorizationFailedError: grant READ on group app"),
        ),
    ],
)
def test_group_rows(facts: GroupFacts, row: Row) -> None:
    assert group_row(settings(), facts) == row


def test_unreachable_kafka_skips_the_rest() -> None:
    rows = kafka_rows(settings(), BrokerError("cannot reach Kafka at 127.0.0.1:9092"))
    assert rows[0] == fail("kafka brokers", "cannot reach Kafka at 127.0.0.1:9092")
    assert {r.status for r in rows[1:]} == {Status.skip}
    assert [r.name for r in rows[1:3]] == ["kafka group app", "topic air-notifications"]
    assert len(rows) == 8


def test_kafka_rows_in_order() -> None:
    facts = KafkaFacts(2, [topic("air-notifications")], GroupFacts("app", None, "Dead"))
    assert kafka_rows(settings(), facts) == [
        ok("kafka brokers", "2 broker(s) answered"),
        ok("kafka group app", "new; may read"),
        ok("topic air-notifications", "3 partitions; may read and write"),
    ]


def test_settings_row_names_unknown_variables() -> None:
    environ = {
        "AIRMP_APP_ID": "a",
        "AIRMP_SINK_SHUTDOWN_GRACE_SECONDS": "5",  # the old name, still read
        "AIRMP_CACHE_DIR": "/tmp",  # the launcher's
        "AIRMP_MPARTICLE_API_SECRETT": "x",
        "AIRMP_TOPIC_PARTITION": "3",
        "HOME": "/root",
    }
    assert settings_row(environ) == fail(
        "settings", "not settings (a typo?): AIRMP_MPARTICLE_API_SECRETT, AIRMP_TOPIC_PARTITION"
    )
    assert settings_row({"AIRMP_APP_ID": "a", "HOME": "/"}) == ok(
        "settings", "valid; 1 AIRMP_ variables set"
    )


def test_edge_rows() -> None:
    rows = edge_rows(
        settings(
            air_webhook_token=SecretStr("x7q2z-webhook"),
            mparticle_firehose_token=SecretStr(""),
            external_key=SecretStr("long-enough-key"),
        )
    )
    assert rows == [
        ok("edges AIRMP_AIR_WEBHOOK_TOKEN", "set, 8 characters or more"),
        fail(
            "edges AIRMP_MPARTICLE_FIREHOSE_TOKEN",
            "unset: the Firehose edge takes membership changes from anyone",
        ),
        fail(
            "edges AIRMP_EXTERNAL_KEY",
            "AIRMP_CONNECTOR_ID unset: /in/mparticle and Firehose membership changes are"
            " refused (403)",
        ),
    ]
    assert "x7q2z-webhook" not in render_table(rows)
    off = edge_rows(settings(edges_enabled=False))
    assert {(r.status, r.reason) for r in off} == {
        (Status.skip, "edges off (AIRMP_EDGES_ENABLED=false)")
    }


@pytest.mark.parametrize(
    ("status", "row"),
    [
        (400, ok("mparticle credentials", "accepted (400 for a batch it cannot take, as asked)")),
        (202, ok("mparticle credentials", "accepted (202, even for a batch with no identity)")),
        (
            403,
            fail(
                "mparticle credentials",
                "mParticle answered 403: check AIRMP_MPARTICLE_API_KEY and"
                " AIRMP_MPARTICLE_API_SECRET",
            ),
        ),
        (503, fail("mparticle credentials", "mParticle answered 503: cannot tell, try again")),
    ],
)
def test_mparticle_rows(status: int, row: Row) -> None:
    assert mparticle_row(status) == row


def test_mparticle_without_answer() -> None:
    assert mparticle_row(None, "ConnectError") == fail(
        "mparticle credentials",
        "no answer from mParticle (ConnectError): check AIRMP_MPARTICLE_API_ENDPOINT",
    )


@pytest.mark.parametrize(
    ("result", "row"),
    [
        (
            AirResult(AirOutcome.PERMANENT, 404, "404"),
            ok(
                "air credentials",
                "signature accepted (404 for a wallet that does not exist, as asked)",
            ),
        ),
        (
            AirCredentialsRejected(403, None, None, ""),
            fail(
                "air credentials",
                "AIR answered 403: check AIRMP_AIR_CLIENT_ID and AIRMP_AIR_CLIENT_SECRET",
            ),
        ),
        (
            AirResult(AirOutcome.TRANSIENT, None, "timeout"),
            fail("air credentials", "no answer from AIR (timeout): check AIRMP_AIR_WALLET_URL"),
        ),
        (
            AirResult(AirOutcome.PERMANENT, 400, "400", error_code="BAD_REQUEST"),
            fail("air credentials", "AIR answered 400 BAD_REQUEST: cannot tell"),
        ),
    ],
)
def test_air_rows(result: AirResult | AirCredentialsRejected, row: Row) -> None:
    assert air_row(result) == row
