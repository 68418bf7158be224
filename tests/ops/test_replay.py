"""`airmp replay` on a real broker: three days of events, a worker maps them all, then a
replay from day 2 re-sends exactly the records of days 2 and 3, with the same
source_request_ids, and every replayed record carries the wallet's final profile."""

from __future__ import annotations

import asyncio
import contextlib
import re
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from testkit import journeys
from testkit.kafka import produce, unique
from testkit.processes import AIRMP, Worker, airmp, free_port

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)
PROGRESS = re.compile(r"^airmp replay: \d+/\d+ events \(\d+%\), \d+ events/s, ETA \S+$", re.M)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def _create_input(bootstrap: str, topic: str) -> None:
    """Kept forever: the test's timestamps are days old, retention must not remove them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1, topic_configs={"retention.ms": "-1"})])
    finally:
        await admin.close()


async def _records(
    bootstrap: str, topic: str, done: Callable[[list[bytes]], bool], timeout: float
) -> list[bytes]:
    """The records topic from the start, per partition in offset order, until `done`."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    found: list[tuple[int, int, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                found.extend((m.partition, m.offset, m.value or b"") for m in messages)
            if done([value for _, _, value in found]):
                break
    finally:
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()
    return [value for _, _, value in sorted(found)]


def _all_of(wanted: set[str]) -> Callable[[list[bytes]], bool]:
    return lambda found: wanted <= {_rid(orjson.loads(v)) for v in found}


def _rid(record: dict[str, Any]) -> str:
    return str(record.get("batch", {}).get("source_request_id"))


