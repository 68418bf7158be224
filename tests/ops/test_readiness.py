"""/readyz follows the broker: 200 while it answers, 503 when it is gone, 200 when it is back."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.localkafka import LocalKafka
from testkit.processes import Worker, http_status, poll, worker_env

pytestmark = pytest.mark.integration


def test_readyz_follows_the_broker(tmp_path: Path) -> None:
    broker = LocalKafka(workdir=tmp_path / "kafka", heap="512m")
    broker.start()
    worker: Worker | None = None
    try:
        env = worker_env(
            broker.bootstrap, tmp_path, AIRMP_SINK_ENABLED="false", AIRMP_TOPIC_PARTITIONS="1"
        )
        url = f"http://127.0.0.1:{env['AIRMP_WEB_PORT']}/readyz"
        worker = Worker(env, tmp_path / "worker.log").start()
        assert poll(lambda: http_status(url) == 200, timeout=90), worker.log()[-3000:]

        port = broker.port
        broker.stop()
        assert poll(lambda: http_status(url) == 503, timeout=30), worker.log()[-3000:]

        broker.start()
        assert broker.port == port
        assert poll(lambda: http_status(url) == 200, timeout=90), worker.log()[-3000:]
    finally:
        if worker is not None:
            worker.stop(timeout=30)
        broker.stop()
