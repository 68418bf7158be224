"""With the rocksdb store, a restarted worker reads only the tail of the table's changelog."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from test_pipeline import by_wallet, expected_records, keyed, records_from_worker, records_of

from testkit import journeys
from testkit.kafka import end_offsets, produce
from testkit.processes import worker_env

pytestmark = pytest.mark.integration

ROW = re.compile(
    r"\|\s*(?P<topic>\S*wallet-state-changelog|〃)\s*\|\s*(?P<p>\d+)\s*\|\s*(?P<o>-?\d+)"
)


def reading_starts(log: str) -> dict[int, int]:
    """Faust's 'Reading Starts At - Active' table of the last recovery: partition -> offset."""
    text = log.replace("\r", "\n")
    start = text.rfind("Reading Starts At - Active")
    assert start >= 0, "no recovery table in the log"
    rows: dict[int, int] = {}
    for line in text[start:].splitlines()[1:]:
        if line.startswith("["):  # the next log line: the table is over
            break
        match = ROW.search(line)
        if match:
            rows[int(match["p"])] = int(match["o"])
    return rows


def test_restart_reads_only_the_changelog_tail(kafka_bootstrap: str, tmp_path: Path):
    env = worker_env(
        kafka_bootstrap, tmp_path, AIRMP_STORE="rocksdb://", AIRMP_SINK_ENABLED="false"
    )
    changelog = f"{env['AIRMP_APP_ID']}-wallet-state-changelog"
    first_half = journeys.build(wallets=6, seed=21)
    second_half = journeys.build(wallets=6, seed=22)
    expected = expected_records(first_half + second_half)

    asyncio.run(produce(kafka_bootstrap, env["AIRMP_INPUT_TOPIC"], keyed(first_half)))
    records_from_worker(
        kafka_bootstrap, env, tmp_path, "w1", expected_records(first_half), settle=0
    )
    written = asyncio.run(end_offsets(kafka_bootstrap, changelog))
    assert sum(written.values()) > 50

    asyncio.run(produce(kafka_bootstrap, env["AIRMP_INPUT_TOPIC"], keyed(second_half)))
    got = records_from_worker(kafka_bootstrap, env, tmp_path, "w2", expected, settle=1)

    # The first start read every changelog partition from its beginning (-1); the restart
    # starts where the local rocksdb store already is: the end of what the first run wrote.
    assert set(reading_starts((tmp_path / "w1.log").read_text()).values()) == {-1}
    starts = reading_starts((tmp_path / "w2.log").read_text())
    assert starts == {p: off - 1 for p, off in written.items()}, (starts, written)
    # ... and the state it kept is right: the records equal `airmp map` over both halves.
    assert records_of(got) == by_wallet(expected)
