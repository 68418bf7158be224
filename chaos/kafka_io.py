"""The harness's steady producer; reading topics and offsets back is testkit.kafka's. All
of it runs on the harness's background event loop (see run.Background)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from chaos.load import Message
from testkit import kafka


@dataclass
class Production:
    """Shared with the main thread, which only reads it (ints and list slots: GIL-safe)."""

    total: int
    sent: int = 0
    acked: int = 0
    placed: list[tuple[int, int] | None] = field(default_factory=list)  # (partition, offset)
    finished: bool = False


async def produce(
    bootstrap: str, topic: str, messages: Sequence[Message], seconds: float, state: Production
) -> None:
    """Every message once, in order, spread evenly over `seconds`: a steady rate while the
    workers run. Idempotent with a long timeout, so a broker restart neither loses nor
    repeats nor reorders a message; a message that still fails fails the round."""
    state.placed = [None] * len(messages)
    producer = kafka.producer(
        bootstrap, enable_idempotence=True, request_timeout_ms=120_000, retry_backoff_ms=250
    )
    await producer.start()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        futures: list[asyncio.Future[object]] = []
        for i, message in enumerate(messages):
            wait = started + seconds * i / len(messages) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            future = await producer.send(topic, key=message.key, value=message.value)
            future.add_done_callback(lambda f, i=i: _placed(state, i, f))
            futures.append(future)
            state.sent = i + 1
        await asyncio.wait_for(producer.flush(), 180)
        for future in futures:
            future.result()  # raises the failure of any message
        state.finished = True
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
