"""The edges' own Kafka producer: idempotent, acks=all, and awaited before answering.

The edges answer an HTTP caller only once Kafka has what it sent, so the caller may retry
anything unanswered and nothing is lost. Faust's producer is not idempotent and buffers
until its next flush; this one is a plain aiokafka producer, started with the worker and
retried until the broker answers. When Kafka cannot take a message in time, `send` raises
`KafkaUnavailable` and the edge answers 429 (the caller retries); a message that did land
meanwhile is a duplicate the worker drops (same eesEventId, same reward reference).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from config import Settings
from streams.errors import KafkaUnavailable
from streams.kafka import PRODUCE_TIMEOUT_MS, aiokafka_options

log = logging.getLogger("airmp.edges")
START_RETRY_SECONDS = 2.0


class EdgeProducer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._starting: asyncio.Task[None] | None = None
        # For readiness: why it cannot send yet (not connected at start). A send that times
        # out later is answered 429 but leaves readiness to the broker check, which sees
        # the broker come back (a past failure must not keep the worker unready).
        self.problem: str | None = "not started"

    def start_soon(self) -> None:
        """Start connecting, once, without waiting (the web server's start-up)."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self.start())

    async def start(self) -> None:
        """Until the producer is connected (the broker may be down at start)."""
        while self._producer is None:
            producer = AIOKafkaProducer(
                **aiokafka_options(self._settings),
                acks="all",
                enable_idempotence=True,
                max_request_size=self._settings.kafka_max_bytes,
                request_timeout_ms=PRODUCE_TIMEOUT_MS,
                linger_ms=2,
            )
            try:
                await producer.start()
            except KafkaError as exc:
                await producer.stop()
                self.problem = f"cannot connect: {type(exc).__name__}"
                await asyncio.sleep(START_RETRY_SECONDS)
                continue
            self._producer = producer
            self.problem = None
            log.info("edges: producer connected")

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def send_all(
        self, messages: list[tuple[str, bytes | None, bytes, Mapping[str, bytes] | None]]
    ) -> None:
        """Every (topic, key, value, headers) at once: one wait for Kafka, not one each."""
        await asyncio.gather(*(self.send(*message) for message in messages))

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        """Once Kafka acknowledged it (acks=all); `KafkaUnavailable` otherwise."""
        if self._producer is None:
            raise KafkaUnavailable(self.problem or "not started")
        pairs = list((headers or {}).items())
        sent = self._producer.send_and_wait(topic, value=value, key=key, headers=pairs)
        try:
            await asyncio.wait_for(sent, self._settings.edge_kafka_timeout_seconds)
        except (TimeoutError, KafkaError) as exc:
            raise KafkaUnavailable(
                f"Kafka did not acknowledge in time: {type(exc).__name__}"
            ) from exc
