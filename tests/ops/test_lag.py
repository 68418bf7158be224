"""`airmp lag` on a real broker, with a backlog made by hand: exact lags and exit statuses."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiokafka import TopicPartition

from testkit.kafka import commit, create_topics, produce, unique
from testkit.processes import airmp, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def backlog(kafka_bootstrap: str) -> dict[str, str]:
    """Input topic: 10 messages on partition 0, 7 on partition 1; the group committed 4 and 7.
    The records topic: 3 messages, nothing committed (so the whole of it is lag)."""
    app_id = unique("lag")
    topic, records = f"{app_id}-air", f"{app_id}-records"
    asyncio.run(create_topics(kafka_bootstrap, [topic], 2))
    asyncio.run(create_topics(kafka_bootstrap, [records], 1))
    items = [(None, b"a%d" % i) for i in range(10)] + [(None, b"b%d" % i) for i in range(7)]
    asyncio.run(produce(kafka_bootstrap, topic, items, partitions=[0] * 10 + [1] * 7))
    asyncio.run(
        produce(
            kafka_bootstrap, records, [(None, b"r%d" % i) for i in range(3)], partitions=[0] * 3
        )
    )
    asyncio.run(
        commit(kafka_bootstrap, app_id, {TopicPartition(topic, 0): 4, TopicPartition(topic, 1): 7})
    )
    return {
        "AIRMP_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "AIRMP_APP_ID": app_id,
        "AIRMP_INPUT_TOPIC": topic,
        "AIRMP_RECORDS_TOPIC": records,
    }


def test_json_shows_exact_committed_end_and_lag(backlog: dict[str, str]) -> None:
    result = airmp(["lag", "--json"], backlog)
    assert result.returncode == 0, result.stderr
    body = orjson.loads(result.stdout)
    group, topic, records = (
        backlog["AIRMP_APP_ID"],
        backlog["AIRMP_INPUT_TOPIC"],
        backlog["AIRMP_RECORDS_TOPIC"],
    )
    assert body == {
        "partitions": [
            {"group": group, "topic": topic, "partition": 0, "committed": 4, "end": 10, "lag": 6},
            {"group": group, "topic": topic, "partition": 1, "committed": 7, "end": 7, "lag": 0},
            {
                "group": group,
                "topic": records,
                "partition": 0,
                "committed": None,
                "end": 3,
                "lag": 3,
            },
        ],
        "total_lag": 9,
    }


def test_table(backlog: dict[str, str]) -> None:
    result = airmp(["lag"], backlog)
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    group, topic = backlog["AIRMP_APP_ID"], backlog["AIRMP_INPUT_TOPIC"]
    assert lines[0] == ["GROUP", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG"]
    assert lines[1] == [group, topic, "0", "4", "10", "6"]
    assert lines[2] == [group, topic, "1", "7", "7", "0"]
    assert lines[3] == [group, backlog["AIRMP_RECORDS_TOPIC"], "0", "-", "3", "3"]
    assert lines[4] == ["total", "lag:", "9"]


@pytest.mark.parametrize(("max_lag", "status"), [(5, 1), (6, 0), (0, 1)])
def test_max_lag_sets_exit_status(backlog: dict[str, str], max_lag: int, status: int) -> None:
    result = airmp(["lag", "--json", "--max-lag", str(max_lag)], backlog)
    assert result.returncode == status, result.stderr


def test_other_group_shows_only_its_view(backlog: dict[str, str]) -> None:
    result = airmp(["lag", "--json", "--group", "nobody-" + backlog["AIRMP_APP_ID"]], backlog)
    assert result.returncode == 0, result.stderr
    body = orjson.loads(result.stdout)
    assert [(p["partition"], p["committed"], p["lag"]) for p in body["partitions"]] == [
        (0, None, 10),
        (1, None, 7),
        (0, None, 3),
    ]


def test_unreachable_broker_is_one_line_and_status_2() -> None:
    address = f"127.0.0.1:{free_port()}"
    result = airmp(["lag"], {"AIRMP_KAFKA_BOOTSTRAP_SERVERS": address})
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"airmp lag: cannot reach Kafka at {address}")
    assert "AIRMP_KAFKA_BOOTSTRAP_SERVERS" in lines[0]
