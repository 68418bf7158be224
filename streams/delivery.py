"""The until-answered loop of every delivering agent: the sink's, the reward agent's, and
the next target's.

A delivery is one call to a target's client (sinks/), made again until the target answers
something other than "later":

- credentials refused (`sinks.CredentialsRejected`, a 401/403): the path stops. Its
  `Health.stopped` entry turns readiness 503 with the reason and `airmp_stopped{component}`
  to 1 (streams/views.py); one CRITICAL line says what to fix; it waits for a restart
  (`wait_forever`), completing nothing: the events wait in Kafka;
- another answer no retry can fix (`sinks.DeliveryError`): stopped in the same way, and
  asked again after `UNFIXABLE_PAUSE` seconds, nothing completed meanwhile;
- transient (the agent's `retry_in` gives the delay: the target's Retry-After, else
  sinks/backoff.py): wait, then the same call again (same ids, same references);
- done, or permanent: returned, and the path is no longer stopped. The agent completes
  the events, dead-lettering what the target refused for good.

Every wait is in `unless_stopping` (streams/stopping.py): a call in flight gets
AIRMP_DELIVERY_GRACE_SECONDS on a SIGTERM or a rebalance; a wait between attempts, or for
credentials, is left at once. A call its client did not send because the worker was
leaving (`sinks.NotSent`, see `sendable`) is left too: `Rebalancing`, uncompleted, so the
partition's next owner sends it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from sinks import CredentialsRejected, DeliveryError, NotSent
from streams.errors import Rebalancing
from streams.pipeline import Pipeline
from streams.stopping import rebalancing, unless_stopping, wait_forever

T = TypeVar("T")
UNFIXABLE_PAUSE = 60.0  # seconds before a path stopped by an unfixable answer asks again


@dataclass(frozen=True, slots=True)
class Path:
    """A delivering path, as readiness, the metric and its log lines name it."""

    component: str  # the key in `Health.stopped`, the label of airmp_stopped: "sink"
    target: str  # who may refuse our credentials: "mParticle"
    fix: str  # the rest of the CRITICAL line: the settings to fix, and what waits meanwhile
    log: logging.Logger  # the agent's own logger

    def stop(self, p: Pipeline, reason: str) -> None:
        p.health.stopped[self.component] = reason


def sendable(p: Pipeline) -> bool:
    """Still ours to send: asked by a client once a call had its turn (`may_send`), and by
    an agent before it starts on an event that waited (a lane, a queue)."""
    return not (rebalancing(p) or p.app.should_stop)


def answered(_answer: object, _attempt: int) -> float | None:
    """`retry_in` for a client that retries transient failures itself (the sink)."""
    return None


async def until_answered(
    p: Pipeline,
    path: Path,
    send: Callable[[], Coroutine[Any, Any, T]],
    retry_in: Callable[[T, int], float | None] = answered,
) -> T:
    """The target's answer to `send()`, other than "later". `retry_in(answer, attempt)`
    reads one answer (its metrics too): seconds until retry number `attempt` (from 1), or
    None when it is the answer."""
    attempt = 0
    while True:
        try:
            task = asyncio.ensure_future(send())
            answer = await unless_stopping(p, task, on_rebalance=p.settings.delivery_grace_seconds)
        except NotSent:
            raise Rebalancing() from None  # left uncompleted: the next owner sends it
        except CredentialsRejected as exc:
            path.stop(p, f"{path.target} rejected the credentials: {exc}")
            path.log.critical("%s STOPPED: %s. %s", path.component.upper(), exc, path.fix)
            await wait_forever(p)
            continue
        except DeliveryError as exc:
            path.stop(p, str(exc))
            path.log.critical(
                "%s STOPPED: %s; retrying in %g s, nothing is acked.",
                path.component.upper(),
                exc,
                UNFIXABLE_PAUSE,
            )
            await pause(p, UNFIXABLE_PAUSE)
            continue
        delay = retry_in(answer, attempt + 1)
        if delay is None:
            p.health.stopped.pop(path.component, None)
            return answer
        attempt += 1
        await pause(p, delay)


async def pause(p: Pipeline, seconds: float) -> None:
    """A wait between attempts: left at once on a rebalance, within the grace on SIGTERM."""
    await unless_stopping(p, asyncio.ensure_future(asyncio.sleep(seconds)), on_rebalance=0)
