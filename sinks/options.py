"""The delivery clients' options, grouped as httpx groups its own (`Timeout`, `Limits`):
frozen values with sane defaults, so `MParticleSink(url, key, secret)` is a working
production sink, `AirClient(url, client_id, secret)` a working AIR client, and a caller
changes only the group it cares about: `pacing=Pacing(rate_limit=100)`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mappers.vocabulary import API_DEFAULT_RATE_LIMIT, API_MAX_BATCHES_PER_REQUEST

# Our safety margins under mParticle's 256 KB per request and 128 KB per batch
# (mappers.vocabulary.API_MAX_*): it does not say whether a KB is 1000 or 1024 bytes, so the
# packer aims at the smaller reading, measured on the exact bytes it sends (orjson), and no
# request it builds can be refused for its size.
SAFE_REQUEST_BYTES = 256_000
SAFE_BATCH_BYTES = 128_000


@dataclass(frozen=True, slots=True)
class Pacing:
    """How fast and how wide: `rate_limit` per second (client-side; the sink counts
    batches, as mParticle does, see sinks.throttle; the AIR client requests) and
    `max_in_flight` requests at once (also the size of the connection pool). The defaults
    are the sink's; the AIR client's are `sinks.air.AIR_PACING`."""

    rate_limit: float = API_DEFAULT_RATE_LIMIT
    max_in_flight: int = 4

    def __post_init__(self) -> None:
        if self.rate_limit <= 0:
            raise ValueError("rate_limit must be positive")
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")


@dataclass(frozen=True, slots=True)
class Retries:
    """The waits between re-sends after a 429 without Retry-After, a 5xx, a timeout or a
    dropped connection: exponential from `backoff_base`, capped at `max_backoff`, with full
    jitter drawn from `rng` (None: a fresh `random.Random()` per sink). Re-sends never give
    up: a record is delivered or refused, never dropped."""

    backoff_base: float = 0.5
    max_backoff: float = 60.0
    rng: random.Random | None = None

    def __post_init__(self) -> None:
        if self.backoff_base < 0 or self.max_backoff < 0:
            raise ValueError("backoff_base and max_backoff must not be negative")


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """What one request may hold, as the packer packs it (defaults: the API's 100 batches
    and our safety margins in bytes)."""

    max_batches_per_request: int = API_MAX_BATCHES_PER_REQUEST
    max_request_bytes: int = SAFE_REQUEST_BYTES
    max_batch_bytes: int = SAFE_BATCH_BYTES

    def __post_init__(self) -> None:
        # A JSON array of one batch: the batch and its two brackets.
        if self.max_batches_per_request < 1 or self.max_batch_bytes + 2 > self.max_request_bytes:
            raise ValueError("limits leave no room for a single batch")
