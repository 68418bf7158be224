"""`airmp check` against the local stack (a real broker, `airmp mock-mparticle`,
`airmp mock-air`): every row passes; a wrong secret, an unreachable broker or a missing topic
fails exactly its row (exit 1); nothing is created, and no secret is printed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from testkit.kafka import create_topics, unique
from testkit.processes import Air, Endpoint, airmp, free_port, worker_env

pytestmark = pytest.mark.integration

TOKENS = {
    "AIRMP_AIR_WEBHOOK_TOKEN": "webhook-token-7731",
    "AIRMP_MPARTICLE_FIREHOSE_TOKEN": "firehose-token-7731",
    "AIRMP_EXTERNAL_KEY": "external-key-7731",
    "AIRMP_CONNECTOR_ID": "connector-1",
}


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Endpoint, Air]]:
    tmp = tmp_path_factory.mktemp("check")
    endpoint = Endpoint(log_path=tmp / "mparticle.log").start()
    air = Air(log_path=tmp / "air.log").start()
    yield endpoint, air
    endpoint.stop()
    air.stop()


def stack_env(
    bootstrap: str, services: tuple[Endpoint, Air], tmp: Path, **overrides: str
) -> dict[str, str]:
    endpoint, air = services
    env = {**worker_env(bootstrap, tmp), **endpoint.env(), **air.env(), **TOKENS}
    env.update(overrides)
    return env


def topics_of(env: dict[str, str]) -> list[str]:
    app = env["AIRMP_APP_ID"]
    return [
        env["AIRMP_INPUT_TOPIC"],
        f"{app}-air-by-wallet",
        env["AIRMP_RECORDS_TOPIC"],
        env["AIRMP_DEAD_LETTER_TOPIC"],
        env["AIRMP_REWARD_TOPIC"],
        env["AIRMP_AUDIENCE_TOPIC"],
    ]


def check(env: dict[str, str]) -> tuple[int, dict[str, tuple[str, str]]]:
    """Exit status, and each row's status and reason by name (in the order printed)."""
    result = airmp(["check", "--json"], env)
    assert result.stderr == ""
    for secret in (*TOKENS.values(), "it-secret", "it-air-secret"):
        assert secret not in result.stdout
    body: dict[str, Any] = orjson.loads(result.stdout)
    assert body["ok"] is (result.returncode == 0)
    return result.returncode, {c["name"]: (c["status"], c["reason"]) for c in body["checks"]}


def passing_rows(env: dict[str, str], kafka: dict[str, tuple[str, str]]) -> dict[str, Any]:
    token = ("ok", "set, 8 characters or more")
    return {
        "settings": ("ok", f"valid; {len(env)} AIRMP_ variables set"),
        "kafka brokers": ("ok", "1 broker(s) answered"),
        f"kafka group {env['AIRMP_APP_ID']}": ("ok", "new; may read"),
        **kafka,
        "mparticle credentials": ("ok", "accepted (400 for a batch it cannot take, as asked)"),
        "air credentials": (
            "ok",
            "signature accepted (404 for a wallet that does not exist, as asked)",
        ),
        "edges AIRMP_AIR_WEBHOOK_TOKEN": token,
        "edges AIRMP_MPARTICLE_FIREHOSE_TOKEN": token,
        "edges AIRMP_EXTERNAL_KEY": token,
    }


def existing(env: dict[str, str]) -> dict[str, tuple[str, str]]:
    """The topic rows once the topics exist with AIRMP_TOPIC_PARTITIONS (3) partitions."""
    dead_letters = env["AIRMP_DEAD_LETTER_TOPIC"]
    return {
        f"topic {t}": (
            "ok",
            "3 partitions; may write" if t == dead_letters else "3 partitions; may read and write",
        )
        for t in topics_of(env)
    }