def _by_wallet(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        grouped[record["air"]["wallet_id"]].append(record)
    return dict(grouped)


@pytest.fixture(scope="module")
def first_run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three days of 6 wallets' journeys (two leave on day 3), mapped by a worker."""
    tmp = tmp_path_factory.mktemp("replay")
    app_id = unique("replay")
    env = {
        "AIRMP_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "AIRMP_APP_ID": app_id,
        "AIRMP_INPUT_TOPIC": f"{app_id}-air",
        "AIRMP_RECORDS_TOPIC": f"{app_id}-records",
        "AIRMP_DEAD_LETTER_TOPIC": f"{app_id}-dlq",
        "AIRMP_TOPIC_PARTITIONS": "3",
        "AIRMP_STORE": "memory://",
        "AIRMP_DATA_DIR": str(tmp / "data"),
        "AIRMP_WEB_PORT": str(free_port()),
        "AIRMP_SINK_ENABLED": "false",
        "AIRMP_KAFKA_SESSION_TIMEOUT_SECONDS": "8",
        "AIRMP_IDENTITY_TYPE": "CARD",
        "AIRMP_CURRENCY": "GBP",
    }
    # Day 1 starts three days ago (midnight UTC), well inside any retention.
    day1 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - 3 * DAY
    built = journeys.build(wallets=6, seed=0)
    notifications: list[bytes] = []
    stamps: list[int] = []
    day_of: dict[str, int] = {}  # eesEventId -> day (0, 1, 2) of its first delivery
    date_of: dict[str, str] = {}  # a re-delivery keeps its event's date
    for i, raw in enumerate(built):
        day = i * 3 // len(built)
        moment = day1 + day * DAY + timedelta(hours=8, minutes=i)
        doc = orjson.loads(raw)
        event_id = doc["headers"]["eesEventId"]
        day_of.setdefault(event_id, day)
        doc["headers"]["eventDate"] = date_of.setdefault(event_id, _iso(moment))
        notifications.append(orjson.dumps(doc))
        stamps.append(_ms(moment))
    assert set(day_of.values()) == {0, 1, 2}

    expected = subprocess.run(
        [AIRMP, "map"],
        input=b"\n".join(notifications),
        capture_output=True,
        check=True,
        env={"AIRMP_IDENTITY_TYPE": "CARD", "AIRMP_CURRENCY": "GBP", "PATH": "/usr/bin:/bin"},
    ).stdout.splitlines()
    wanted = {_rid(orjson.loads(line)) for line in expected}

    asyncio.run(_create_input(kafka_bootstrap, env["AIRMP_INPUT_TOPIC"]))
    items = [(journeys.producer_key(n), n) for n in notifications]
    asyncio.run(produce(kafka_bootstrap, env["AIRMP_INPUT_TOPIC"], items, timestamps_ms=stamps))
    worker = Worker(env=env, log_path=tmp / "worker.log").start()
    try:
        values = asyncio.run(
            _records(kafka_bootstrap, env["AIRMP_RECORDS_TOPIC"], _all_of(wanted), 120)
        )
        time.sleep(1.5)  # the table's changelog is written alongside; let it land
    finally:
        status = worker.stop()
    records = [orjson.loads(v) for v in values]
    assert {_rid(r) for r in records} == wanted, worker.log()[-3000:]
    assert status == 0, worker.log()[-3000:]
    return {
        "env": env,
        "records": records,
        "day_of": day_of,
        "days": [day1 + d * DAY for d in (0, 1, 2)],
    }


def test_replay_from_day_2_resends_days_2_and_3_with_the_final_profile(
    first_run: dict[str, Any], tmp_path: Path
) -> None:
    env, records, day_of = first_run["env"], first_run["records"], first_run["day_of"]
    out = tmp_path / "out.jsonl"
    day2 = first_run["days"][1].strftime("%Y-%m-%dT%H:%M:%SZ")
    result = airmp(["replay", "--from-timestamp", day2, "--dry-run", str(out)], env)
    assert result.returncode == 0, result.stderr
    assert PROGRESS.search(result.stderr), result.stderr
    assert "airmp replay: done in " in result.stderr, result.stderr

    replayed = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    original = _by_wallet(records)
    again = _by_wallet(replayed)
    later = {
        wallet: [r for r in rs if day_of[r["air"]["event_id"]] >= 1]
        for wallet, rs in original.items()
    }
    later = {wallet: rs for wallet, rs in later.items() if rs}
    # Exactly the records of days 2 and 3, each once, in each wallet's order.
    assert len(replayed) == len({_rid(r) for r in replayed})
    assert 0 < len(replayed) < len(records)
    assert set(again) == set(later)
    for wallet, rs in later.items():
        assert [_rid(r) for r in again[wallet]] == [_rid(r) for r in rs], wallet
        assert [r["air"] for r in again[wallet]] == [r["air"] for r in rs], wallet

    deleted = 0
    for wallet, rs in again.items():
        last = original[wallet][-1]["batch"]
        final = last.get("user_attributes")
        # The final profile is the one before the replay.
        assert rs[-1]["batch"].get("user_attributes") == final, wallet
        assert rs[-1]["batch"].get("deleted_user_attributes") == last.get(
            "deleted_user_attributes"
        ), wallet
        if "deleted_user_attributes" in last:
            deleted += 1
            # Deleted: no replayed record brings any attribute back.
            assert all("user_attributes" not in r["batch"] for r in rs), wallet
            continue
        assert final and final.get("tier_id") and final.get("points_balance"), wallet
        for r in rs:
            # No replayed record rolls the profile back: it carries the final one.
            assert r["batch"].get("user_attributes") == final, (wallet, r["air"])
    assert deleted >= 1  # the journeys of seed 0 have wallets that leave on day 3


def test_replay_to_the_records_topic_stops_at_to_timestamp(first_run: dict[str, Any]) -> None:
    """Without --dry-run the records go to the records topic; --to-timestamp ends the range."""
    env, records, day_of = first_run["env"], first_run["records"], first_run["day_of"]
    bootstrap, topic = env["AIRMP_KAFKA_BOOTSTRAP_SERVERS"], env["AIRMP_RECORDS_TOPIC"]
    day2, day3 = first_run["days"][1], first_run["days"][2]
    day_2 = [_rid(r) for r in records if day_of[r["air"]["event_id"]] == 1]
    assert day_2
    before = asyncio.run(_records(bootstrap, topic, lambda found: len(found) >= len(records), 30))
    # epoch ms for the start, ISO with an offset for the end: both forms are accepted
    args = ["replay", "--from-timestamp", str(_ms(day2)), "--to-timestamp", day3.isoformat()]
    result = airmp(args, env)
    assert result.returncode == 0, result.stderr
    assert f"{len(day_2)} records written to topic {topic}" in result.stderr, result.stderr
    want = len(before) + len(day_2)
    after = asyncio.run(_records(bootstrap, topic, lambda found: len(found) >= want, 30))
    assert len(after) == want
    added = Counter(_rid(orjson.loads(v)) for v in after)
    added.subtract(_rid(orjson.loads(v)) for v in before)
    # Exactly day 2's records once more, with the ids they had the first time.
    assert +added == Counter(day_2)


def test_no_range_is_one_line_and_status_2() -> None:
    result = airmp(["replay", "--dry-run", "/dev/null"], {})
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == ["airmp replay: give exactly one of --from-timestamp T and --from-offset O"]


def test_unparsable_time_is_one_line_and_status_2() -> None:
    result = airmp(["replay", "--from-timestamp", "last tuesday"], {})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--from-timestamp 'last tuesday'" in lines[0], result.stderr


def test_progress_is_throttled_and_has_rate_and_eta() -> None:
    import io

    from ops.replay.run import Progress

    now = [100.0]
    err = io.StringIO()
    progress = Progress(1000, err, clock=lambda: now[0])
    for done in range(0, 1000, 10):  # 100 updates over 2.5 s
        now[0] += 0.025
        progress.update(done)
    lines = err.getvalue().splitlines()
    assert 4 <= len(lines) <= 6  # about 2 a second
    assert lines[-1] == "airmp replay: 990/1000 events (99%), 396 events/s, ETA 0s"
    assert all(PROGRESS.match(line) for line in lines)
