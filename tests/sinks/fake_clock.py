"""A fake `sinks.throttle.Clock`: time moves only when every task is waiting, so a test of
a 2 s pause takes no real time and sees exact times."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class FakeClock:
    """`run(coroutine)` drives the coroutine to its end; whenever nothing else on the loop
    can run, the time jumps to the earliest sleeper's deadline and wakes it.

    "Nothing else can run" is asyncio's own ready queue being empty, as time-travelling test
    loops (looptime, aiotools) judge it: exact, where yielding N times would only guess.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()  # equal deadlines wake in the order they slept

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), next(self._order), wake))
        await wake  # a cancelled sleeper is skipped when its turn comes

    async def run(self, awaitable: Awaitable[T]) -> T:
        task = asyncio.ensure_future(awaitable)
        while True:
            await _until_idle()
            if task.done():
                return task.result()
            self._wake_next()

    def _wake_next(self) -> None:
        while self._sleepers:
            deadline, _, wake = heapq.heappop(self._sleepers)
            if not wake.done():
                self.now = max(self.now, deadline)
                wake.set_result(None)
                return
        raise RuntimeError("deadlock: nothing sleeps on the clock and nothing else can run")


async def _until_idle() -> None:
    """Yield until no other callback is ready on the loop (every task waits on something)."""
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)
    if ready is None:
        raise RuntimeError("FakeClock needs asyncio's own event loop")
    await asyncio.sleep(0)
    while ready:
        await asyncio.sleep(0)
