"""`airmp check` over SASL/SCRAM: the Kafka rows through the connector's credentials (the
group's READ and the topics' metadata asked as that principal); a wrong password fails the
brokers' row, and the password is never printed."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from testkit.kafka import unique
from testkit.localkafka import LocalKafka
from testkit.processes import airmp

pytestmark = pytest.mark.integration

PASSWORD = "Sup3r-s3cret-pw-7731"


@pytest.fixture(scope="module")
def sasl_broker() -> Iterator[LocalKafka]:
    with LocalKafka(scram_users={"alice": PASSWORD}, heap="512m") as broker:
        yield broker


def sasl_env(broker: LocalKafka, password: str) -> dict[str, str]:
    app_id = unique("check-sasl")
    return {
        "AIRMP_KAFKA_BOOTSTRAP_SERVERS": broker.sasl_bootstrap,
        "AIRMP_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "AIRMP_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "AIRMP_KAFKA_SASL_USERNAME": "alice",
        "AIRMP_KAFKA_SASL_PASSWORD": password,
        "AIRMP_APP_ID": app_id,
        "AIRMP_INPUT_TOPIC": f"{app_id}-air",
        "AIRMP_TOPIC_PARTITIONS": "1",
        "AIRMP_SINK_ENABLED": "false",
        "AIRMP_EDGES_ENABLED": "false",
    }


def rows(password: str, broker: LocalKafka) -> tuple[int, dict[str, list[str]]]:
    result = airmp(["check", "--json"], sasl_env(broker, password))
    assert PASSWORD not in result.stdout + result.stderr
    body = orjson.loads(result.stdout)
    return result.returncode, {c["name"]: [c["status"], c["reason"]] for c in body["checks"]}


def test_right_credentials(sasl_broker: LocalKafka) -> None:
    status, found = rows(PASSWORD, sasl_broker)
    assert status == 0, found
    kafka = {name: row for name, row in found.items() if name.startswith(("kafka", "topic"))}
    assert kafka.pop("kafka brokers") == ["ok", "1 broker(s) answered"]
    group = next(name for name in kafka if name.startswith("kafka group"))
    assert kafka.pop(group) == ["ok", "new; may read"]
    missing = ["ok", "missing: the worker creates it (1 partitions, validated)"]
    assert list(kafka.values()) == [missing] * 6


def test_wrong_password(sasl_broker: LocalKafka) -> None:
    status, found = rows("Wr0ng-pw-didnt-work-4242", sasl_broker)
    assert status == 1
    assert found["kafka brokers"] == [
        "FAIL",
        f"Kafka at {sasl_broker.sasl_bootstrap} rejected the credentials (SASL SCRAM-SHA-512):"
        " check AIRMP_KAFKA_SASL_USERNAME and AIRMP_KAFKA_SASL_PASSWORD (and"
        " AIRMP_KAFKA_SASL_MECHANISM)",
    ]
