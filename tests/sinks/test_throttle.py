"""The rate limiter bounds batches per window as the server counts them: by arrival; the
pause gate holds every send until the longest pause ends. On a fake clock: exact times, no
real waiting."""

from __future__ import annotations

import asyncio
import random

import pytest

from sinks.throttle import LOOP_CLOCK, PauseGate, RateLimiter
from tests.sinks.fake_clock import FakeClock


async def test_no_window_of_arrivals_exceeds_the_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(20, clock)  # 20 batches per 1 s window
    rng = random.Random(7)
    arrivals: list[tuple[float, int]] = []

    async def request(n: int) -> None:
        await limiter.acquire(n)
        try:
            duration = rng.uniform(0.0, 0.4)
            # The server sees the request at some moment while it is in flight.
            await clock.sleep(rng.uniform(0.0, duration))
            arrivals.append((clock.time(), n))
            await clock.sleep(duration)
        finally:
            limiter.release(n)

    slots = asyncio.Semaphore(4)  # requests in flight at once, as in the sink

    async def one(n: int) -> None:
        async with slots:
            await request(n)

    async def all_of_them() -> None:
        await asyncio.gather(*(one(5) for _ in range(16)))  # 80 batches

    await clock.run(all_of_them())

    arrivals.sort()
    busiest = max(
        sum(n for t, n in arrivals if start <= t < start + limiter.window) for start, _ in arrivals
    )
    assert busiest == limiter.capacity == 20  # full windows, never more
    assert sum(n for _, n in arrivals) == 80
    # 80 batches at 20 per window need at least 3 windows after the first 20.
    assert clock.now >= 3 * limiter.window


async def test_a_request_larger_than_capacity_takes_the_whole_bucket() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, clock)

    async def scenario() -> tuple[float, float]:
        first = await limiter.acquire(50)  # capped at capacity
        waiter = asyncio.ensure_future(limiter.acquire(1))
        await clock.sleep(0.5)  # the big request is in flight for 0.5 s
        assert not waiter.done()  # everything is in flight
        limiter.release(50)
        return first, await waiter

    first, waited = await clock.run(scenario())
    # Nothing waited first; then 0.5 s in flight and the tokens cooled for a 1 s window.
    assert (first, waited, clock.now) == (0.0, 1.5, 1.5)


async def test_a_fractional_rate_has_a_longer_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.5, clock)
    assert (limiter.capacity, limiter.window) == (2, 0.8)

    async def scenario() -> list[float]:
        waits = [await limiter.acquire(2)]
        limiter.release(2)  # answered at once: the tokens come back at 0.8
        waits.append(await limiter.acquire(1))
        waits.append(await limiter.acquire(1))
        limiter.release(1)
        limiter.release(1)
        waits.append(await limiter.acquire(2))
        return waits

    assert await clock.run(scenario()) == [0.0, 0.8, 0.0, 0.8]
    assert clock.now == 1.6


async def test_a_pause_holds_until_it_ends_and_the_longest_wins() -> None:
    clock = FakeClock()
    gate = PauseGate(clock)
    assert (gate.paused, await clock.run(gate.wait())) == (False, 0.0)
    gate.pause(2.0)
    gate.pause(1.0)  # shorter: changes nothing
    assert gate.paused
    assert await clock.run(gate.wait()) == 2.0
    assert (clock.now, gate.paused) == (2.0, False)


async def test_a_pause_that_grows_while_waiting_is_waited_in_full() -> None:
    clock = FakeClock()
    gate = PauseGate(clock)

    async def scenario() -> float:
        gate.pause(2.0)
        waiter = asyncio.ensure_future(gate.wait())
        await clock.sleep(1.0)
        gate.pause(3.0)  # a second 429 at t=1: nothing is sent before t=4
        return await waiter

    assert await clock.run(scenario()) == 4.0
    assert clock.now == 4.0


async def test_the_fake_clock_reports_a_deadlock() -> None:
    with pytest.raises(RuntimeError, match="deadlock"):
        await FakeClock().run(asyncio.Event().wait())


def test_production_runs_on_the_loops_clock() -> None:
    assert RateLimiter(1)._clock is LOOP_CLOCK
    assert PauseGate()._clock is LOOP_CLOCK
