#!/usr/bin/env python3
"""`make demo`: the connector end to end on this machine, then a readable summary.

Starts the project's Kafka, the local mParticle endpoint, the local AIR and `airmp worker`;
produces a journey of AIR notifications for several wallets; waits until mParticle (local)
accepted every batch `airmp map` says the journey yields; prints what went in and what came
out. Then the loop, through the real HTTP edges: a consumer joins in AIR (the demo posts
the notification to the AIR webhook, playing AIR), `ee_loyalty_program_joined` reaches
mParticle, the demo (playing mParticle) puts the user into an audience connected with
WELCOME5000, AIR (local) grants 5,000 points and posts SERVICE.TRIGGER back, and
mParticle shows the user's points_balance 5,000 higher. Stops everything.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from testkit import firehose, journeys
from testkit.cases import CASES
from testkit.localkafka import LocalKafka
from testkit.processes import Air, Endpoint, Worker, free_port, http_status, poll

ROOT = Path(__file__).resolve().parents[1]
AIRMP = str(Path(sys.executable).parent / "airmp")
KEY, SECRET = "demo-key", "demo-secret"
WEBHOOK_TOKEN, FIREHOSE_TOKEN = "demo-webhook-token", "demo-firehose-token"
WALLETS = 6
TIMEOUT = 180.0
LOOP_WALLET = 900_777  # the consumer who joins in the loop
AUDIENCE = 4242
WELCOME_POINTS = 5000


def say(message: str) -> None:
    print(message, flush=True)


def mapped(notifications: list[bytes], env: dict[str, str]) -> list[dict[str, Any]]:
    """What the journey must yield, from `airmp map` with the worker's own settings."""
    out = subprocess.run(
        [AIRMP, "map"], input=b"\n".join(notifications), capture_output=True, env=env, check=True
    )
    return [orjson.loads(line) for line in out.stdout.splitlines()]


