"""The stream processor on a real broker: same records as `airmp map`, restarts, poison input."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from testkit import journeys
from testkit.kafka import Message, consume, create_topics, end_offsets, produce
from testkit.processes import AIRMP, Worker, free_port, http_status, poll, worker_env

pytestmark = pytest.mark.integration


def expected_records(notifications: list[bytes]) -> list[bytes]:
    """What `airmp map` prints for the same input, one record per line."""
    result = subprocess.run(
        [AIRMP, "map"],
        input=b"\n".join(notifications),
        capture_output=True,
        check=True,
        env={"AIRMP_IDENTITY_TYPE": "CARD", "AIRMP_CURRENCY": "GBP", "PATH": "/usr/bin:/bin"},
    )
    return result.stdout.splitlines()


def by_wallet(lines: list[bytes]) -> dict[str, list[bytes]]:
    grouped: dict[str, list[bytes]] = defaultdict(list)
    for line in lines:
        grouped[orjson.loads(line)["air"]["wallet_id"]].append(orjson.dumps(orjson.loads(line)))
    return dict(grouped)


def records_of(messages: list[Message]) -> dict[str, list[bytes]]:
    ordered = sorted(messages, key=lambda m: (m.partition, m.offset))
    return by_wallet([m.value for m in ordered])


def all_of(expected: list[bytes]) -> Callable[[list[Message]], bool]:
    """Done when every expected record's source_request_id was read (duplicates aside)."""
    wanted = {request_id(r) for r in expected}
    return lambda found: wanted <= {request_id(m.value) for m in found}


def request_id(record: bytes) -> str:
    return str(orjson.loads(record)["batch"]["source_request_id"])


def read_records(
    bootstrap: str, env: dict[str, str], expected: list[bytes], settle: float
) -> list[Message]:
    """The records topic, read until every expected record arrived, then `settle` s more
    (to see what should not come)."""
    topic, done = env["AIRMP_RECORDS_TOPIC"], all_of(expected)
    return asyncio.run(consume(bootstrap, topic, len(expected), until=done, settle=settle))


def assert_at_least_once(
    messages: list[Message], want: dict[str, list[bytes]], before_kill: dict[int, int]
) -> None:
    """Nothing missing, nothing extra, each wallet in order. Events in flight at the kill are
    emitted again with the same source_request_id (mParticle drops the copy). Records
    written before the kill are exact; one emitted again after the restart carries the same
    events (names, ids, times), while what it takes from wallet state (profile, identities,
    SPEND.VOID's original reference) is the state at re-processing (docs/operations.md)."""
    have = records_of(messages)
    assert set(have) == set(want)
    for wallet, records in want.items():
        ids = [request_id(r) for r in have[wallet]]
        names = {request_id(r): orjson.loads(r)["air"]["event_name"] for r in records}
        assert list(dict.fromkeys(ids)) == [request_id(r) for r in records], (
            wallet,
            [names.get(i, "?") for i in dict.fromkeys(ids)],
            [names[request_id(r)] for r in records],
        )
    expected = {request_id(r): r for rs in want.values() for r in rs}
    for m in messages:
        wanted = expected[request_id(m.value)]
        if m.offset < before_kill.get(m.partition, 0):
            assert m.value == wanted
        else:
            assert identity_of(m.value) == identity_of(wanted)


def identity_of(record: bytes) -> tuple[object, ...]:
    r = orjson.loads(record)
    events = [
        (e["event_type"], e["data"].get("event_name"), e["data"]["source_message_id"])
        for e in r["batch"]["events"]
    ]
    return (r["air"], r["batch"]["source_request_id"], events)


def start_worker(env: dict[str, str], tmp: Path, name: str) -> Worker:
    return Worker(env=env, log_path=tmp / f"{name}.log").start()


