"""SERVICE.TRIGGER notifications, emitted like AIR: to a Kafka topic and/or a webhook URL,
in grant order, each retried until it is taken."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Sequence
from typing import Protocol

import httpx
from aiokafka import AIOKafkaProducer

from sinks.backoff import backoff_delay
from testkit.errors import NotificationRefused
from testkit.kafka import producer

log = logging.getLogger(__name__)

# --- emission ---------------------------------------------------------------------------------


class Target(Protocol):
    name: str

    async def send(self, key: bytes, value: bytes) -> None:
        """Deliver, or raise: `NotificationRefused` drops the notification, anything else
        is retried."""

    async def close(self) -> None: ...


class KafkaTarget:
    """Produce to a topic, keyed by walletId, acks=all (testkit.kafka's producer)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.name = f"kafka:{topic}"
        self._bootstrap, self._topic = bootstrap, topic
        self._producer: AIOKafkaProducer | None = None

    async def send(self, key: bytes, value: bytes) -> None:
        if self._producer is None:
            candidate = producer(self._bootstrap, enable_idempotence=True)
            try:
                await candidate.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await candidate.stop()
                raise
            self._producer = candidate
        await self._producer.send_and_wait(self._topic, key=key, value=value)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


class WebhookTarget:
    """POST each notification to a URL (the AIR webhook edge), with an X-Auth-Token."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 10.0) -> None:
        self.name = url
        self._url = url
        headers = {"Content-Type": "application/json"}
        if token:
            headers["X-Auth-Token"] = token
        self._client = httpx.AsyncClient(timeout=timeout, headers=headers)

    def __repr__(self) -> str:
        return f"WebhookTarget({self._url!r})"

    async def send(self, key: bytes, value: bytes) -> None:
        response = await self._client.post(self._url, content=value)
        status = response.status_code
        if 200 <= status < 300:
            return
        if 400 <= status < 500 and status not in (408, 429):
            raise NotificationRefused(f"{self._url} answered {status}: {response.text[:300]}")
        raise RuntimeError(f"{self._url} answered {status}")

    async def close(self) -> None:
        await self._client.aclose()


class Emitter:
    """Delivers notifications to every target, one at a time in grant order (so a wallet's
    notifications stay in order), each retried with capped backoff until it is taken."""

    def __init__(self, targets: Sequence[Target], *, base: float = 0.2, cap: float = 5.0) -> None:
        self.targets = list(targets)
        self._queue: asyncio.Queue[tuple[bytes, bytes]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._base, self._cap = base, cap
        self.delivered = 0
        self.refused: list[str] = []

    def put(self, wallet_id: str, notification: bytes) -> None:
        if self.targets:
            self._queue.put_nowait((wallet_id.encode(), notification))

    async def start(self) -> None:
        if self.targets and self._task is None:
            self._task = asyncio.create_task(self._run(), name="local-air-emitter")

    async def drain(self) -> None:
        """Until every notification put so far is delivered (or refused)."""
        await self._queue.join()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for target in self.targets:
            with contextlib.suppress(Exception):
                await target.close()

    async def _run(self) -> None:
        while True:
            key, value = await self._queue.get()
            try:
                for target in self.targets:
                    await self._deliver(target, key, value)
                self.delivered += 1
            finally:
                self._queue.task_done()

    async def _deliver(self, target: Target, key: bytes, value: bytes) -> None:
        for attempt in itertools.count(1):
            try:
                await target.send(key, value)
                return
            except NotificationRefused as refused:
                log.error("local AIR: %s refused a notification: %s", target.name, refused)
                self.refused.append(str(refused))
                return
            except Exception as exc:
                delay = backoff_delay(attempt, base=self._base, cap=self._cap)
                log.warning(
                    "local AIR: emitting to %s failed (%s); retry in %.2fs",
                    target.name,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)


def targets_for(
    *,
    emit_bootstrap: str | None = None,
    emit_topic: str | None = None,
    emit_url: str | None = None,
    emit_token: str | None = None,
) -> list[Target]:
    """The emission targets the options name: a Kafka topic and/or a webhook URL."""
    if bool(emit_bootstrap) != bool(emit_topic):
        raise ValueError("emitting to Kafka needs both a bootstrap server and a topic")
    found: list[Target] = []
    if emit_bootstrap and emit_topic:
        found.append(KafkaTarget(emit_bootstrap, emit_topic))
    if emit_url:
        found.append(WebhookTarget(emit_url, emit_token))
    return found
