"""`airmp dead-letters` on the real Kafka, the issue's scenario: five bad notifications, one
batch mParticle refuses with 400, and two notifications an older connector failed to map
are dead-lettered; `summary` counts them exactly; once the endpoint accepts again,
`redrive --stage sink` delivers the batch (twice: the same source_request_id both times);
on the newer connector the two notifications re-driven are mapped, not dropped as
duplicates, and everything `airmp map` gives for the good input has arrived.

The older connector is the same worker with a `sitecustomize` on its PYTHONPATH that makes
its mapper fail on two events: one raises (mapping_error: the wallet state is left as it
was), one misses an operation (missing_operation: the state is stored, with the event's
eesEventId remembered, the case a duplicate check would drop)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import mappers
from ops.dead_letters.letters import iso_ms
from testkit import journeys
from testkit.cases import CASES
from testkit.kafka import Message, create_topics, end_offsets, produce, read_topic
from testkit.processes import (
    Endpoint,
    Worker,
    airmp,
    by_label,
    http_status,
    poll,
    scrape,
    worker_env,
)
from tests.integration.test_pipeline import expected_records

pytestmark = pytest.mark.integration

OLD_CONNECTOR = '''\
"""The older connector of tests/ops/test_dead_letters.py: its mapper fails on two events."""
from mappers import registry
from mappers.extract import MissingOperation

RAISES = {raises!r}
MISSES = {misses!r}


def _older(function):
    def mapped(c):
        if c.n.event_id in RAISES:
            raise RuntimeError("a bug of the older connector")
        if c.n.event_id in MISSES:
            raise MissingOperation("the older rule wanted an operation that is not there")
        return function(c)

    return mapped


for _name, (_family, _function) in list(registry.REGISTRY.items()):
    registry.REGISTRY[_name] = (_family, _older(_function))
'''

BAD = [
    b"not json at all",
    b"[1, 2, 3]",
    orjson.dumps({"headers": {"eventName": 42}}),
    orjson.dumps({"headers": {"eventName": "TIER.MEMBERSHIP.MOVE", "eesEventId": "x"}}),
]


def no_event_id() -> bytes:
    doc = CASES["POSCONNECT.WALLET.SETTLE"]()[0]
    del doc["headers"]["eesEventId"]
    return orjson.dumps(doc)


def parsed(raw: bytes) -> mappers.Notification:
    n = mappers.parse(raw)
    assert not isinstance(n, mappers.Rejection)
    return n


def pick(notifications: list[bytes], wallet: str, name: str) -> bytes:
    (found,) = [
        raw
        for raw in notifications
        if parsed(raw).wallet_id == wallet and parsed(raw).event_name == name
    ]
    return found


def message_ids(records: list[bytes]) -> set[str]:
    return {
        e["data"]["source_message_id"] for r in records for e in orjson.loads(r)["batch"]["events"]
    }


def accepted_ids(view: dict[str, Any]) -> set[str]:
    return {e["data"]["source_message_id"] for b in view["batches"] for e in b["events"]}


def with_id(view: dict[str, Any], srid: str) -> list[dict[str, Any]]:
    return [b for b in view["batches"] if b["source_request_id"] == srid]


def copies(endpoint: Endpoint, srid: str, count: int) -> dict[str, Any] | None:
    """What the endpoint accepted, once it holds `count` batches with that id."""

    def enough() -> dict[str, Any] | None:
        view = endpoint.accepted()
        return view if len(with_id(view, srid)) >= count else None

    return poll(enough, 120)


def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    done = airmp(["dead-letters", *args], env)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    ep = Endpoint(log_path=tmp_path / "endpoint.log").start()
    try:
        yield ep
    finally:
        ep.stop()


def test_dead_letters_are_counted_shown_and_redriven(
    kafka_bootstrap: str, endpoint: Endpoint, tmp_path: Path
) -> None:
    good = journeys.build(wallets=2, seed=31)
    wallet_a, wallet_b = sorted({str(parsed(raw).wallet_id) for raw in good})
    expected = expected_records(good)
    refused = next(
        r
        for r in expected
        if orjson.loads(r)["air"]["wallet_id"] == wallet_a
        and orjson.loads(r)["air"]["event_name"] == "POSCONNECT.WALLET.REFUND"
    )
    srid = orjson.loads(refused)["batch"]["source_request_id"]
    raises = parsed(pick(good, wallet_b, "WALLET.ACCOUNT.UPDATE")).event_id
    misses = parsed(pick(good, wallet_b, "TIER.MEMBERSHIP.MOVE")).event_id
    broken = [r for r in expected if orjson.loads(r)["air"]["event_id"] in (raises, misses)]
    assert len(broken) == 2
    older = tmp_path / "older-connector"
    older.mkdir()
    (older / "sitecustomize.py").write_text(OLD_CONNECTOR.format(raises={raises}, misses={misses}))

    endpoint.faults(reject_source_request_ids=[srid])
    # rocksdb://, the default: the newer connector must start with the state the older one
    # left (with memory:// a restarted worker was seen to start without it, and would map
    # the notifications whatever their headers said).
    env = worker_env(
        kafka_bootstrap,
        tmp_path,
        **endpoint.env(),
        AIRMP_SINK_MERGE_USER_BATCHES="false",
        AIRMP_STORE="rocksdb://",
    )
    dlq = env["AIRMP_DEAD_LETTER_TOPIC"]
    asyncio.run(create_topics(kafka_bootstrap, [env["AIRMP_INPUT_TOPIC"]], 3))
    stream = [(journeys.producer_key(n), n) for n in good]
    stream[5:5] = [(b"bad", raw) for raw in [*BAD, no_event_id()]]
    asyncio.run(produce(kafka_bootstrap, env["AIRMP_INPUT_TOPIC"], stream))

    # The older connector: everything but the refused batch and the two it cannot map.
    first = Worker({**env, "PYTHONPATH": str(older)}, tmp_path / "older.log").start()
    delivered = message_ids([r for r in expected if r != refused and r not in broken])
    try:
        view = endpoint.wait_for_events(delivered)
        assert poll(lambda: sum(asyncio.run(end_offsets(kafka_bootstrap, dlq)).values()) >= 8, 60)
    finally:
        assert first.stop() == 0, first.log()[-3000:]
    assert accepted_ids(view) == delivered, first.log()[-3000:]
    dead = asyncio.run(read_topic(kafka_bootstrap, dlq))
    assert len(dead) == 8

    check_summary(env, dead)
    check_show(env, dead, refused)

    # The fault is removed; the newer connector runs; the sink's dead letter goes back.
    endpoint.faults(reject_source_request_ids=[])
    second = Worker(env, tmp_path / "newer.log").start()
    port = env["AIRMP_WEB_PORT"]
    try:
        assert poll(lambda: http_status(f"http://127.0.0.1:{port}/readyz") == 200, 90)
        records_end = asyncio.run(end_offsets(kafka_bootstrap, env["AIRMP_RECORDS_TOPIC"]))
        status, out, err = cli(env, "redrive", "--stage", "sink", "--dry-run")
        (letter,) = [m for m in dead if m.header("airmp-stage") == "sink"]
        at = f"{dlq}[{letter.partition}]@{letter.offset}"
        assert (status, out) == (
            0,
            f"would re-drive {at} (sink, invalid_batch, POSCONNECT.WALLET.REFUND)"
            f" to {env['AIRMP_RECORDS_TOPIC']}\n",
        ), err
        assert err.splitlines()[-1] == (
            f"airmp dead-letters: would re-drive 1 dead letters "
            f"(1 to {env['AIRMP_RECORDS_TOPIC']}); dry run, nothing produced"
        )
        after = asyncio.run(end_offsets(kafka_bootstrap, env["AIRMP_RECORDS_TOPIC"]))
        assert after == records_end  # nothing produced

        redrive_sink(env, at)
        again = copies(endpoint, srid, 1)
        assert again is not None, second.log()[-3000:]
        assert with_id(again, srid) == [orjson.loads(refused)["batch"]]

        # Mapped now by the newer connector, though their eesEventIds were seen.
        status, out, err = cli(
            env,
            "redrive",
            "--stage",
            "wallet",
            "--reason",
            "mapping_error",
            "--reason",
            "missing_operation",
        )
        assert status == 0, err
        assert len(out.splitlines()) == 2
        assert all(f"to {env['AIRMP_INPUT_TOPIC']}[" in line for line in out.splitlines())
        view = endpoint.wait_for_events(message_ids(expected))
        assert accepted_ids(view) == message_ids(expected), second.log()[-3000:]
        for record in broken:
            (batch,) = with_id(view, orjson.loads(record)["batch"]["source_request_id"])
            assert batch["events"] == orjson.loads(record)["batch"]["events"]

        # The same record re-driven again: mParticle accepted its batch id, so the sink
        # completes it without sending it again (streams/accepted.py), and counts it.
        redrive_sink(env, at)

        def repeats() -> float:
            found = scrape(port) or {}
            return sum(found.get("airmp_sink_repeated_batches_total", {}).values())

        assert poll(lambda: repeats() == 1, 60), second.log()[-3000:]
        assert with_id(endpoint.accepted(), srid) == [orjson.loads(refused)["batch"]]

        samples = scrape(port)
        assert samples is not None
        assert samples["airmp_duplicate_events_total"][()] == 0
        assert sum(by_label(samples, "airmp_records_total", "event_name").values()) == 2
        assert sum(samples.get("airmp_dead_letters_total", {}).values()) == 0
    finally:
        assert second.stop() == 0, second.log()[-3000:]
    check_redriven_input(kafka_bootstrap, env, dead)
    assert len(asyncio.run(read_topic(kafka_bootstrap, dlq))) == 8  # none dead-lettered again


def check_summary(env: dict[str, str], dead: list[Message]) -> None:
    status, out, err = cli(env, "summary", "--json")
    assert status == 0, err
    summary = orjson.loads(out)
    stamps = sorted(m.timestamp for m in dead)
    first, last = (iso_ms(stamps[0]), iso_ms(stamps[-1]))
    assert (summary["total"], summary["first"], summary["last"]) == (8, first, last)
    assert [(g["reason"], g["stage"], g["event_name"], g["count"]) for g in summary["groups"]] == [
        ("invalid_batch", "sink", "POSCONNECT.WALLET.REFUND", 1),
        ("invalid_notification", "wallet", "POSCONNECT.WALLET.SETTLE", 1),
        ("mapping_error", "wallet", "WALLET.ACCOUNT.UPDATE", 1),
        ("missing_operation", "wallet", "TIER.MEMBERSHIP.MOVE", 1),
        ("no_event_name", "ingest", "-", 1),
        ("no_wallet", "ingest", "TIER.MEMBERSHIP.MOVE", 1),
        ("not_json", "ingest", "-", 1),
        ("not_object", "ingest", "-", 1),
    ]
    by_reason = {m.header("airmp-kind"): m.timestamp for m in dead}
    for group in summary["groups"]:
        assert group["first"] == group["last"] == iso_ms(by_reason[group["reason"]])
    read = rf"airmp dead-letters: 8 dead letters read from {env['AIRMP_DEAD_LETTER_TOPIC']}"
    assert re.fullmatch(read + r" in \d+s, 8 selected", err.splitlines()[-1]), err

    status, out, _ = cli(env, "summary", "--stage", "ingest")
    lines = out.splitlines()
    assert lines[0].split() == ["REASON", "STAGE", "EVENT", "NAME", "COUNT", "FIRST", "LAST"]
    assert [line.split()[:4] for line in lines[1:-1]] == [
        ["no_event_name", "ingest", "-", "1"],
        ["no_wallet", "ingest", "TIER.MEMBERSHIP.MOVE", "1"],
        ["not_json", "ingest", "-", "1"],
        ["not_object", "ingest", "-", "1"],
    ]
    assert lines[-1].startswith("total: 4 dead letters, first ")


def check_show(env: dict[str, str], dead: list[Message], refused: bytes) -> None:
    status, out, err = cli(env, "show", "--stage", "sink")
    assert status == 0, err
    (letter,) = [m for m in dead if m.header("airmp-stage") == "sink"]
    record = orjson.loads(refused)
    head = [
        f"{env['AIRMP_DEAD_LETTER_TOPIC']}[{letter.partition}]@{letter.offset}  "
        f"{iso_ms(letter.timestamp)}",
        "  reason: invalid_batch",
        "  stage: sink",
        "  event name: POSCONNECT.WALLET.REFUND",
        f"  source: {env['AIRMP_RECORDS_TOPIC']}[{letter.header('airmp-source-partition')}]"
        f"@{letter.header('airmp-source-offset')}",
        f"  detail: {letter.header('airmp-detail')}",
        f"  key: {record['air']['wallet_id']}",
        f"  body ({len(letter.value)} bytes):",
    ]
    body = orjson.dumps(record, option=orjson.OPT_INDENT_2).decode().splitlines()
    assert out.splitlines() == head + [f"    {line}" for line in body]
    assert "rejected by fault injection" in letter.header("airmp-detail")

    status, out, _ = cli(env, "show", "--stage", "ingest", "--limit", "2")
    assert out.count("  stage: ingest\n") == 2


def redrive_sink(env: dict[str, str], at: str) -> None:
    status, out, err = cli(env, "redrive", "--stage", "sink")
    assert status == 0, err
    assert out.startswith(f"re-drove {at} to {env['AIRMP_RECORDS_TOPIC']}[")
    assert len(out.splitlines()) == 1


def check_redriven_input(bootstrap: str, env: dict[str, str], dead: list[Message]) -> None:
    """The two notifications went back with their source headers and the re-drive mark."""
    dlq = env["AIRMP_DEAD_LETTER_TOPIC"]
    wallet = {
        m.value: m for m in dead if m.header("airmp-kind") in ("mapping_error", "missing_operation")
    }
    redriven = [
        m for m in asyncio.run(read_topic(bootstrap, env["AIRMP_INPUT_TOPIC"])) if m.value in wallet
    ]
    redriven = [m for m in redriven if "airmp-redriven-from" in m.headers]
    assert len(redriven) == 2
    for message in redriven:
        letter = wallet[message.value]
        source = {k: v for k, v in letter.headers.items() if k.startswith("airmp-source-")}
        assert message.headers == {
            **source,
            "airmp-redriven-from": f"{dlq}[{letter.partition}]@{letter.offset}".encode(),
        }
        assert source["airmp-source-topic"] == env["AIRMP_INPUT_TOPIC"].encode()
