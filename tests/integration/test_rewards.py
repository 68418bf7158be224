"""Rewards end to end on the real Kafka: reward topic -> worker -> the local AIR (a
subprocess, `airmp mock-air`), and AIR's SERVICE.TRIGGER back through the worker to the
local mParticle endpoint. Faults, a SIGKILL between AIR's 201 and the commit, refused
credentials, and SPEND.VOID's look-up of a parent reference in AIR."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka.errors import TopicAlreadyExistsError

from mappers.rewards import RewardRequest
from testkit import journeys
from testkit.cases import CASES
from testkit.kafka import committed, consume, create_topics, lag, produce
from testkit.processes import (
    Air,
    Endpoint,
    Worker,
    by_label,
    http_status,
    poll,
    scrape,
    worker_env,
)

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CUSTOMERS = [f"64010000000{n:05d}" for n in range(20)]
BALANCE = 100  # each customer's points before the rewards


def write_wallets(tmp: Path) -> Path:
    path = tmp / "wallets.json"
    wallets = [
        {
            "walletId": str(910000 + n),
            "identities": [{"type": "CARD", "value": card}],
            "points": {"accountId": str(81000 + n), "campaignId": "3001", "current": BALANCE},
        }
        for n, card in enumerate(CUSTOMERS)
    ]
    path.write_bytes(orjson.dumps(wallets))
    return path


def reward(card: str, reference: str, trigger: str = "WELCOME5000") -> RewardRequest:
    return RewardRequest.by_hand(card, (trigger,), reference=reference, at=AT)


def start(tmp: Path, name: str, env: dict[str, str]) -> Worker:
    """A worker, once its web server answers (ready or not)."""
    worker = Worker(env=env, log_path=tmp / f"{name}.log").start()
    url = f"http://127.0.0.1:{env['AIRMP_WEB_PORT']}/healthz"
    assert poll(lambda: http_status(url) == 200, timeout=90), worker.log()[-3000:]
    return worker


def until_granted(air: Air, count: int, timeout: float = 120) -> dict[str, Any]:
    def enough() -> dict[str, Any] | None:
        view = air.granted()
        return view if len(view["granted"]) >= count else None

    return poll(enough, timeout) or air.granted()


def produce_requests(bootstrap: str, env: dict[str, str], requests: list[RewardRequest]) -> None:
    """Onto the reward topic, created first as the worker would (three partitions)."""
    topic = env["AIRMP_REWARD_TOPIC"]
    with contextlib.suppress(TopicAlreadyExistsError):
        asyncio.run(create_topics(bootstrap, [topic], 3))
    asyncio.run(produce(bootstrap, topic, [(r.key, r.to_bytes()) for r in requests]))


def points_in_mparticle(endpoint: Endpoint) -> dict[str, int]:
    """Each card's highest points_balance in what mParticle (local) accepted."""
    found: dict[str, int] = {}
    for batch in endpoint.accepted()["batches"]:
        card = batch["user_identities"].get("other")
        points = (batch.get("user_attributes") or {}).get("points_balance")
        if card is not None and points is not None:
            found[card] = max(found.get(card, 0), int(points))
    return found