async def produce(bootstrap: str, topic: str, notifications: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for n in notifications:
            # One key per wallet keeps its events in order; the worker re-keys by walletId.
            await producer.send(topic, key=journeys.producer_key(n), value=n)
        await producer.flush()
    finally:
        await producer.stop()


def wait_accepted(base: str, want_events: set[str], started: float) -> list[dict[str, Any]]:
    """Poll the endpoint until every expected mParticle event has arrived; show progress."""
    last = -1
    while True:
        body = httpx.get(f"{base}/_mock/accepted", timeout=10).json()
        batches = body["batches"]
        seen = {e["data"]["source_message_id"] for b in batches for e in b.get("events", [])}
        done = len(want_events & seen)
        if done != last:
            say(f"  mParticle (local) has {done}/{len(want_events)} events, {len(batches)} batches")
            last = done
        if done == len(want_events):
            return list(batches)
        if time.monotonic() - started > TIMEOUT:
            raise SystemExit(f"demo failed: only {done}/{len(want_events)} events in {TIMEOUT}s")
        time.sleep(0.5)


def profile_of(batches: list[dict[str, Any]], wallet_id: str, id_type: str) -> dict[str, str]:
    """The profile as mParticle now holds it: user attributes folded in arrival order."""
    profile: dict[str, str] = {}
    for batch in batches:
        if batch.get("user_identities", {}).get(id_type) != wallet_id:
            continue
        for name in batch.get("deleted_user_attributes") or []:
            profile.pop(name, None)
        profile.update(batch.get("user_attributes") or {})
    return profile


def main() -> int:
    notifications = journeys.build(wallets=WALLETS, seed=7)
    work = Path(tempfile.mkdtemp(prefix="airmp-demo-"))
    with LocalKafka() as kafka:
        endpoint = Endpoint(log_path=work / "endpoint.log", api_key=KEY, api_secret=SECRET)
        web_port = free_port()
        air = Air(
            work / "air.log",
            emit_url=f"http://127.0.0.1:{web_port}/air/notifications",
            emit_token=WEBHOOK_TOKEN,
        )
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRMP_")},
            **endpoint.env(),
            **air.env(),
            "AIRMP_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "AIRMP_APP_ID": "airmp-demo",
            "AIRMP_DATA_DIR": str(work / "data"),
            "AIRMP_WEB_PORT": str(web_port),
            "AIRMP_MPARTICLE_ENVIRONMENT": "development",
            "AIRMP_CURRENCY": "GBP",
            "AIRMP_CONNECTOR_ID": firehose.CONNECTOR_ID,
            "AIRMP_EXTERNAL_KEY": firehose.EXTERNAL_KEY,
            "AIRMP_MPARTICLE_FIREHOSE_TOKEN": FIREHOSE_TOKEN,
            "AIRMP_AIR_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        }
        records = mapped(notifications, env)
        want_events = {e["data"]["source_message_id"] for r in records for e in events_of(r)}
        worker = Worker(env=env, log_path=work / "worker.log")
        try:
            endpoint.start()
            say(f"local mParticle endpoint on {endpoint.base_url}")
            air.start()
            say(f"local AIR on {air.base_url} (SERVICE.TRIGGER to the worker's AIR webhook)")
            worker.start()
            say(f"worker on Kafka {kafka.bootstrap} (log: {worker.log_path})")
            say(f"producing {len(notifications)} AIR notifications for {WALLETS} wallets")
            started = time.monotonic()
            asyncio.run(produce(kafka.bootstrap, "air-notifications", notifications))
            batches = wait_accepted(endpoint.base_url, want_events, started)
            summarise(notifications, records, batches, env)
            loop_events = the_loop(f"http://127.0.0.1:{web_port}", endpoint, air)
            batches = endpoint.accepted()["batches"]
            rewards = len(air.granted()["grants"])
        except BaseException:
            say(worker.log()[-4000:])
            raise
        finally:
            status = worker.stop()
            air.stop()
            endpoint.stop()
        if status != 0:
            say(f"demo failed: the worker exited with {status}")
            return 1
        say(
            f"demo ok: {len(notifications) + loop_events} AIR events in, "
            f"{len(batches)} batches accepted by mParticle (local), "
            f"{rewards} rewards issued in AIR (local)"
        )
        return 0


def the_loop(worker_url: str, endpoint: Endpoint, air: Air) -> int:
    """The loop through the edges; the AIR events it sent in (the join, SERVICE.TRIGGER)."""
    say("the loop: AIR -> mParticle -> audience -> AIR reward -> mParticle")
    assert poll(lambda: http_status(f"{worker_url}/readyz") == 200, timeout=60), "not ready"
    joined = journeys.rewrite(
        CASES["SERVICE.WALLET.ACCOUNTS.CREATE"]()[0], LOOP_WALLET, "demo-join-1", datetime.now()
    )
    card = f"6301{LOOP_WALLET:012d}"
    air.tell([joined])  # AIR knows its own wallets: the local AIR learns this one here
    answer = httpx.post(
        f"{worker_url}/air/notifications", content=joined, headers={"X-Auth-Token": WEBHOOK_TOKEN}
    )
    say(f"  1. AIR posts SERVICE.WALLET.ACCOUNTS.CREATE for card {card}: {answer.status_code}")
    before = wait_profile(endpoint, card, lambda p: "points_balance" in p)
    say(f"  2. mParticle (local) has ee_loyalty_program_joined: points_balance {before}")
    headers = {"Authorization": f"Token {FIREHOSE_TOKEN}"}
    subscribe = firehose.subscription_request(AUDIENCE, "WELCOME5000")
    answer = httpx.post(f"{worker_url}/mparticle/firehose", json=subscribe, headers=headers)
    say(f"  3. mParticle connects audience {AUDIENCE} with WELCOME5000: {answer.status_code}")
    change = firehose.membership_request(
        [firehose.profile([firehose.identity("other", card)], [firehose.audience(AUDIENCE)])]
    )
    answer = httpx.post(f"{worker_url}/mparticle/firehose", json=change, headers=headers)
    say(f"  4. the user enters the audience (Firehose membership change): {answer.status_code}")
    granted = poll(lambda: air.granted()["grants"], timeout=TIMEOUT)
    if not granted:
        raise SystemExit("demo failed: AIR (local) granted no reward")
    grant = granted[0]
    say(f"  5. AIR (local) grants {grant['points']} points (reference {grant['reference']})")
    after = wait_profile(endpoint, card, lambda p: int(p.get("points_balance", -1)) > before)
    say(f"  6. SERVICE.TRIGGER came back: mParticle (local) shows points_balance {after}")
    if after != before + WELCOME_POINTS:
        raise SystemExit(f"demo failed: points_balance {before} -> {after}")
    say(f"     {before} + {WELCOME_POINTS} = {after}\n")
    return 2


def wait_profile(endpoint: Endpoint, card: str, ready: Any) -> int:
    """The card's points_balance in mParticle (local) once `ready(profile)` holds."""

    def found() -> dict[str, str] | None:
        profile = profile_of(endpoint.accepted()["batches"], card, "other")
        return profile if ready(profile) else None

    profile = poll(found, timeout=TIMEOUT)
    if profile is None:
        raise SystemExit(f"demo failed: mParticle (local) never showed card {card} as expected")
    return int(profile["points_balance"])


def events_of(record: dict[str, Any]) -> list[dict[str, Any]]:
    return list(record["batch"]["events"])


def summarise(
    notifications: list[bytes],
    records: list[dict[str, Any]],
    batches: list[dict[str, Any]],
    env: dict[str, str],
) -> None:
    headers = [orjson.loads(n)["headers"] for n in notifications]
    events_in = Counter(h["eventName"] for h in headers)
    unique_in = Counter(h["eventName"] for h in {h["eesEventId"]: h for h in headers}.values())
    events_out: Counter[str] = Counter()
    for record in records:
        events_out[record["air"]["event_name"]] += len(record["batch"]["events"])
    say("\nAIR eventName                    events in (duplicates)   mParticle events out")
    for name in sorted(events_in):
        dupes = events_in[name] - unique_in[name]
        say(f"  {name:<32} {events_in[name]:>6} ({dupes:>2})            {events_out[name]:>6}")
    left = {r["air"]["wallet_id"] for r in records if r["batch"].get("deleted_user_attributes")}
    wallet = next(r["air"]["wallet_id"] for r in records if r["air"]["wallet_id"] not in left)
    profile = profile_of(batches, wallet, env.get("AIRMP_MPARTICLE_WALLET_ID_TYPE", "customer_id"))
    say(f"\nwallet {wallet} as mParticle (local) now holds it:")
    for name, value in sorted(profile.items()):
        say(f"  {name:<30} {value}")
    say(f"({len(left)} wallets left the programme: their profile attributes were deleted)\n")


if __name__ == "__main__":
    sys.exit(main())