def records_from_worker(
    bootstrap: str,
    env: dict[str, str],
    tmp: Path,
    name: str,
    expected: list[bytes],
    settle: float = 2,
) -> list[Message]:
    """Run a worker until every expected record is on the records topic; stop it cleanly."""
    worker = start_worker(env, tmp, name)
    try:
        return read_records(bootstrap, env, expected, settle)
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]


def keyed(notifications: list[bytes]) -> list[tuple[bytes | None, bytes]]:
    """Keys that keep each wallet in one partition (so Kafka keeps its order), like a
    producer keying by card number, but are not the walletId: the processor re-keys."""
    return [(journeys.producer_key(n), n) for n in notifications]


def by_wallet_id(notifications: list[bytes]) -> list[tuple[bytes | None, bytes]]:
    """Keyed by their own walletId, as the AIR webhook edge produces them."""
    return [(journeys.wallet_of(n).encode(), n) for n in notifications]


@pytest.fixture
def env(kafka_bootstrap: str, tmp_path: Path) -> dict[str, str]:
    # The sink has its own tests; here the worker stops at the records topic.
    return worker_env(kafka_bootstrap, tmp_path, AIRMP_SINK_ENABLED="false")


def test_thin_path_matches_airmp_map(
    kafka_bootstrap: str, env: dict[str, str], tmp_path: Path
) -> None:
    notifications = journeys.build(wallets=4, seed=1)
    expected = expected_records(notifications)
    assert len(expected) > 20
    asyncio.run(produce(kafka_bootstrap, env["AIRMP_INPUT_TOPIC"], keyed(notifications)))
    got = records_from_worker(kafka_bootstrap, env, tmp_path, "w1", expected)
    assert records_of(got) == by_wallet(expected)
    for message in got:
        assert message.key == orjson.loads(message.value)["air"]["wallet_id"].encode()


def test_input_keyed_by_wallet_is_mapped_where_it_lands(
    kafka_bootstrap: str, env: dict[str, str], tmp_path: Path
) -> None:
    notifications = journeys.build(wallets=4, seed=3)
    expected = expected_records(notifications)
    # Created as the worker would (3 partitions): Kafka's partitioner puts each wallet's
    # notifications on the partition the by-wallet topic would give it.
    asyncio.run(create_topics(kafka_bootstrap, [env["AIRMP_INPUT_TOPIC"]], 3))
    asyncio.run(produce(kafka_bootstrap, env["AIRMP_INPUT_TOPIC"], by_wallet_id(notifications)))
    got = records_from_worker(kafka_bootstrap, env, tmp_path, "w1", expected)
    assert records_of(got) == by_wallet(expected)
    rekeyed = asyncio.run(end_offsets(kafka_bootstrap, f"{env['AIRMP_APP_ID']}-air-by-wallet"))
    assert rekeyed == {0: 0, 1: 0, 2: 0}  # no trip through the by-wallet topic


def test_poison_messages_go_to_dead_letters_and_work_goes_on(
    kafka_bootstrap: str, env: dict[str, str], tmp_path: Path
) -> None:
    good = journeys.build(wallets=1, seed=2)
    poison = [
        b"not json at all",
        b"[1, 2, 3]",
        b"\x00\xff" * (1024 * 1024),  # 2 MB of garbage
        orjson.dumps({"headers": {"eventName": 42}}),
        orjson.dumps({"headers": {"eventName": "TIER.MEMBERSHIP.MOVE", "eesEventId": "x"}}),
    ]
    stream = [good[0], *poison, *good[1:]]
    expected = expected_records(good)
    asyncio.run(create_topics(kafka_bootstrap, [env["AIRMP_INPUT_TOPIC"]], 3))
    asyncio.run(produce(kafka_bootstrap, env["AIRMP_INPUT_TOPIC"], [(b"k", n) for n in stream]))
    worker = start_worker(env, tmp_path, "w1")
    try:
        dead = asyncio.run(consume(kafka_bootstrap, env["AIRMP_DEAD_LETTER_TOPIC"], len(poison)))
        got = read_records(kafka_bootstrap, env, expected, 1)
    finally:
        assert worker.stop() == 0
    assert [m.value for m in sorted(dead, key=lambda m: m.offset)] == poison
    reasons = [m.headers["airmp-reason"].decode() for m in sorted(dead, key=lambda m: m.offset)]
    assert [r.split(":")[0] for r in reasons] == [
        "not_json",
        "not_object",
        "not_json",
        "no_event_name",
        "no_wallet",
    ]
    for m in dead:
        assert m.headers["airmp-source-topic"] == env["AIRMP_INPUT_TOPIC"].encode()
        assert int(m.headers["airmp-source-offset"]) >= 1
    assert records_of(got) == by_wallet(expected)


