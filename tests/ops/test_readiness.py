"""/readyz and the AIR webhook follow the broker: 200 while it answers; 503 and 429 (with
Retry-After) when it is gone; 200 when it is back, and the notification AIR sent again is
mapped once (its repeat dropped by eesEventId). A body that is no notification is taken
and dead-lettered by the worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest

from testkit.cases import CASES
from testkit.kafka import consume
from testkit.localkafka import LocalKafka
from testkit.processes import Worker, http_status, poll, worker_env

pytestmark = pytest.mark.integration
TOKEN = "webhook-token-for-the-test"


def post(url: str, body: bytes) -> httpx.Response:
    return httpx.post(url, content=body, headers={"X-Auth-Token": TOKEN}, timeout=30)


def test_readyz_and_the_webhook_follow_the_broker(tmp_path: Path) -> None:
    broker = LocalKafka(workdir=tmp_path / "kafka", heap="512m")
    broker.start()
    worker: Worker | None = None
    try:
        env = worker_env(
            broker.bootstrap,
            tmp_path,
            AIRMP_SINK_ENABLED="false",
            AIRMP_TOPIC_PARTITIONS="1",
            AIRMP_AIR_WEBHOOK_TOKEN=TOKEN,
            AIRMP_EDGE_KAFKA_TIMEOUT_SECONDS="3",
        )
        base = f"http://127.0.0.1:{env['AIRMP_WEB_PORT']}"
        url, webhook = f"{base}/readyz", f"{base}/air/notifications"
        worker = Worker(env, tmp_path / "worker.log").start()
        assert poll(lambda: http_status(url) == 200, timeout=90), worker.log()[-3000:]
        first, record = CASES["POSCONNECT.WALLET.SETTLE"]()
        assert post(webhook, orjson.dumps(first)).status_code == 200
        assert post(webhook, b"<html>not a notification</html>").status_code == 200

        port = broker.port
        broker.stop()
        assert poll(lambda: http_status(url) == 503, timeout=30), worker.log()[-3000:]
        spend, spend_record = CASES["POSCONNECT.WALLET.SPEND"]()
        spend["headers"]["eesEventId"] = "evt-spend"  # the cases share one id
        refused = post(webhook, orjson.dumps(spend))
        assert (refused.status_code, refused.headers["Retry-After"]) == (429, "5")

        broker.start()
        assert broker.port == port
        assert poll(lambda: http_status(url) == 200, timeout=90), worker.log()[-3000:]
        assert post(webhook, orjson.dumps(spend)).status_code == 200  # AIR's retry
        records = asyncio.run(consume(broker.bootstrap, env["AIRMP_RECORDS_TOPIC"], 2, settle=3))
        dead = asyncio.run(consume(broker.bootstrap, env["AIRMP_DEAD_LETTER_TOPIC"], 1))
    finally:
        if worker is not None:
            worker.stop(timeout=30)
        broker.stop()
    # The garbage AIR posted was taken (200: AIR must not retry our parse error), then
    # dead-lettered by the worker with its reason, bytes untouched.
    assert [(m.value, m.header("airmp-stage")) for m in dead] == [
        (b"<html>not a notification</html>", "ingest")
    ]
    assert dead[0].header("airmp-reason").startswith("not_json: ")
    mapped = [orjson.loads(m.value)["air"] for m in records]
    assert mapped == [record["air"], {**spend_record["air"], "event_id": "evt-spend"}]
