"""Client-side pacing: a rate limit in batches per second, and the shared 429 pause.

Both read the time and wait through a `Clock`: the running loop's in production
(`LOOP_CLOCK`), a fake one in tests, so a test of a 2 s pause does not sleep for 2 s.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds, and a sleep measured in them."""

    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The running event loop's clock and `asyncio.sleep`."""

    def time(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


LOOP_CLOCK = LoopClock()


class RateLimiter:
    """A token bucket in batches: a request holds its tokens while in flight, and they come
    back one window after its response.

    mParticle counts batches as they *arrive*. Every batch that arrives within some window
    took its token before the window ended and returns it after, so all of them held tokens at
    once: no window ever sees more than `capacity` batches, however requests in flight bunch
    up. (Returning tokens a window after the *start* bounds starts only; arrivals of
    concurrent requests could then exceed the rate.)
    """

    def __init__(self, rate: float, clock: Clock = LOOP_CLOCK) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.capacity = max(1, math.floor(rate))
        self.window = self.capacity / rate
        self._clock = clock
        self._held = 0  # tokens of requests still in flight
        self._cooling: deque[tuple[float, int]] = deque()  # (free at, tokens), oldest first
        self._cooling_total = 0
        self._returned = asyncio.Event()
        self._lock = asyncio.Lock()  # first come, first served

    def _n(self, n: int) -> int:
        return min(n, self.capacity)

    async def acquire(self, n: int) -> float:
        """Take n tokens (n is capped at capacity) until `release(n)`; returns seconds waited."""
        n = self._n(n)
        waited = 0.0
        async with self._lock:
            while True:
                now = self._clock.time()
                while self._cooling and self._cooling[0][0] <= now:
                    self._cooling_total -= self._cooling.popleft()[1]
                if self._held + self._cooling_total + n <= self.capacity:
                    self._held += n
                    return waited
                # Wait for the oldest cooling tokens, or for a request in flight to end.
                delay = self._cooling[0][0] - now if self._cooling else None
                self._returned.clear()
                await self._returned_or_slept(delay)
                waited += self._clock.time() - now

    async def _returned_or_slept(self, delay: float | None) -> None:
        """Until `release()` or `delay` seconds on the clock, whichever comes first."""
        if delay is None:
            await self._returned.wait()
            return
        returned = asyncio.ensure_future(self._returned.wait())
        slept = asyncio.ensure_future(self._clock.sleep(delay))
        try:
            await asyncio.wait((returned, slept), return_when=asyncio.FIRST_COMPLETED)
        finally:
            returned.cancel()
            slept.cancel()

    def release(self, n: int) -> None:
        """The request that took n tokens got its answer: they cool for one window."""
        n = self._n(n)
        self._held -= n
        self._cooling.append((self._clock.time() + self.window, n))
        self._cooling_total += n
        self._returned.set()


class PauseGate:
    """After a 429 nothing new is sent until the pause ends; the longest pause wins."""

    def __init__(self, clock: Clock = LOOP_CLOCK) -> None:
        self._clock = clock
        self._until = 0.0

    def pause(self, seconds: float) -> None:
        self._until = max(self._until, self._clock.time() + seconds)

    @property
    def paused(self) -> bool:
        return self._until > self._clock.time()

    async def wait(self) -> float:
        waited = 0.0
        while (delay := self._until - self._clock.time()) > 0:
            await self._clock.sleep(delay)
            waited += delay
        return waited
