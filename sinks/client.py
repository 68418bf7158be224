"""Deliver mParticle-ready records to the S2S Events API, at least once.

`deliver()` returns only when mParticle accepted every record or refused it (`Refused`: a
batch mParticle answers 400 for, or one that can never fit), so a caller that commits
offsets after it returns never loses a record. Transient failures (429, 5xx, timeouts,
dropped connections) are retried without a time limit; a re-sent batch is byte-for-byte the
same, so its source_request_id lets mParticle drop the duplicate when the first send had
actually landed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import replace
from typing import Any

import httpx
from pydantic import SecretStr

from mappers.vocabulary import BULK_PATH
from sinks.backoff import backoff_delay, retry_after_seconds
from sinks.errors import AuthenticationFailed, DeliveryError
from sinks.options import Pacing, RequestLimits, Retries
from sinks.packer import Request, halves, pack
from sinks.report import DeliveryReport, NullObserver, RefusalReason, Refused, SinkObserver
from sinks.throttle import PauseGate, RateLimiter

log = logging.getLogger(__name__)

_DETAIL_CHARS = 4096


class MParticleSink:
    """POST batches to {base_url}/v2/bulkevents with pacing, retries and bisection.

    `timeout`: seconds for one attempt (a timed-out send is retried). `merge_user_batches`:
    see sinks.packer; off by default, as `AIRMP_SINK_MERGE_USER_BATCHES` is. `observer`:
    metrics hooks (sinks.metrics). `transport`: httpx's, for tests.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | SecretStr,
        api_secret: str | SecretStr,
        *,
        timeout: float = 30.0,
        pacing: Pacing = Pacing(),
        retries: Retries = Retries(),
        limits: RequestLimits = RequestLimits(),
        merge_user_batches: bool = False,
        observer: SinkObserver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        secret = api_secret.get_secret_value() if isinstance(api_secret, SecretStr) else api_secret
        self.base_url = base_url.rstrip("/")
        self._url = self.base_url + BULK_PATH
        in_flight = pacing.max_in_flight
        self._client = httpx.AsyncClient(
            auth=httpx.BasicAuth(key, secret),  # the only place the secrets live
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight),
            headers={"Content-Type": "application/json", "User-Agent": "airmp-sink"},
            transport=transport,
        )
        self._limiter = RateLimiter(pacing.rate_limit)
        self._gate = PauseGate()
        self._in_flight = asyncio.Semaphore(in_flight)
        self._merge = merge_user_batches
        self._retries = retries
        # A request can never need more tokens than the limiter holds.
        self._limits = replace(
            limits,
            max_batches_per_request=min(limits.max_batches_per_request, self._limiter.capacity),
        )
        self._observer: SinkObserver = observer or NullObserver()
        self._rng = retries.rng or random.Random()
        self._throttled = 0  # consecutive 429s without Retry-After, for their backoff

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> MParticleSink:
        """Build from `config.settings.Settings` (read by attribute: sinks do not import
        config); keyword overrides, the constructor's, win."""
        kwargs: dict[str, Any] = {
            "timeout": settings.sink_timeout_seconds,
            "pacing": Pacing(
                rate_limit=settings.sink_rate_limit, max_in_flight=settings.sink_max_in_flight
            ),
            "retries": Retries(max_backoff=settings.sink_max_backoff_seconds),
            "merge_user_batches": settings.sink_merge_user_batches,
        }
        kwargs.update(overrides)
        return cls(
            settings.mparticle_api_endpoint,
            settings.mparticle_api_key,
            settings.mparticle_api_secret,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"MParticleSink({self.base_url!r})"

    async def __aenter__(self) -> MParticleSink:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._client.aclose()

    async def deliver(self, records: Sequence[Any]) -> DeliveryReport:
        """Send records; return when each is accepted or refused.

        Raises `AuthenticationFailed` (401/403) or `DeliveryError` (another status no
        retry can fix); then nothing is known about any record, so acknowledge none.
        """
        report = DeliveryReport(records=len(records))
        packing = pack(records, merge=self._merge, limits=self._limits)
        for refused in packing.refused:
            report.refused.append(refused)
            self._observer.refused(refused.reason, 1)
        delivery = _Delivery(records, report)
        await _run_all(self._send(request, delivery) for request in packing.requests)
        return report

    async def _send(self, request: Request, delivery: _Delivery) -> None:
        report = delivery.report
        failures = 0
        while True:
            response = await self._post(request, report)
            status = response.status_code if isinstance(response, httpx.Response) else 0
            if 200 <= status < 300:
                self._throttled = 0
                report.batches_accepted += len(request.batches)
                report.accepted += len(request.records)
                self._observer.accepted(len(request.batches), len(request.records))
                return
            if status == 429:
                assert isinstance(response, httpx.Response)
                report.rate_limit_waits += 1
                report.retries += 1
                self._observer.retry("throttled")
                delay = retry_after_seconds(response.headers.get("Retry-After"))
                if delay is None:
                    self._throttled += 1
                    delay = self._backoff(self._throttled)
                log.info("mParticle throttled us: pausing sends for %.2fs", delay)
                self._gate.pause(delay)
                continue
            if status in (401, 403):
                assert isinstance(response, httpx.Response)
                raise AuthenticationFailed(status, response.text)
            if status in (400, 413):
                assert isinstance(response, httpx.Response)
                await self._split(request, delivery, status, response.text)
                return
            if status and status < 500 and status != 408:
                assert isinstance(response, httpx.Response)
                raise DeliveryError(status, response.text)
            # 5xx, 408, timeout, dropped connection: the same bytes again, later.
            failures += 1
            report.retries += 1
            reason = str(status) if status else str(response)
            self._observer.retry(reason)
            delay = self._backoff(failures)
            log.warning("mParticle send failed (%s); retry %d in %.2fs", reason, failures, delay)
            await asyncio.sleep(delay)

    async def _split(self, request: Request, delivery: _Delivery, status: int, body: str) -> None:
        """Bisect a refused request until the refused batches stand alone; send the rest."""
        parts = halves(request)
        if parts:
            delivery.report.splits += 1
            await _run_all(self._send(part, delivery) for part in parts)
            return
        reason = RefusalReason.invalid_batch if status == 400 else RefusalReason.request_too_large
        log.warning("mParticle refused a batch (%d): %s", status, body[:500])
        self._refuse(delivery, request.records, reason, body)

    async def _post(self, request: Request, report: DeliveryReport) -> httpx.Response | str:
        """One attempt, once the 429 pause, the rate limit and the in-flight cap allow it."""
        n = len(request.batches)
        async with self._in_flight:
            self._observer.waited("throttled", await self._gate.wait())
            self._observer.waited("rate_limit", await self._limiter.acquire(n))
            # A 429 may have come back while this send waited for tokens.
            self._observer.waited("throttled", await self._gate.wait())
            loop = asyncio.get_running_loop()
            started = loop.time()
            report.requests += 1
            report.batches += n
            outcome: httpx.Response | str
            try:
                outcome = await self._client.post(self._url, content=request.body)
                status = str(outcome.status_code)
            except httpx.TimeoutException:
                outcome = status = "timeout"
            except httpx.TransportError:
                outcome = status = "connection_error"
            finally:
                self._limiter.release(n)
            report.statuses[status] += 1
            self._observer.request_done(status, loop.time() - started, n)
            return outcome

    def _backoff(self, attempt: int) -> float:
        retries = self._retries
        return backoff_delay(
            attempt, base=retries.backoff_base, cap=retries.max_backoff, jitter=self._rng.random
        )

    def _refuse(
        self, delivery: _Delivery, indexes: Iterable[int], reason: RefusalReason, detail: str
    ) -> None:
        detail = detail[:_DETAIL_CHARS]
        refused = [
            Refused(index=i, record=delivery.records[i], reason=reason, detail=detail)
            for i in indexes
        ]
        delivery.report.refused.extend(refused)
        self._observer.refused(reason, len(refused))


class _Delivery:
    __slots__ = ("records", "report")

    def __init__(self, records: Sequence[Any], report: DeliveryReport) -> None:
        self.records = records
        self.report = report


async def _run_all(coroutines: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run concurrently; on the first failure cancel the rest and raise that failure."""
    pending = list(coroutines)
    if len(pending) == 1:
        await pending[0]
        return
    try:
        async with asyncio.TaskGroup() as group:
            for coroutine in pending:
                group.create_task(coroutine)
    except BaseExceptionGroup as failures:
        raise _first(failures) from None


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first(exc)
        if not isinstance(exc, asyncio.CancelledError):
            return exc
    return group.exceptions[0]
