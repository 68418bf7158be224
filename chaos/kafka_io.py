"""The harness's steady producer; reading topics and offsets back is testkit.kafka's. All
of it runs on the harness's background event loop (see run.Background)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from chaos.load import KAFKA, Message
from testkit import kafka


@dataclass
class Production:
    """One stream's progress, shared with the main thread, which only reads it (ints, list
    slots and dict items: GIL-safe). Index i is the stream's message i, whichever way it
    went: produced to Kafka, or posted to an edge (chaos/edges.py)."""

    total: int
    sent: int = 0
    acked: int = 0  # produced and acknowledged, or posted and answered 200
    placed: list[tuple[int, int] | None] = field(default_factory=list)  # (partition, offset)
    posted: dict[int, str] = field(default_factory=dict)  # how an edge took it, in words

    def __post_init__(self) -> None:
        self.placed = [None] * self.total


async def produce(
    bootstrap: str, topic: str, messages: Sequence[Message], seconds: float, state: Production
) -> None:
    """Every message routed to Kafka once, in order, at its place in the stream spread
    evenly over `seconds` (the rest are posted to the edges at theirs): a steady rate while
    the workers run. Idempotent with a long timeout, so a broker restart neither loses nor
    repeats nor reorders a message; a message that still fails fails the round."""
    producer = kafka.producer(
        bootstrap, enable_idempotence=True, request_timeout_ms=120_000, retry_backoff_ms=250
    )
    await producer.start()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        futures: list[asyncio.Future[object]] = []
        for i, message in enumerate(messages):
            if message.route != KAFKA:
                continue
            wait = started + seconds * i / len(messages) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            future = await producer.send(topic, key=message.key, value=message.value)
            future.add_done_callback(lambda f, i=i: _placed(state, i, f))
            futures.append(future)
            state.sent += 1
        await asyncio.wait_for(producer.flush(), 180)
        for future in futures:
            future.result()  # raises the failure of any message
    finally:
        await producer.stop()


async def produce_all(
    bootstrap: str, streams: Sequence[tuple[str, Sequence[Message], Production]], seconds: float
) -> None:
    """Each (topic, messages, state) as `produce` does, side by side over the same seconds:
    the notifications and the reward requests at their own steady rates."""
    await asyncio.gather(
        *(produce(bootstrap, topic, messages, seconds, state) for topic, messages, state in streams)
    )


def _placed(state: Production, index: int, future: asyncio.Future[object]) -> None:
    if not future.cancelled() and future.exception() is None:
        meta = future.result()
        state.placed[index] = (meta.partition, meta.offset)  # type: ignore[attr-defined]
        state.acked += 1
