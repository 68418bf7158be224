#!/usr/bin/env python3
"""`make demo`: the connector end to end on this machine, then a readable summary.

Starts the project's Kafka, the local mParticle endpoint and `airmp worker`; produces a
journey of AIR notifications for several wallets; waits until mParticle (local) accepted
every batch `airmp map` says the journey yields; prints what went in and what came out;
stops everything.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import journeys
import orjson
from aiokafka import AIOKafkaProducer
from localkafka import LocalKafka, free_port

ROOT = Path(__file__).resolve().parents[1]
AIRMP = str(Path(sys.executable).parent / "airmp")
KEY, SECRET = "demo-key", "demo-secret"
WALLETS = 6
TIMEOUT = 180.0


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


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> int:
    notifications = journeys.build(wallets=WALLETS, seed=7)
    work = Path(tempfile.mkdtemp(prefix="airmp-demo-"))
    endpoint = worker = None
    with LocalKafka() as kafka:
        port, web_port = free_port(), free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRMP_")},
            "AIRMP_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "AIRMP_APP_ID": "airmp-demo",
            "AIRMP_DATA_DIR": str(work / "data"),
            "AIRMP_WEB_PORT": str(web_port),
            "AIRMP_MPARTICLE_API_ENDPOINT": base,
            "AIRMP_MPARTICLE_API_KEY": KEY,
            "AIRMP_MPARTICLE_API_SECRET": SECRET,
            "AIRMP_MPARTICLE_ENVIRONMENT": "development",
            "AIRMP_CURRENCY": "GBP",
            "AIRMP_SINK_LINGER_SECONDS": "0.5",
        }
        records = mapped(notifications, env)
        want_events = {
            e["data"]["source_message_id"] for r in records for e in r["batch"]["events"]
        }
        try:
            say(f"local mParticle endpoint on {base}")
            endpoint = subprocess.Popen(
                [AIRMP, "mock-mparticle", "--port", str(port), "--record", str(work / "acc.jsonl")],
                env=env,
                stdout=open(work / "endpoint.log", "wb"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
            )
            say(f"worker on Kafka {kafka.bootstrap} (log: {work / 'worker.log'})")
            worker = subprocess.Popen(
                [AIRMP, "worker"],
                env=env,
                cwd=ROOT,
                stdout=open(work / "worker.log", "wb"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
            )
            say(f"producing {len(notifications)} AIR notifications for {WALLETS} wallets")
            started = time.monotonic()
            asyncio.run(produce(kafka.bootstrap, "air-notifications", notifications))
            batches = wait_accepted(base, want_events, started)
            summarise(notifications, records, batches, env)
            say(
                f"demo ok: {len(notifications)} AIR events in, "
                f"{len(batches)} batches accepted by mParticle (local)"
            )
            return 0
        except BaseException:
            if worker is not None:
                say((work / "worker.log").read_text(errors="replace")[-4000:])
            raise
        finally:
            stop(worker)
            stop(endpoint)


def summarise(
    notifications: list[bytes],
    records: list[dict[str, Any]],
    batches: list[dict[str, Any]],
    env: dict[str, str],
) -> None:
    events_in = Counter(orjson.loads(n)["headers"]["eventName"] for n in notifications)
    events_out: Counter[str] = Counter()
    for record in records:
        events_out[record["air"]["event_name"]] += len(record["batch"]["events"])
    say("\nAIR eventName                          events in   mParticle events out")
    for name in sorted(events_in):
        say(f"  {name:<38} {events_in[name]:>7}   {events_out.get(name, 0):>8}")
    wallet = records[-1]["air"]["wallet_id"] if records else ""
    wallet = next(
        (r["air"]["wallet_id"] for r in records if r["batch"].get("user_attributes")), wallet
    )
    id_type = "customer_id" if "AIRMP_MPARTICLE_WALLET_ID_TYPE" not in env else ""
    profile = profile_of(batches, wallet, id_type or env["AIRMP_MPARTICLE_WALLET_ID_TYPE"])
    say(f"\nwallet {wallet} as mParticle (local) now holds it:")
    for name, value in sorted(profile.items()):
        say(f"  {name:<30} {value}")
    say("")


if __name__ == "__main__":
    sys.exit(main())
