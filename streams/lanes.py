"""Jobs by key: one key's jobs one after another, different keys side by side.

The reward agent reads one partition in order, but a customer whose reward AIR keeps
answering 503 must not hold every other customer up. Each job runs in a task of its own,
after the previous job of its key; at most `limit` jobs are pending, so a backlog waits
in Kafka, not in memory. A task copies the context it was created in, so a job sees the
event Faust was processing when it was submitted (table writes go to its partition).
Hand-rolled: asyncio has no keyed queue, and a queue per key would need a consumer task
per key for ever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable


class Lanes:
    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._tails: dict[Hashable, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, key: Hashable, job: Callable[[], Awaitable[None]]) -> None:
        """Run `job()` after the key's previous job; waits while `limit` jobs are pending.
        A job's exception is its own: it neither stops the lane nor reaches the caller."""
        await self._slots.acquire()
        task = asyncio.create_task(self._after(self._tails.get(key), job))
        self._tails[key] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._finished(key, done))

    @staticmethod
    async def _after(
        previous: asyncio.Task[None] | None, job: Callable[[], Awaitable[None]]
    ) -> None:
        if previous is not None:
            await asyncio.wait({previous})
        await job()

    def _finished(self, key: Hashable, task: asyncio.Task[None]) -> None:
        self._slots.release()
        self._tasks.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def join(self) -> None:
        """Until every submitted job is done."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
