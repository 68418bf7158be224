"""Leaving without committing what a delivery target has not yet accepted.

Faust's shutdown and its rebalances wait for every event an agent took to be acked. The
sink and reward agents must not complete an event mParticle or AIR has not accepted, and
they retry without end while the target is down, so:

- on SIGTERM they give an unfinished delivery `AIRMP_SINK_SHUTDOWN_GRACE_SECONDS`, then
  commit what the other agents finished and exit with status 75: the rest is delivered
  after the restart;
- when a rebalance revokes the partitions (flow control suspended), a delivery still
  retrying is left (`Rebalancing`): its events are acked for Faust but not completed for
  the ledger, so nothing of them is committed and the partition's next owner does them
  again (the same batch ids, the same reward references). Without this, one target's
  outage stalls every rebalance of the group until the target is back.
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


class Rebalancing(Exception):
    """The partitions are being revoked: leave the work in hand, uncompleted."""


def rebalancing(p: Pipeline) -> bool:
    """Flow is suspended while the worker runs: a rebalance is revoking the partitions."""
    return not p.app.flow_control.is_active() and not p.app.should_stop


async def unless_stopping(
    p: Pipeline, task: asyncio.Future[T], *, leave_on_rebalance: bool = False
) -> T:
    """Await `task`; when the worker is stopping and it has not finished within the grace
    period, leave without completing (see `abandon`); with `leave_on_rebalance`, raise
    `Rebalancing` (the task cancelled) when a rebalance starts meanwhile."""
    stopping_since: float | None = None
    while True:
        if leave_on_rebalance and rebalancing(p):
            task.cancel()
            raise Rebalancing()
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
    """Until the worker stops or a rebalance starts (then as `unless_stopping`): for a
    target that refused the credentials, whose events wait in Kafka until an operator fixes
    them and restarts."""
    forever = asyncio.ensure_future(asyncio.Event().wait())
    return await unless_stopping(p, forever, leave_on_rebalance=True)


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
