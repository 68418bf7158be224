"""mParticle's audiences at their real size, end to end on the real Kafka: a worker with its
Firehose edge, the local AIR (`airmp mock-air`) holding every wallet.

One membership change of 10,000 raw profiles is answered 200 on the first try and every
user is rewarded exactly once; mParticle delivering it again rewards nobody twice; a user
who enters, leaves and enters an audience again is rewarded once. Then the secrets: every
configured secret is searched in the worker's log, in every dead letter (values and
headers) and in `airmp dead-letters show` for every stage."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from mappers.rewards import RewardRequest
from streams.dead_letters import Stage
from testkit import firehose as fh
from testkit.kafka import consume, create_topics, produce
from testkit.processes import Air, Worker, airmp, by_label, http_status, poll, scrape, worker_env

pytestmark = pytest.mark.integration

AUDIENCE, RETURNING = 500, 501
TOKEN = "firehose-token-it"
SIZE = 10_000


def cards(count: int) -> list[str]:
    return [f"6402{n:012d}" for n in range(count)]


def write_wallets(tmp: Path, numbers: list[str]) -> Path:
    path = tmp / "wallets.json"
    wallets = [
        {
            "walletId": str(7_000_000 + n),
            "identities": [{"type": "CARD", "value": card}],
            "points": {"accountId": str(8_000_000 + n), "campaignId": "3001", "current": 0},
        }
        for n, card in enumerate(numbers)
    ]
    path.write_bytes(orjson.dumps(wallets))
    return path


def entering(numbers: list[str], audience: int, action: str = "add") -> list[dict[str, Any]]:
    return [
        fh.profile([fh.identity("other", card)], [fh.audience(audience, action=action)])
        for card in numbers
    ]


def reference(card: str, audience: int) -> str:
    return RewardRequest.for_audience(card, "WELCOME5000", audience_id=str(audience)).reference


def start(tmp: Path, env: dict[str, str], wallets: list[str]) -> tuple[Air, Worker, str]:
    air = Air(tmp / "air.log", wallets_file=write_wallets(tmp, wallets)).start()
    env.update(air.env())
    worker = Worker(env=env, log_path=tmp / "worker.log").start()
    url = f"http://127.0.0.1:{env['AIRMP_WEB_PORT']}"
    assert poll(lambda: http_status(f"{url}/readyz") == 200, timeout=120), worker.log()[-3000:]
    return air, worker, url


def post(url: str, message: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{url}/mparticle/firehose",
        content=orjson.dumps(message),
        headers={"Authorization": f"Token {TOKEN}"},
        timeout=30,
    )


def env_for(kafka_bootstrap: str, tmp: Path) -> dict[str, str]:
    return worker_env(
        kafka_bootstrap,
        tmp,
        AIRMP_SINK_ENABLED="false",
        AIRMP_CONNECTOR_ID=fh.CONNECTOR_ID,
        AIRMP_EXTERNAL_KEY=fh.EXTERNAL_KEY,
        AIRMP_MPARTICLE_FIREHOSE_TOKEN=TOKEN,
        AIRMP_AIR_RATE_LIMIT="2000",  # 10/s by default, for AIR's limits: 10,000 take 17 min
    )


def test_an_audience_of_ten_thousand_is_rewarded_once_each(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    numbers = cards(SIZE)
    env = env_for(kafka_bootstrap, tmp_path)
    air, worker, url = start(tmp_path, env, numbers)
    big = fh.membership_request(entering(numbers, AUDIENCE))
    # Enters, leaves, enters again: three requests of mParticle's, one reward.
    returning = [
        fh.membership_request(entering(numbers[:1], RETURNING, action))
        for action in ("add", "delete", "add")
    ]
    try:
        answers = [post(url, big).status_code, post(url, big).status_code]  # the second: again
        answers += [post(url, message).status_code for message in returning]
        wanted = {reference(card, AUDIENCE): 1 for card in numbers}
        wanted[reference(numbers[0], RETURNING)] = 1
        view = poll(lambda: _granted(air, len(wanted)), 300, interval=3)
        changes = poll(lambda: _changes(env), 60)
        granted = air.granted()["granted"]
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
        air.stop()
    assert answers == [200] * 5
    assert view is not None, f"{len(air.granted()['granted'])} of {len(wanted)} granted"
    assert granted == wanted  # every user once, none twice, none missing
    assert changes == {"fanned_out": 4.0, "duplicate": 1.0}


def _granted(air: Air, count: int) -> dict[str, Any] | None:
    view = air.granted()
    return view if len(view["granted"]) >= count else None


def _changes(env: dict[str, str]) -> dict[str, float] | None:
    samples = scrape(env["AIRMP_WEB_PORT"]) or {}
    found = by_label(samples, "airmp_audience_changes_total", "outcome")
    return found if sum(found.values()) >= 5 else None


def test_no_configured_secret_reaches_a_log_or_a_dead_letter(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = env_for(kafka_bootstrap, tmp_path)
    numbers = cards(3)
    air, worker, url = start(tmp_path, env, numbers)
    secrets = [fh.EXTERNAL_KEY, TOKEN, env["AIRMP_AIR_CLIENT_SECRET"]]
    hashed = fh.identity("other", "5f4dcc3b5aa765d61d8327deb882cf99", encoding="md5")
    message = fh.membership_request(
        [
            *entering(numbers, AUDIENCE),
            fh.profile([hashed], [fh.audience(AUDIENCE)]),
            # An identity no wallet has, that is a secret: AIR refuses it (stage reward).
            fh.profile([fh.identity("other", fh.EXTERNAL_KEY)], [fh.audience(AUDIENCE)]),
        ]
    )
    # A notification that is no JSON, carrying secrets (stage ingest).
    junk = f"not json {TOKEN} {env['AIRMP_AIR_CLIENT_SECRET']}".encode()
    try:
        asyncio.run(create_topics(kafka_bootstrap, [env["AIRMP_INPUT_TOPIC"]], 3))
        asyncio.run(produce(kafka_bootstrap, env["AIRMP_INPUT_TOPIC"], [(b"k", junk)]))
        assert post(url, message).status_code == 200
        letters = asyncio.run(consume(kafka_bootstrap, env["AIRMP_DEAD_LETTER_TOPIC"], 3, 120))
        shown = [airmp(["dead-letters", "show", "--stage", stage.value], env) for stage in Stage]
    finally:
        assert worker.stop() == 0, worker.log()[-3000:]
        air.stop()
    stages = sorted(m.header("airmp-stage") for m in letters)
    assert stages == ["firehose", "ingest", "reward"], worker.log()[-3000:]
    assert [done.returncode for done in shown] == [0] * len(Stage)
    assert "no_raw_identity" in shown[list(Stage).index(Stage.FIREHOSE)].stdout
    texts = [worker.log(), *(d.stdout + d.stderr for d in shown)]
    texts += [m.value.decode(errors="replace") for m in letters]
    texts += [v.decode(errors="replace") for m in letters for v in m.headers.values()]
    leaks = [(secret, text[:200]) for secret in secrets for text in texts if secret in text]
    assert leaks == []
