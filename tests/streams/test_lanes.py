"""Lanes: one key's jobs in order, other keys not held up, at most `limit` pending."""

from __future__ import annotations

import asyncio

from streams.lanes import Lanes


async def test_one_keys_jobs_run_in_order_and_other_keys_do_not_wait() -> None:
    lanes = Lanes(limit=10)
    log: list[str] = []
    release_a1 = asyncio.Event()

    async def job(name: str, gate: asyncio.Event | None = None) -> None:
        log.append(f"start {name}")
        if gate is not None:
            await gate.wait()
        log.append(f"end {name}")

    await lanes.submit("a", lambda: job("a1", release_a1))
    await lanes.submit("a", lambda: job("a2"))
    await lanes.submit("b", lambda: job("b1"))
    await asyncio.sleep(0)
    for _ in range(5):
        await asyncio.sleep(0)
    # b1 ran to its end while a1 is held; a2 waits behind a1.
    assert log == ["start a1", "start b1", "end b1"]
    release_a1.set()
    await lanes.join()
    assert log == ["start a1", "start b1", "end b1", "end a1", "start a2", "end a2"]
    assert lanes.pending == 0


async def test_a_failing_job_neither_stops_its_lane_nor_reaches_the_caller() -> None:
    lanes = Lanes(limit=4)
    done: list[int] = []

    async def fail() -> None:
        raise RuntimeError("boom")

    async def ok() -> None:
        done.append(1)

    await lanes.submit("k", fail)
    await lanes.submit("k", ok)
    await lanes.join()
    assert done == [1]


async def test_submit_waits_while_limit_jobs_are_pending() -> None:
    lanes = Lanes(limit=2)
    gate = asyncio.Event()

    async def held() -> None:
        await gate.wait()

    await lanes.submit("a", held)
    await lanes.submit("b", held)
    third = asyncio.create_task(lanes.submit("c", held))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not third.done() and lanes.pending == 2
    gate.set()
    await third
    await lanes.join()
    assert lanes.pending == 0


async def test_cancel_ends_every_pending_job() -> None:
    lanes = Lanes(limit=4)
    never = asyncio.Event()

    async def held() -> None:
        await never.wait()

    await lanes.submit("a", held)
    await lanes.submit("a", held)
    await lanes.cancel()
    assert lanes.pending == 0
