"""With the rocksdb store, a restarted worker reads only the tail of the table's changelog."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from testkit import journeys
from testkit.kafka import Message, end_offsets, produce
from testkit.processes import poll, scrape, worker_env
from tests.integration.test_pipeline import (
    by_wallet,
    expected_records,
    keyed,
    read_records,
    records_of,
    start_worker,
)

pytestmark = pytest.mark.integration


def run_worker(
    bootstrap: str, env: dict[str, str], tmp: Path, name: str, expected: list[bytes]
) -> tuple[list[Message], dict[int, int]]:
    """Records until every expected one arrived, and where the table recovery started."""
    worker = start_worker(env, tmp, name)
    changelog = f"{env['AIRMP_APP_ID']}-wallet-state-changelog"
    try:
        got = read_records(bootstrap, env, expected, 1)

        def recovered() -> dict[int, int] | None:
            samples = scrape(env["AIRMP_WEB_PORT"]) or {}
            starts = {
                int(dict(k)["partition"]): int(v)
                for k, v in samples.get("airmp_table_recovery_start_offset", {}).items()
                if dict(k)["topic"] == changelog  # the audience-requests table has its own
            }
            return starts if len(starts) == 3 else None

        starts = poll(recovered, timeout=30)
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
    assert starts is not None, worker.log()[-3000:]
    return got, starts


def test_restart_reads_only_the_changelog_tail(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = worker_env(
        kafka_bootstrap, tmp_path, AIRMP_STORE="rocksdb://", AIRMP_SINK_ENABLED="false"
    )
    changelog = f"{env['AIRMP_APP_ID']}-wallet-state-changelog"
    first_half = journeys.build(wallets=6, seed=21)
    second_half = journeys.build(wallets=6, seed=22)
    expected = expected_records(first_half + second_half)

    asyncio.run(produce(kafka_bootstrap, env["AIRMP_INPUT_TOPIC"], keyed(first_half)))
    _, first_starts = run_worker(kafka_bootstrap, env, tmp_path, "w1", expected_records(first_half))
    written = asyncio.run(end_offsets(kafka_bootstrap, changelog))
    assert sum(written.values()) > 50

    asyncio.run(produce(kafka_bootstrap, env["AIRMP_INPUT_TOPIC"], keyed(second_half)))
    got, starts = run_worker(kafka_bootstrap, env, tmp_path, "w2", expected)

    # The first start read every changelog partition from its beginning (-1); the restart
    # starts where the local rocksdb store already is: the end of what the first run wrote.
    assert first_starts == {0: -1, 1: -1, 2: -1}
    assert starts == {p: off - 1 for p, off in written.items()}, (starts, written)
    # ... and the state it kept is right: the records equal `airmp map` over both halves.
    assert records_of(got) == by_wallet(expected)
