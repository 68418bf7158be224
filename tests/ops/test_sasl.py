"""SASL/SCRAM through the connector's settings: right credentials work, wrong ones give one
line naming the settings to check, and the password is never printed."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.kafka import unique
from testkit.localkafka import LocalKafka
from testkit.processes import AIRMP, ROOT, airmp, clean_env

pytestmark = pytest.mark.integration

PASSWORD = "Sup3r-s3cret-pw-7731"
WRONG = "Wr0ng-pw-didnt-work-4242"


@pytest.fixture(scope="module")
def sasl_broker() -> Iterator[LocalKafka]:
    with LocalKafka(scram_users={"alice": PASSWORD}, heap="512m") as broker:
        yield broker


def sasl_env(broker: LocalKafka, user: str, password: str) -> dict[str, str]:
    app_id = unique("sasl")
    return {
        "AIRMP_KAFKA_BOOTSTRAP_SERVERS": broker.sasl_bootstrap,
        "AIRMP_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "AIRMP_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "AIRMP_KAFKA_SASL_USERNAME": user,
        "AIRMP_KAFKA_SASL_PASSWORD": password,
        "AIRMP_APP_ID": app_id,
        "AIRMP_INPUT_TOPIC": f"{app_id}-air",
        "AIRMP_RECORDS_TOPIC": f"{app_id}-records",
        "AIRMP_DEAD_LETTER_TOPIC": f"{app_id}-dlq",
        "AIRMP_TOPIC_PARTITIONS": "1",
        "AIRMP_STORE": "memory://",
        "AIRMP_SINK_ENABLED": "false",
    }


def test_right_credentials(sasl_broker: LocalKafka) -> None:
    result = airmp(["lag", "--json"], sasl_env(sasl_broker, "alice", PASSWORD))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '{"partitions":[],"total_lag":0}'
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize(("user", "password"), [("alice", WRONG), ("mallory", PASSWORD)])
def test_wrong_credentials_name_the_settings(
    sasl_broker: LocalKafka, user: str, password: str
) -> None:
    result = airmp(["lag"], sasl_env(sasl_broker, user, password))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"airmp lag: Kafka at {sasl_broker.sasl_bootstrap} rejected the credentials "
        "(SASL SCRAM-SHA-512): check AIRMP_KAFKA_SASL_USERNAME and AIRMP_KAFKA_SASL_PASSWORD "
        "(and AIRMP_KAFKA_SASL_MECHANISM)\n"
    )
    assert password not in result.stderr


def test_worker_start_up_with_wrong_password(sasl_broker: LocalKafka, tmp_path: Path) -> None:
    env = sasl_env(sasl_broker, "alice", WRONG)
    result = subprocess.run(
        [AIRMP, "worker"],
        env=clean_env(**env, AIRMP_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=90,
        cwd=str(ROOT),
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"airmp worker: Kafka at {sasl_broker.sasl_bootstrap} rejected the credentials "
        "(SASL SCRAM-SHA-512): check AIRMP_KAFKA_SASL_USERNAME and AIRMP_KAFKA_SASL_PASSWORD "
        "(and AIRMP_KAFKA_SASL_MECHANISM)"
    ]
    assert WRONG not in result.stdout + result.stderr
