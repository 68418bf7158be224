"""A worker that starts without local table state rebuilds it from the changelog.

Two ways to start without it: the `memory://` store (every start), and a `rocksdb://` store
whose data dir is gone (a new machine, a deleted volume). Both restart in the middle of the
same six wallets' journeys, so the second half is mapped right only with the first half's
state: the records must equal `airmp map` over both halves, and the recovery must have read
every changelog partition from its beginning (-1).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from testkit import journeys
from testkit.kafka import end_offsets, produce
from testkit.processes import worker_env
from tests.integration.test_pipeline import by_wallet, expected_records, keyed, records_of
from tests.integration.test_rocksdb_restart import run_worker

pytestmark = pytest.mark.integration


def restart_mid_journey(bootstrap: str, tmp: Path, store: str, forget_local_state: bool) -> None:
    env = worker_env(bootstrap, tmp, AIRMP_STORE=store, AIRMP_SINK_ENABLED="false")
    changelog = f"{env['AIRMP_APP_ID']}-wallet-state-changelog"
    journey = journeys.build(wallets=6, seed=21)
    first_half, second_half = journey[: len(journey) // 2], journey[len(journey) // 2 :]
    expected = expected_records(first_half + second_half)
    # The test can fail: without the first half's state, the second half maps otherwise.
    assert expected[len(expected_records(first_half)) :] != expected_records(second_half)

    asyncio.run(produce(bootstrap, env["AIRMP_INPUT_TOPIC"], keyed(first_half)))
    run_worker(bootstrap, env, tmp, "w1", expected_records(first_half))
    written = asyncio.run(end_offsets(bootstrap, changelog))
    assert sum(written.values()) > 50
    if forget_local_state:
        shutil.rmtree(env["AIRMP_DATA_DIR"])

    asyncio.run(produce(bootstrap, env["AIRMP_INPUT_TOPIC"], keyed(second_half)))
    got, starts = run_worker(bootstrap, env, tmp, "w2", expected)

    assert starts == {0: -1, 1: -1, 2: -1}
    assert records_of(got) == by_wallet(expected)


def test_memory_store_restart_rebuilds_state(kafka_bootstrap: str, tmp_path: Path) -> None:
    restart_mid_journey(kafka_bootstrap, tmp_path, "memory://", forget_local_state=False)


def test_rocksdb_store_lost_rebuilds_state(kafka_bootstrap: str, tmp_path: Path) -> None:
    restart_mid_journey(kafka_bootstrap, tmp_path, "rocksdb://", forget_local_state=True)
