"""The worker's /metrics after a known journey: exact counters and a consumer-lag gauge at 0."""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from pathlib import Path

import httpx
import orjson
import pytest

import mappers
from testkit import journeys
from testkit.kafka import create_topics, produce
from testkit.processes import AIRMP, Samples, Worker, by_label, clean_env, poll, scrape, worker_env

pytestmark = pytest.mark.integration


def test_counters_equal_the_known_run(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = worker_env(
        kafka_bootstrap,
        tmp_path,
        AIRMP_SINK_ENABLED="false",
        AIRMP_LAG_METRICS_INTERVAL_SECONDS="1",
    )
    journey = journeys.build(wallets=4, seed=11)
    names = Counter(
        n.event_name for n in map(mappers.parse, journey) if not isinstance(n, mappers.Rejection)
    )
    assert sum(names.values()) == len(journey)
    mapped = subprocess.run(
        [AIRMP, "map"],
        input=b"\n".join(journey),
        capture_output=True,
        check=True,
        env=clean_env(AIRMP_IDENTITY_TYPE="CARD", AIRMP_CURRENCY="GBP"),
    ).stdout.splitlines()
    records = Counter(orjson.loads(r)["air"]["event_name"] for r in mapped)
    assert len(mapped) > 0 and len(journey) > len(mapped)  # duplicates and unmapped events

    asyncio.run(create_topics(kafka_bootstrap, [env["AIRMP_INPUT_TOPIC"]], 3))
    asyncio.run(
        produce(
            kafka_bootstrap,
            env["AIRMP_INPUT_TOPIC"],
            [(journeys.producer_key(n), n) for n in journey],
        )
    )
    worker = Worker(env, tmp_path / "worker.log").start()
    port = env["AIRMP_WEB_PORT"]
    try:

        def done() -> Samples | None:
            s = scrape(port)
            if s and sum(s.get("airmp_records_total", {}).values()) >= len(mapped):
                return s
            return None

        assert poll(done, timeout=150, interval=0.5), worker.log()[-3000:]

        def settled() -> Samples | None:
            # Committed offsets reach the ends; the gauge covers the assigned partitions.
            s = scrape(port)
            lag = s.get("airmp_consumer_lag", {}) if s else {}
            return s if len(lag) == 6 and not any(lag.values()) else None

        samples = poll(settled, timeout=60, interval=0.5)
        assert samples is not None, (scrape(port) or {}).get("airmp_consumer_lag")
        assert by_label(samples, "airmp_air_events_total", "event_name") == dict(names)
        assert by_label(samples, "airmp_records_total", "event_name") == dict(records)
        assert sum(samples.get("airmp_dead_letters_total", {}).values()) == 0
        topics = {(dict(k)["topic"], dict(k)["partition"]) for k in samples["airmp_consumer_lag"]}
        by_wallet = f"{env['AIRMP_APP_ID']}-air-by-wallet"
        assert topics == {
            (t, str(p)) for t in (env["AIRMP_INPUT_TOPIC"], by_wallet) for p in range(3)
        }
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert (ready.status_code, ready.json()) == (200, {"ready": True, "reasons": []})
    finally:
        worker.stop()
