"""SPEND.VOID's parent reference, asked of AIR: cached, a few attempts, never raises.

docs/mapping.md (POSCONNECT.WALLET.SPEND.VOID): when wallet state does not know the parent
transaction's reference and an AIR client is configured, ask AIR
(`GET /wallet/{walletId}/transaction/{id}`). The wallet agent waits for the answer in the
wallet's order, so a slow or failing AIR must cost little: a few attempts with short
backoff, then a miss (the record goes out without the attribute, and the mapper counts
`void_reference_miss`). Answers, misses included, are cached: a transaction's reference
never changes.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from sinks.air import AirClient, AirCredentialsRejected
from sinks.backoff import backoff_delay

log = logging.getLogger(__name__)

Observer = Callable[[str], None]  # outcome: found, not_found, failed, cached


class ReferenceLookups:
    def __init__(
        self,
        client: AirClient,
        *,
        attempts: int = 3,
        backoff_cap: float = 2.0,
        cache_size: int = 10_000,
        observer: Observer | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._client = client
        self._attempts = attempts
        self._cap = backoff_cap
        self._cache: OrderedDict[tuple[str, str], str | None] = OrderedDict()
        self._cache_size = cache_size
        self._observe = observer or (lambda outcome: None)
        self._sleep = sleep
        self._jitter = jitter

    async def reference(self, wallet_id: str, transaction_id: str) -> str | None:
        """The transaction's reference, or None when AIR does not know it or cannot say."""
        key = (wallet_id, transaction_id)
        if key in self._cache:
            self._cache.move_to_end(key)
            self._observe("cached")
            return self._cache[key]
        found, outcome = await self._ask(wallet_id, transaction_id)
        self._observe(outcome)
        if outcome != "failed":  # an answer; a failure may be asked again later
            self._cache[key] = found
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return found

    async def _ask(self, wallet_id: str, transaction_id: str) -> tuple[str | None, str]:
        for attempt in range(1, self._attempts + 1):
            try:
                result = await self._client.wallet_transaction(wallet_id, transaction_id)
            except AirCredentialsRejected as exc:
                log.warning("SPEND.VOID look-up in AIR refused: %s", exc)
                return None, "failed"
            if result.done:
                reference = (result.transaction or {}).get("reference")
                if isinstance(reference, str) and reference:
                    return reference, "found"
                return None, "not_found"
            if result.permanent:
                return None, "not_found"
            if attempt < self._attempts:
                delay = result.retry_after or backoff_delay(
                    attempt, cap=self._cap, jitter=self._jitter
                )
                await self._sleep(min(delay, self._cap))
        log.warning(
            "SPEND.VOID look-up of %s/%s in AIR failed; mapped without it",
            wallet_id,
            transaction_id,
        )
        return None, "failed"