def test_rewards_are_granted_once_through_faults_and_come_back_as_points(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    endpoint = Endpoint(tmp_path / "mparticle.log").start()
    env = worker_env(kafka_bootstrap, tmp_path, **endpoint.env())
    asyncio.run(create_topics(kafka_bootstrap, [env["AIRMP_INPUT_TOPIC"]], 3))
    air = Air(
        tmp_path / "air.log",
        wallets_file=write_wallets(tmp_path),
        triggers=("WELCOME5000=points:5000", "BONUS250=points:250"),
        emit_bootstrap=kafka_bootstrap,
        emit_topic=env["AIRMP_INPUT_TOPIC"],
    ).start()
    env.update(air.env())
    # 50 requests for 20 customers: WELCOME5000 each, and BONUS250 twice for 15 of them.
    wanted = [reward(c, f"w-{c}") for c in CUSTOMERS]
    wanted += [reward(c, f"b{n}-{c}", "BONUS250") for n in range(2) for c in CUSTOMERS[:15]]
    unknown = reward("9999000099990000", "x-404")
    bad_trigger = reward(CUSTOMERS[0], "x-400", "NOPE")
    air.faults(rate_limit_next=4, retry_after=0.2, server_error_next=4, drop_next=3)
    air.faults(drop_after_accept_next=3)
    produce_requests(kafka_bootstrap, env, [*wanted[:25], unknown, bad_trigger, *wanted[25:]])
    points = {c: BALANCE + 5000 + (500 if c in CUSTOMERS[:15] else 0) for c in CUSTOMERS}
    worker = start(tmp_path, "w", env)
    try:
        view = until_granted(air, len(wanted))
        dead = asyncio.run(consume(kafka_bootstrap, env["AIRMP_DEAD_LETTER_TOPIC"], 2))
        accepted = poll(lambda: (f := points_in_mparticle(endpoint)) == points and f, 120)
        final = points_in_mparticle(endpoint)
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
        air.stop()
        endpoint.stop()
    assert view["granted"] == {r.reference: 1 for r in wanted}, worker.log()[-3000:]
    reasons = sorted((m.header("airmp-stage"), m.header("airmp-reason")) for m in dead)
    assert reasons == [
        ("reward", "air_refused: AIR answered 400 INVALID_TRIGGER"),
        ("reward", "air_refused: AIR answered 404 WALLET_NOT_FOUND"),
    ]
    assert sorted(orjson.loads(m.header("airmp-detail"))["errorCode"] for m in dead) == [
        "INVALID_TRIGGER",
        "WALLET_NOT_FOUND",
    ]
    assert accepted and final == points, final


def test_sigkill_after_airs_answer_does_not_reward_twice(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    air = Air(tmp_path / "air.log", wallets_file=write_wallets(tmp_path)).start()
    env = worker_env(kafka_bootstrap, tmp_path, AIRMP_SINK_ENABLED="false", **air.env())
    first = reward(CUSTOMERS[3], "kill-1")
    produce_requests(kafka_bootstrap, env, [first])
    worker = start(tmp_path, "w1", env)
    try:
        # Kill as soon as AIR has granted it: before the worker's next commit (every 1 s).
        assert poll(lambda: air.granted()["granted"], timeout=90, interval=0.02)
        assert worker.stop(signal.SIGKILL) == -signal.SIGKILL
        committed_at_kill = asyncio.run(committed(kafka_bootstrap, env["AIRMP_APP_ID"]))
        second = reward(CUSTOMERS[4], "after-restart")
        produce_requests(kafka_bootstrap, env, [second])
        worker = start(tmp_path, "w2", env)
        view = until_granted(air, 2)
        group, topics = env["AIRMP_APP_ID"], [env["AIRMP_REWARD_TOPIC"]]
        done = poll(lambda: asyncio.run(lag(kafka_bootstrap, group, topics)) == 0, timeout=60)
        outcomes = by_label(scrape(env["AIRMP_WEB_PORT"]) or {}, "airmp_rewards_total", "outcome")
    finally:
        worker.stop()
        air.stop()
    assert not any(topic == topics[0] for topic, _ in committed_at_kill)  # killed uncommitted
    assert done  # the re-read request was completed after the restart
    assert view["granted"] == {"kill-1": 1, "after-restart": 1}
    # Either protection may have held, by when the kill came: the table (kill-1 not sent
    # again, counted already_granted) or the same reference (sent again, answered as the
    # first: a repeat, no second grant).
    repeated = view["repeats"].get("kill-1", 0)
    assert (repeated, outcomes.get("already_granted", 0.0)) in ((0, 1.0), (1, 0.0)), outcomes


def test_refused_credentials_stop_rewards_until_fixed_and_void_asks_air(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    air = Air(tmp_path / "air.log", wallets_file=write_wallets(tmp_path)).start()
    env = worker_env(kafka_bootstrap, tmp_path, AIRMP_SINK_ENABLED="false")
    requests = [reward(c, f"c-{c}") for c in CUSTOMERS[:5]]
    produce_requests(kafka_bootstrap, env, requests)
    wrong = {**env, **air.env(secret="not-the-secret"), "AIRMP_DELIVERY_GRACE_SECONDS": "1"}
    worker = start(tmp_path, "w1", wrong)
    ready_url = f"http://127.0.0.1:{env['AIRMP_WEB_PORT']}/readyz"
    try:
        stopped = poll(lambda: _reasons(ready_url, "rewards stopped"), timeout=90)
        group = asyncio.run(committed(kafka_bootstrap, env["AIRMP_APP_ID"]))
    finally:
        status = worker.stop()
    assert stopped, worker.log()[-3000:]
    assert status == 75  # left without committing the held requests
    assert not any(topic == env["AIRMP_REWARD_TOPIC"] for topic, _ in group)
    assert air.granted()["granted"] == {}
    assert "not-the-secret" not in worker.log()

    # Fixed and restarted: every request is granted. A SPEND.VOID whose parent the wallet's
    # state never saw gets the parent's reference from AIR, which saw the OPEN.
    air.tell([orjson.dumps(journeys._open())])
    void, expected = CASES["POSCONNECT.WALLET.SPEND.VOID"]()
    asyncio.run(produce(kafka_bootstrap, env["AIRMP_INPUT_TOPIC"], [(b"k", orjson.dumps(void))]))
    worker = start(tmp_path, "w2", {**env, **air.env()})
    try:
        view = until_granted(air, len(requests))
        records = asyncio.run(consume(kafka_bootstrap, env["AIRMP_RECORDS_TOPIC"], 1))
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
        air.stop()
    assert view["granted"] == {r.reference: 1 for r in requests}
    (record,) = (orjson.loads(m.value) for m in records)
    attributes = record["batch"]["events"][0]["data"]["custom_attributes"]
    want = expected["batch"]["events"][0]["data"]["custom_attributes"]
    assert attributes == {"original_transaction_reference": "R-300", **want}


def _reasons(url: str, wanted: str) -> bool:
    import httpx

    try:
        body = httpx.get(url, timeout=3).json()
    except (httpx.HTTPError, ValueError):
        return False
    return any(reason.startswith(wanted) for reason in body.get("reasons", []))
