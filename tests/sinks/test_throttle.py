"""The rate limiter bounds batches per window as the server counts them: by arrival."""

from __future__ import annotations

import asyncio
import random

from sinks.throttle import RateLimiter


async def test_no_window_of_arrivals_exceeds_the_rate() -> None:
    limiter = RateLimiter(20)  # 20 batches per 1 s window
    rng = random.Random(7)
    arrivals: list[tuple[float, int]] = []
    loop = asyncio.get_running_loop()

    async def request(n: int) -> None:
        await limiter.acquire(n)
        try:
            duration = rng.uniform(0.0, 0.4)
            # The server sees the request at some moment while it is in flight.
            await asyncio.sleep(rng.uniform(0.0, duration))
            arrivals.append((loop.time(), n))
            await asyncio.sleep(duration)
        finally:
            limiter.release(n)

    slots = asyncio.Semaphore(4)  # requests in flight at once, as in the sink

    async def one(n: int) -> None:
        async with slots:
            await request(n)

    started = loop.time()
    await asyncio.gather(*(one(5) for _ in range(16)))  # 80 batches
    elapsed = loop.time() - started

    arrivals.sort()
    busiest = max(
        sum(n for t, n in arrivals if start <= t < start + limiter.window) for start, _ in arrivals
    )
    assert busiest <= limiter.capacity
    assert sum(n for _, n in arrivals) == 80
    # 80 batches at 20 per window need at least 3 windows after the first 20.
    assert elapsed >= 3 * limiter.window


async def test_a_request_larger_than_capacity_takes_the_whole_bucket() -> None:
    limiter = RateLimiter(10)
    assert await limiter.acquire(50) == 0.0  # capped at capacity, nothing waited
    waiter = asyncio.create_task(limiter.acquire(1))
    await asyncio.sleep(0.05)
    assert not waiter.done()  # everything is in flight
    limiter.release(50)
    waited = await asyncio.wait_for(waiter, timeout=5)
    assert waited >= limiter.window * 0.9  # the tokens cooled for a window first
