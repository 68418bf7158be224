"""Client-side pacing: a rate limit in batches per second, and the shared 429 pause."""

from __future__ import annotations

import asyncio
import math
from collections import deque


def _now() -> float:
    return asyncio.get_running_loop().time()


class RateLimiter:
    """A token bucket whose tokens come back one window after they are spent.

    A classic refilling bucket lets `capacity + rate` batches through in some one-second
    span; returning each token exactly one window after use means no `window` seconds ever
    see more than `capacity` batches start, which is how a server counts.
    """

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.capacity = max(1, math.floor(rate))
        self.window = self.capacity / rate
        self._spent: deque[tuple[float, int]] = deque()
        self._used = 0
        self._lock = asyncio.Lock()  # first come, first served

    async def acquire(self, n: int) -> float:
        """Take n tokens (n is capped at capacity); returns the seconds waited."""
        n = min(n, self.capacity)
        waited = 0.0
        async with self._lock:
            while True:
                now = _now()
                while self._spent and self._spent[0][0] + self.window <= now:
                    self._used -= self._spent.popleft()[1]
                if self._used + n <= self.capacity:
                    self._spent.append((now, n))
                    self._used += n
                    return waited
                need, freed, until = self._used + n - self.capacity, 0, now
                for spent_at, count in self._spent:
                    freed += count
                    until = spent_at + self.window
                    if freed >= need:
                        break
                delay = max(until - now, 0.0)
                await asyncio.sleep(delay)
                waited += delay


class PauseGate:
    """After a 429 nothing new is sent until the pause ends; the longest pause wins."""

    def __init__(self) -> None:
        self._until = 0.0

    def pause(self, seconds: float) -> None:
        self._until = max(self._until, _now() + seconds)

    @property
    def paused(self) -> bool:
        return self._until > _now()

    async def wait(self) -> float:
        waited = 0.0
        while (delay := self._until - _now()) > 0:
            await asyncio.sleep(delay)
            waited += delay
        return waited
