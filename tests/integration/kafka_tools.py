"""Test helpers on a real broker: unique names, produce, consume until done, run workers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[2]
AIRMP = str(Path(sys.executable).parent / "airmp")


@dataclass
class Message:
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    partition: int
    offset: int


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, items: Iterable[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=8 * 1024 * 1024
    )
    await producer.start()
    try:
        for key, value in items:
            await producer.send(topic, key=key, value=value)
        await producer.flush()
    finally:
        await producer.stop()


async def consume(
    bootstrap: str, topic: str, count: int, timeout: float = 90.0, settle: float = 0.0
) -> list[Message]:
    """Read `topic` from the start until `count` messages (then `settle` s more), or timeout."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    found: list[Message] = []
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            if settle_until is None and len(found) >= count:
                settle_until = time.monotonic() + settle
            if settle_until is not None and time.monotonic() >= settle_until:
                break
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    headers = {k: bytes(v) for k, v in (r.headers or ())}
                    found.append(Message(r.key, r.value or b"", headers, r.partition, r.offset))
    finally:
        await consumer.stop()
    return found


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await consumer.topics()  # fetch metadata
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        ends = await consumer.end_offsets(tps)
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        # aiokafka's group-less consumer can raise CancelledError from its own stop().
        with contextlib.suppress(asyncio.CancelledError):
            await consumer.stop()


@dataclass
class Worker:
    """`airmp worker` in a subprocess, configured only through AIRMP_ variables."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    extra_args: list[str] = field(default_factory=list)

    def start(self) -> Worker:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [AIRMP, "worker", "--without-web", *self.extra_args]
            if self.env.get("AIRMP_WEB_DISABLED")
            else [AIRMP, "worker", *self.extra_args],
            env={**os.environ, **self.env},
            cwd=self.env.get("AIRMP_TEST_CWD", str(ROOT)),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        process, self.process = self.process, None
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def worker_env(bootstrap: str, tmp: Path, **overrides: str) -> dict[str, str]:
    """Settings for one test's worker: its own app id, topics and data dir."""
    app_id = unique("t")
    env = {
        "AIRMP_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "AIRMP_APP_ID": app_id,
        "AIRMP_INPUT_TOPIC": f"{app_id}-air",
        "AIRMP_RECORDS_TOPIC": f"{app_id}-records",
        "AIRMP_DEAD_LETTER_TOPIC": f"{app_id}-dlq",
        "AIRMP_TOPIC_PARTITIONS": "3",
        "AIRMP_STORE": "memory://",
        "AIRMP_DATA_DIR": str(tmp / "data"),
        "AIRMP_WEB_PORT": str(free_port()),
        "AIRMP_LOG_LEVEL": "info",
        "AIRMP_KAFKA_SESSION_TIMEOUT_SECONDS": "8",  # a killed worker's partitions move fast
        "AIRMP_IDENTITY_TYPE": "CARD",
        "AIRMP_CURRENCY": "GBP",
        "AIRMP_MPARTICLE_ENVIRONMENT": "development",
    }
    env.update(overrides)
    return env


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


@dataclass
class Endpoint:
    """`airmp mock-mparticle` in a subprocess on a free loopback port."""

    log_path: Path
    api_key: str = "it-key"
    api_secret: str = "it-secret"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Endpoint:
        import httpx

        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        env = {
            **os.environ,
            "AIRMP_MPARTICLE_API_KEY": self.api_key,
            "AIRMP_MPARTICLE_API_SECRET": self.api_secret,
        }
        self.process = subprocess.Popen(
            [AIRMP, "mock-mparticle", "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.base_url}/_mock/health", timeout=1).raise_for_status()
                return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"local endpoint did not start: {self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def accepted(self) -> dict[str, list[dict[str, object]]]:
        import httpx

        return httpx.get(f"{self.base_url}/_mock/accepted", timeout=10).json()  # type: ignore[no-any-return]

    def faults(self, **changes: object) -> None:
        import httpx

        httpx.post(f"{self.base_url}/_mock/faults", json=changes, timeout=10).raise_for_status()

    def env(self) -> dict[str, str]:
        """Worker settings that point the sink here."""
        return {
            "AIRMP_MPARTICLE_API_ENDPOINT": self.base_url,
            "AIRMP_MPARTICLE_API_KEY": self.api_key,
            "AIRMP_MPARTICLE_API_SECRET": self.api_secret,
            "AIRMP_SINK_LINGER_SECONDS": "0.3",
            "AIRMP_SINK_ENABLED": "true",
        }

    def wait_for_events(
        self, ids: set[str], timeout: float = 120
    ) -> dict[str, list[dict[str, object]]]:
        """Until every mParticle event id in `ids` was accepted (or timeout): the last view."""
        deadline = time.monotonic() + timeout
        while True:
            view = self.accepted()
            seen = {
                e["data"]["source_message_id"]  # type: ignore[index]
                for b in view["batches"]
                for e in b.get("events", [])  # type: ignore[attr-defined]
            }
            if ids <= seen or time.monotonic() > deadline:
                return view
            time.sleep(0.3)
