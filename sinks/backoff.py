"""Pure retry helpers: capped exponential backoff with jitter, and Retry-After.

The only place for this maths: the sink's re-sends (sinks/client.py), the reward agent's
retries of AIR (streams/rewards.py) and SPEND.VOID's look-ups all pick their delays here;
the randomness is injected, so tests pass a constant.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.5,
    cap: float = 60.0,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number `attempt` (1 for the first retry): full jitter,
    uniform in [0, min(cap, base * 2 ** (attempt - 1))). `jitter()` returns a float in
    [0, 1); full jitter spreads the retries of many callers that failed together."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if base < 0 or cap < 0:
        raise ValueError("base and cap must not be negative")
    ceiling = min(cap, base * 2 ** min(attempt - 1, 64))
    return jitter() * ceiling


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """A Retry-After header in seconds (delta-seconds or an HTTP date; never negative), or
    None when absent or unreadable. `now` is for HTTP dates (default: the clock)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
