"""Leaving without committing what a delivery target has not yet accepted.

Faust's shutdown and its rebalances wait for every event an agent took to be acked, and
the worker commits what its agents completed before it lets the partitions go
(streams/offsets.py). The sink and reward agents must not complete an event mParticle or
AIR has not accepted, and they retry without end while the target is down, so a delivery
in flight gets `AIRMP_DELIVERY_GRACE_SECONDS` to finish:

- on SIGTERM, then the worker commits what the agents finished and exits with status 75:
  the rest is delivered after the restart (a reward request still waiting in its lane is
  left at once, uncompleted: its partition's next owner sends it);
- when a rebalance revokes the partitions (flow control suspended), then it is left
  (`Rebalancing`): its events are acked for Faust but not completed for the ledger, so
  nothing of them is committed and the partition's next owner does them again (the same
  batch ids, the same reward references). A wait between attempts, or for credentials, is
  left at once. Without this, one target's outage would stall every rebalance of the
  group until the target is back; with the grace, a graceful move re-sends nothing a
  healthy target answered within it.

"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, TypeVar

from streams.errors import Rebalancing
from streams.pipeline import Pipeline

log = logging.getLogger("airmp.stopping")

EXIT_UNDELIVERED = 75  # EX_TEMPFAIL: stopped before the target accepted what it held
T = TypeVar("T")


def rebalancing(p: Pipeline) -> bool:
    """Flow is suspended while the worker runs: a rebalance is revoking the partitions."""
    return not p.app.flow_control.is_active() and not p.app.should_stop


async def unless_stopping(
    p: Pipeline, task: asyncio.Future[T], *, on_rebalance: float | None = None
) -> T:
    """Await `task`; when the worker is stopping and it has not finished within the grace
    period, leave without completing (see `abandon`). With `on_rebalance` (seconds), once
    a rebalance starts the task gets that long, then is cancelled and `Rebalancing` raised."""
    grace = p.settings.delivery_grace_seconds
    loop = asyncio.get_running_loop()
    stopping_since: float | None = None
    rebalance_since: float | None = None
    while True:
        now = loop.time()
        if on_rebalance is not None and rebalancing(p):
            rebalance_since = now if rebalance_since is None else rebalance_since
            if now - rebalance_since >= on_rebalance:
                task.cancel()
                raise Rebalancing()
        else:
            rebalance_since = None
        if p.app.should_stop:
            stopping_since = now if stopping_since is None else stopping_since
            if now - stopping_since >= grace:
                task.cancel()
                await abandon(p)
        done, _ = await asyncio.wait({task}, timeout=0.5)
        if done:
            return task.result()


async def wait_forever(p: Pipeline) -> Any:
    """Until the worker stops or a rebalance starts (then as `unless_stopping`): for a
    target that refused the credentials, whose events wait in Kafka until an operator fixes
    them and restarts."""
    forever = asyncio.ensure_future(asyncio.Event().wait())
    return await unless_stopping(p, forever, on_rebalance=0)


_ABANDONING: list[bool] = []  # one caller commits and exits; the others wait for it


async def abandon(p: Pipeline) -> None:
    """Commit what the agents completed, then exit: what is left is delivered after the
    restart."""
    if _ABANDONING:
        await asyncio.Event().wait()
    _ABANDONING.append(True)
    log.critical(
        "stopping with undelivered work: it stays uncommitted and is done after the restart"
    )
    try:
        await asyncio.wait_for(p.app.producer.flush(), timeout=10)
        await asyncio.wait_for(p.app.consumer.commit(), timeout=10)
    finally:
        logging.shutdown()
        os._exit(EXIT_UNDELIVERED)
