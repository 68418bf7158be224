"""Leaving without committing what a delivery target has not yet accepted.

Faust's shutdown waits for every event an agent took to be acked. The sink and reward
agents must not complete an event mParticle or AIR has not accepted, so on SIGTERM they
give an unfinished delivery `AIRMP_SINK_SHUTDOWN_GRACE_SECONDS`, then commit what the
other agents finished and exit with status 75: the rest is delivered after the restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, TypeVar

from streams.pipeline import Pipeline

log = logging.getLogger("airmp.stopping")

EXIT_UNDELIVERED = 75  # EX_TEMPFAIL: stopped before the target accepted what it held
T = TypeVar("T")


async def unless_stopping(p: Pipeline, task: asyncio.Future[T]) -> T:
    """Await `task`; when the worker is stopping and it has not finished within the grace
    period, leave without completing (see `abandon`)."""
    stopping_since: float | None = None
    while True:
        done, _ = await asyncio.wait({task}, timeout=0.5)
        if done:
            return task.result()
        if p.app.should_stop:
            now = asyncio.get_running_loop().time()
            stopping_since = stopping_since or now
            if now - stopping_since >= p.settings.sink_shutdown_grace_seconds:
                task.cancel()
                await abandon(p)


async def wait_forever(p: Pipeline) -> Any:
    """Until the worker stops (then as `unless_stopping`): for a target that refused the
    credentials, whose events wait in Kafka until an operator fixes them and restarts."""
    return await unless_stopping(p, asyncio.ensure_future(asyncio.Event().wait()))


async def abandon(p: Pipeline) -> None:
    """Commit what the agents completed, then exit: what is left is delivered after the
    restart."""
    log.critical(
        "stopping with undelivered work: it stays uncommitted and is done after the restart"
    )
    try:
        await asyncio.wait_for(p.app.producer.flush(), timeout=10)
        await asyncio.wait_for(p.app.consumer.commit(), timeout=10)
    finally:
        logging.shutdown()
        os._exit(EXIT_UNDELIVERED)