def test_sigkill_then_restart_continues_from_table_state(
    kafka_bootstrap: str, env: dict[str, str], tmp_path: Path
) -> None:
    notifications = journeys.build(wallets=6, seed=3)
    expected = expected_records(notifications)
    half = len(notifications) // 2
    topic = env["AIRMP_INPUT_TOPIC"]
    asyncio.run(create_topics(kafka_bootstrap, [topic], 3))
    asyncio.run(produce(kafka_bootstrap, topic, keyed(notifications[:half])))
    first = start_worker(env, tmp_path, "w1")
    asyncio.run(consume(kafka_bootstrap, env["AIRMP_RECORDS_TOPIC"], 5, timeout=90))
    time.sleep(1.5)  # let it commit some and keep some in flight
    first.stop(signal.SIGKILL)
    before_kill = asyncio.run(end_offsets(kafka_bootstrap, env["AIRMP_RECORDS_TOPIC"]))
    asyncio.run(produce(kafka_bootstrap, topic, keyed(notifications[half:])))
    got = records_from_worker(kafka_bootstrap, env, tmp_path, "w2", expected, settle=3)
    assert_at_least_once(got, by_wallet(expected), before_kill)


@pytest.mark.parametrize("keys", [keyed, by_wallet_id], ids=["card", "wallet"])
def test_two_workers_share_partitions(
    kafka_bootstrap: str,
    env: dict[str, str],
    tmp_path: Path,
    keys: Callable[[list[bytes]], list[tuple[bytes | None, bytes]]],
) -> None:
    notifications = journeys.build(wallets=8, seed=4)
    expected = expected_records(notifications)
    asyncio.run(create_topics(kafka_bootstrap, [env["AIRMP_INPUT_TOPIC"]], 3))
    port_b = free_port()  # not WEB_PORT + 1: another process may hold it
    a = start_worker(env, tmp_path, "a")
    b = start_worker({**env, "AIRMP_WEB_PORT": str(port_b)}, tmp_path, "b")
    try:
        # Both in the group before the data arrives: a rebalance under way re-processes what
        # the worker giving a partition up had not committed (duplicates, same ids).
        urls = [f"http://127.0.0.1:{port}/readyz" for port in (env["AIRMP_WEB_PORT"], port_b)]
        assert poll(lambda: all(http_status(url) == 200 for url in urls), timeout=120)
        asyncio.run(produce(kafka_bootstrap, env["AIRMP_INPUT_TOPIC"], keys(notifications)))
        got = read_records(kafka_bootstrap, env, expected, 2)
    finally:
        assert a.stop() == 0
        assert b.stop() == 0
    # Both were ready before the data came: /readyz says 503 without assigned partitions.
    assert records_of(got) == by_wallet(expected)
    rekeyed = asyncio.run(end_offsets(kafka_bootstrap, f"{env['AIRMP_APP_ID']}-air-by-wallet"))
    if keys is by_wallet_id:
        # Mapped where they landed on both workers, the group's leader and the other one.
        assert rekeyed == {0: 0, 1: 0, 2: 0}
    else:
        assert sum(rekeyed.values()) == len(notifications)
