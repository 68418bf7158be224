"""Every metric a dashboard panel queries exists on a real worker's /metrics after a short
run: AIR notifications (one poison) through the sink to the local mParticle endpoint, which
throttles once, fails once and refuses one batch, under a low rate limit; and one reward
granted by the local AIR; and a call to each edge (the AIR webhook, the audience output)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest

from mappers.rewards import RewardRequest
from testkit import firehose, journeys
from testkit.kafka import create_topics, produce
from testkit.processes import (
    Air,
    Endpoint,
    Samples,
    Worker,
    http_status,
    poll,
    scrape,
    worker_env,
)
from tests.integration.test_pipeline import expected_records
from tests.ops.test_monitoring import dashboard_metrics

pytestmark = pytest.mark.integration

CARD = "6401000000099001"
WEBHOOK_TOKEN = "dashboard-webhook-token"


def test_every_metric_the_dashboard_queries_is_served(kafka_bootstrap: str, tmp_path: Path) -> None:
    wanted = set(dashboard_metrics())
    notifications = journeys.build(wallets=2, seed=41)
    refused = orjson.loads(expected_records(notifications)[3])["batch"]["source_request_id"]
    wallets = tmp_path / "wallets.json"
    wallets.write_bytes(
        orjson.dumps(
            [
                {
                    "walletId": "990001",
                    "identities": [{"type": "CARD", "value": CARD}],
                    "points": {"accountId": "89001", "campaignId": "3001", "current": 100},
                }
            ]
        )
    )
    with contextlib.ExitStack() as stack:
        endpoint = Endpoint(tmp_path / "mparticle.log").start()
        stack.callback(endpoint.stop)
        air = Air(tmp_path / "air.log", wallets_file=wallets).start()
        stack.callback(air.stop)
        endpoint.faults(
            rate_limit_next=1,
            retry_after=0.2,
            server_error_next=1,
            reject_source_request_ids=[refused],
        )
        env = worker_env(
            kafka_bootstrap,
            tmp_path,
            **endpoint.env(),
            **air.env(),
            AIRMP_SINK_RATE_LIMIT="5",  # waits for the pacing
            AIRMP_SINK_MERGE_USER_BATCHES="false",
            AIRMP_SINK_MAX_BACKOFF_SECONDS="1",
            AIRMP_LAG_METRICS_INTERVAL_SECONDS="1",
            AIRMP_AIR_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
        )
        asyncio.run(
            create_topics(kafka_bootstrap, [env["AIRMP_INPUT_TOPIC"], env["AIRMP_REWARD_TOPIC"]], 3)
        )
        stream = [(journeys.producer_key(n), n) for n in notifications]
        asyncio.run(produce(kafka_bootstrap, env["AIRMP_INPUT_TOPIC"], [*stream, (b"k", b"{")]))
        request = RewardRequest.by_hand(
            CARD, ("WELCOME5000",), reference="dash-1", at=datetime(2026, 12, 1, tzinfo=UTC)
        )
        asyncio.run(
            produce(kafka_bootstrap, env["AIRMP_REWARD_TOPIC"], [(request.key, request.to_bytes())])
        )
        worker = Worker(env, tmp_path / "worker.log").start()
        stack.callback(worker.stop)
        base = f"http://127.0.0.1:{env['AIRMP_WEB_PORT']}"
        assert poll(lambda: http_status(f"{base}/readyz") == 200, timeout=90), worker.log()
        webhook = httpx.post(
            f"{base}/air/notifications",
            content=notifications[0],  # a repeat: mapped once
            headers={"X-Auth-Token": WEBHOOK_TOKEN},
            timeout=30,
        )
        registration = httpx.post(
            f"{base}/mparticle/firehose", json=firehose.registration_request(), timeout=30
        )
        assert (webhook.status_code, registration.status_code) == (200, 200)

        def served() -> Samples | None:
            samples = scrape(env["AIRMP_WEB_PORT"])
            if samples is None:
                return None
            have = {name for name, series in samples.items() if series}
            return samples if wanted <= have else None

        samples = poll(served, timeout=180, interval=1.0)
        have = {name for name, series in (scrape(env["AIRMP_WEB_PORT"]) or {}).items() if series}
        assert samples is not None, (sorted(wanted - have), worker.log()[-3000:])
    assert wanted >= {
        "airmp_air_events_total",
        "airmp_records_total",
        "airmp_dead_letters_total",
        "airmp_consumer_lag",
        "airmp_sink_requests_total",
        "airmp_sink_request_seconds_bucket",
        "airmp_sink_batches_per_request_bucket",
        "airmp_sink_wait_seconds_total",
        "airmp_rewards_total",
        "airmp_air_requests_total",
        "airmp_edge_requests_total",
        "airmp_edge_request_seconds_bucket",
    }
