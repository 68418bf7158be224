"""An edges-only worker (AIRMP_AGENTS_ENABLED=false, the Helm chart's edges Deployment)
beside a worker: it answers on its edges and never joins the workers' consumer group, so
edges pods coming and going do not rebalance the workers."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from testkit.processes import Worker, http_status, poll, worker_env


def _ready(port: str) -> bool:
    return http_status(f"http://127.0.0.1:{port}/readyz") == 200


async def _members(bootstrap: str, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_consumer_groups([group])
        return sum(len(g[5]) for g in described.groups)
    finally:
        await admin.close()


@pytest.mark.integration
def test_an_edges_only_worker_stays_out_of_the_workers_group(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    (tmp_path / "worker").mkdir()
    (tmp_path / "edges").mkdir()
    env = worker_env(kafka_bootstrap, tmp_path / "worker", AIRMP_SINK_ENABLED="false")
    edges_env = worker_env(
        kafka_bootstrap,
        tmp_path / "edges",
        AIRMP_APP_ID=env["AIRMP_APP_ID"],
        AIRMP_SINK_ENABLED="false",
        AIRMP_AGENTS_ENABLED="false",
    )
    worker = Worker(env, tmp_path / "worker.log").start()
    edges = Worker(edges_env, tmp_path / "edges.log").start()
    try:
        for port in (env["AIRMP_WEB_PORT"], edges_env["AIRMP_WEB_PORT"]):
            assert poll(functools.partial(_ready, port), 90), edges.log()[-3000:]
        members = asyncio.run(_members(kafka_bootstrap, env["AIRMP_APP_ID"]))
        assert members == 1
    finally:
        assert edges.stop() == 0, edges.log()[-3000:]
        assert worker.stop() == 0, worker.log()[-3000:]