@pytest.fixture(scope="module")
def ready_env(
    kafka_bootstrap: str, services: tuple[Endpoint, Air], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    env = stack_env(kafka_bootstrap, services, tmp_path_factory.mktemp("ready"))
    asyncio.run(create_topics(kafka_bootstrap, topics_of(env), 3))
    return env


def test_local_stack_every_row_passes(ready_env: dict[str, str]) -> None:
    status, rows = check(ready_env)
    assert rows == passing_rows(ready_env, existing(ready_env))
    assert list(rows) == list(passing_rows(ready_env, existing(ready_env)))
    assert status == 0


def test_table_says_the_same(ready_env: dict[str, str]) -> None:
    result = airmp(["check"], ready_env)
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "REASON"]
    assert lines[-1] == "14 checks, 0 failed"
    assert len(lines) == 16


def test_wrong_mparticle_secret(ready_env: dict[str, str]) -> None:
    status, rows = check({**ready_env, "AIRMP_MPARTICLE_API_SECRET": "not-the-secret"})
    assert status == 1
    failed = {name: row for name, row in rows.items() if row[0] != "ok"}
    assert failed == {
        "mparticle credentials": (
            "FAIL",
            "mParticle answered 401: check AIRMP_MPARTICLE_API_KEY and AIRMP_MPARTICLE_API_SECRET",
        )
    }


def test_wrong_air_secret(ready_env: dict[str, str]) -> None:
    status, rows = check({**ready_env, "AIRMP_AIR_CLIENT_SECRET": "not-the-air-secret"})
    assert status == 1
    failed = {name: row for name, row in rows.items() if row[0] != "ok"}
    assert failed == {
        "air credentials": (
            "FAIL",
            "AIR answered 401: check AIRMP_AIR_CLIENT_ID and AIRMP_AIR_CLIENT_SECRET",
        )
    }


def test_unreachable_broker(ready_env: dict[str, str]) -> None:
    address = f"127.0.0.1:{free_port()}"
    status, rows = check({**ready_env, "AIRMP_KAFKA_BOOTSTRAP_SERVERS": address})
    assert status == 1
    failed = {name: row for name, row in rows.items() if row[0] == "FAIL"}
    assert failed == {
        "kafka brokers": (
            "FAIL",
            f"cannot reach Kafka at {address} (ConnectionRefusedError: [Errno 111] Connect call"
            f" failed ('127.0.0.1', {address.split(':')[1]})): check"
            " AIRMP_KAFKA_BOOTSTRAP_SERVERS and AIRMP_KAFKA_SECURITY_PROTOCOL",
        )
    }
    skipped = {name for name, row in rows.items() if row == ("skip", "Kafka did not answer")}
    assert skipped == {f"kafka group {ready_env['AIRMP_APP_ID']}"} | {
        f"topic {t}" for t in topics_of(ready_env)
    }


def test_missing_topic_with_auto_creation_off(ready_env: dict[str, str]) -> None:
    records = unique("check-missing")
    env = {**ready_env, "AIRMP_RECORDS_TOPIC": records, "AIRMP_TOPIC_AUTO_CREATE": "false"}
    status, rows = check(env)
    assert status == 1
    failed = {name: row for name, row in rows.items() if row[0] != "ok"}
    assert failed == {
        f"topic {records}": (
            "FAIL",
            "missing and AIRMP_TOPIC_AUTO_CREATE=false: create it (3 partitions)",
        )
    }


def test_worker_with_auto_creation_off_stops_on_a_missing_topic(
    ready_env: dict[str, str],
) -> None:
    records = unique("check-missing")
    env = {**ready_env, "AIRMP_RECORDS_TOPIC": records, "AIRMP_TOPIC_AUTO_CREATE": "false"}
    result = airmp(["worker"], env)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"airmp worker: missing topics {records} and AIRMP_TOPIC_AUTO_CREATE is false: create"
        " them (3 partitions) or set AIRMP_TOPIC_AUTO_CREATE=true"
    )


def test_missing_topics_are_validated_not_created(
    kafka_bootstrap: str, services: tuple[Endpoint, Air], tmp_path: Path
) -> None:
    env = stack_env(kafka_bootstrap, services, tmp_path)
    missing = ("ok", "missing: the worker creates it (3 partitions, validated)")
    status, rows = check(env)
    assert rows == passing_rows(env, {f"topic {t}": missing for t in topics_of(env)})
    assert status == 0
    status, rows = check(env)  # asked again: still missing, so the first created nothing
    assert rows[f"topic {env['AIRMP_INPUT_TOPIC']}"] == missing
