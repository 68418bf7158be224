"""The worker's /metrics after a known journey: exact counters and a consumer-lag gauge at 0;
and before any traffic: every series a panel or alert reads, its known labels at 0."""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from pathlib import Path

import httpx
import orjson
import pytest

import mappers
from streams import metrics
from testkit import journeys
from testkit.kafka import create_topics, produce
from testkit.processes import (
    AIRMP,
    Samples,
    Worker,
    by_label,
    clean_env,
    http_status,
    poll,
    scrape,
    worker_env,
)
from tests.ops.test_monitoring import NOT_OURS, alert_rules, dashboard_metrics, metrics_in

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
            return s if len(lag) == 9 and not any(lag.values()) else None

        samples = poll(settled, timeout=60, interval=0.5)
        assert samples is not None, (scrape(port) or {}).get("airmp_consumer_lag")
        assert by_label(samples, "airmp_air_events_total", "event_name") == dict(names)
        assert by_label(samples, "airmp_records_total", "event_name") == dict(records)
        assert sum(samples.get("airmp_dead_letters_total", {}).values()) == 0
        topics = {(dict(k)["topic"], dict(k)["partition"]) for k in samples["airmp_consumer_lag"]}
        by_wallet = f"{env['AIRMP_APP_ID']}-air-by-wallet"
        assert topics == {
            (t, str(p))
            for t in (env["AIRMP_INPUT_TOPIC"], by_wallet, env["AIRMP_AUDIENCE_TOPIC"])
            for p in range(3)
        }
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert (ready.status_code, ready.json()) == (200, {"ready": True, "reasons": []})
    finally:
        worker.stop()


def known_series() -> dict[str, set[tuple[tuple[str, str], ...]]]:
    """Sample name -> the label sets `streams.metrics.KNOWN_LABELS` primes (a histogram by
    its `_count`), as `scrape` keys them."""
    suffix = {"counter": "_total", "histogram": "_count", "gauge": ""}
    known: dict[str, set[tuple[tuple[str, str], ...]]] = {}
    for metric, values in metrics.KNOWN_LABELS.items():
        (family,) = list(metric.describe())
        names = metric._labelnames
        known[family.name + suffix[family.type]] = {
            tuple(sorted(zip(names, v, strict=True))) for v in values
        }
    return known


def test_every_series_read_is_at_0_before_any_traffic(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = worker_env(
        kafka_bootstrap,
        tmp_path,
        AIRMP_SINK_ENABLED="false",
        AIRMP_LAG_METRICS_INTERVAL_SECONDS="1",
    )
    worker = Worker(env, tmp_path / "worker.log").start()
    port = env["AIRMP_WEB_PORT"]
    try:
        ready = poll(lambda: http_status(f"http://127.0.0.1:{port}/readyz") == 200, timeout=90)
        assert ready, worker.log()[-3000:]

        def with_lag() -> Samples | None:
            s = scrape(port)
            return s if s and s.get("airmp_consumer_lag") else None

        samples = poll(with_lag, timeout=30)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        worker.stop()
    assert samples is not None, worker.log()[-3000:]
    lines = set(text.splitlines())
    assert {
        'airmp_dead_letters_total{reason="not_json"} 0.0',
        'airmp_dead_letters_total{reason="processing_error"} 0.0',
        'airmp_sink_dead_letters_total{reason="invalid_batch"} 0.0',
        'airmp_air_events_total{event_name="POSCONNECT.WALLET.SETTLE"} 0.0',
        'airmp_records_total{event_name="SERVICE.TRIGGER"} 0.0',
        'airmp_edge_requests_total{route="air_webhook",status="429"} 0.0',
        'airmp_edge_request_seconds_bucket{le="0.005",route="firehose"} 0.0',
        'airmp_sink_requests_total{status="503"} 0.0',
        'airmp_air_requests_total{operation="trigger",status="timeout"} 0.0',
        f'airmp_partition_rereads_total{{topic="{env["AIRMP_INPUT_TOPIC"]}"}} 0.0',
    } <= lines
    # Completeness: exactly the table's label sets, and nothing counted yet.
    for name, labels in known_series().items():
        assert set(samples.get(name, {})) == labels, name
    read = set(dashboard_metrics()).union(*(metrics_in(r["expr"]) for r in alert_rules()))
    values = {name: set(samples.get(name, {}).values()) for name in read - NOT_OURS}
    assert values == {name: {0.0} for name in values} | {
        "airmp_ready": {1.0},
        "airmp_partition_assignments_total": {1.0},  # the worker's start
    }
    topics = {dict(k)["topic"] for k in samples["airmp_partition_rereads_total"]}
    assert topics == {
        env["AIRMP_INPUT_TOPIC"],
        f"{env['AIRMP_APP_ID']}-air-by-wallet",
        env["AIRMP_RECORDS_TOPIC"],
        env["AIRMP_AUDIENCE_TOPIC"],  # and no reward topic: no AIR credentials
    }
