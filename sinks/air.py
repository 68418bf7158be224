"""The Eagle Eye AIR wallet API client: signed requests, one attempt per call, outcomes
classified.

AIR authenticates every request with `X-EES-AUTH-CLIENT-ID` and `X-EES-AUTH-HASH`, the
SHA-256 (hex) of the request target (path, API prefix included, and query string with its
`?`), the body and the client secret. The hash is taken over the exact bytes httpx sends:
the body is serialised here and sent with a Content-Length, never chunked.

Each call is one attempt and returns an `AirResult` (done, transient or permanent), or
raises `AirCredentialsRejected` (401/403: the caller stops). Retrying is the caller's:
`sinks.backoff` has the delays, `AirResult.retry_after` AIR's Retry-After. A reward's
idempotency is its `walletTransaction.reference`: a retry must send the same one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from pydantic import SecretStr

from sinks.backoff import retry_after_seconds
from sinks.errors import AirCredentialsRejected, NotSent
from sinks.options import Pacing
from sinks.throttle import RateLimiter

log = logging.getLogger(__name__)

TRIGGER_PATH = "/services/trigger"
WALLET_TRANSACTION_PATH = "/wallet/{wallet_id}/transaction/{transaction_id}"
CLIENT_ID_HEADER = "X-EES-AUTH-CLIENT-ID"
HASH_HEADER = "X-EES-AUTH-HASH"
# AIR's defaults, beside the sink's in sinks/options.py: 10 requests a second, 8 at once.
AIR_PACING = Pacing(rate_limit=10.0, max_in_flight=8)
BODY_CHARS = 4096  # of AIR's answer kept in a result (a dead letter's detail)
_REDACTED = "[redacted]"


def auth_hash(target: str | bytes, body: bytes, secret: str | bytes) -> str:
    """AIR's X-EES-AUTH-HASH: sha256 hex of request target + body + client secret.

    `target` is the path and query string exactly as sent (`/2.0/services/trigger`,
    `/wallet/1/transaction/2?x=1`); `body` the raw body bytes (b"" for a GET)."""
    raw_target = target.encode() if isinstance(target, str) else target
    raw_secret = secret.encode() if isinstance(secret, str) else secret
    return hashlib.sha256(raw_target + body + raw_secret).hexdigest()


def trigger_body(identity_value: str, reference: str, triggers: Sequence[str]) -> bytes:
    """The body of POST /services/trigger, compact JSON in AIR's documented key order."""
    return orjson.dumps(
        {
            "identityValue": identity_value,
            "walletTransaction": {"reference": reference},
            "triggers": [{"reference": trigger} for trigger in triggers],
        }
    )


class AirOutcome(StrEnum):
    """What the caller does with a result."""

    DONE = "done"  # 2xx: AIR did it
    TRANSIENT = "transient"  # 429, 408, 5xx, timeout, dropped connection: retry, later
    PERMANENT = "permanent"  # another 4xx (404 unknown identity, 400 unknown trigger): dead letter


@dataclass(frozen=True, slots=True)
class AirResult:
    """One attempt. `status` is None when AIR gave no answer (timeout, transport error)."""

    kind: AirOutcome
    status: int | None
    reason: str  # a metric label: the status as text, or "timeout" / "connection_error"
    transaction: dict[str, Any] | None = None  # DONE: AIR's wallet transaction (when JSON)
    error_code: str | None = None  # AIR's errorCode, when it answered one
    error_message: str | None = None
    body: str = ""  # AIR's answer, truncated to BODY_CHARS: a dead letter's detail
    retry_after: float | None = None  # seconds, from Retry-After (429, 503)
    seconds: float = 0.0  # AIR's latency for this attempt

    @property
    def done(self) -> bool:
        return self.kind is AirOutcome.DONE

    @property
    def transient(self) -> bool:
        return self.kind is AirOutcome.TRANSIENT

    @property
    def permanent(self) -> bool:
        return self.kind is AirOutcome.PERMANENT


def _ask(may_send: Callable[[], bool] | None, method: str, path: str) -> None:
    if may_send is not None and not may_send():
        raise NotSent(f"{method} {path}")


class AirClient:
    """Signed calls to an AIR wallet domain (e.g. https://wallet.sandbox.uk.eagleeye.com,
    or with an API prefix such as https://host/2.0), over one keep-alive connection pool.

    `timeout`: seconds for one attempt. `pacing`: requests per second (client-side) and at
    once, as the sink's option (`AIR_PACING` by default). `transport`: httpx's, for tests.
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str | SecretStr,
        *,
        timeout: float = 10.0,
        pacing: Pacing = AIR_PACING,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not client_id:
            raise ValueError("the AIR client id is empty")
        secret = (
            client_secret.get_secret_value()
            if isinstance(client_secret, SecretStr)
            else client_secret
        )
        if not secret:
            raise ValueError("the AIR client secret is empty")
        self.base_url = base_url.rstrip("/")
        self._client_id = client_id
        self._secret = secret.encode()  # only ever hashed, never sent or shown
        in_flight = pacing.max_in_flight
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight),
            headers={"Accept": "application/json", "User-Agent": "airmp-air"},
            transport=transport,
        )
        # The pool would queue requests too, but under the pool timeout: a queue here makes
        # waiting for a connection no failure.
        self._in_flight = asyncio.Semaphore(in_flight)
        self._limiter = RateLimiter(pacing.rate_limit)

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> AirClient:
        """Build from settings (duck-typed: air_wallet_url, air_client_id, air_client_secret,
        air_timeout_seconds, air_rate_limit, air_max_in_flight); keyword overrides win."""
        kwargs: dict[str, Any] = {
            "timeout": settings.air_timeout_seconds,
            "pacing": Pacing(
                rate_limit=settings.air_rate_limit, max_in_flight=settings.air_max_in_flight
            ),
        }
        kwargs.update(overrides)
        return cls(
            settings.air_wallet_url, settings.air_client_id, settings.air_client_secret, **kwargs
        )

    def __repr__(self) -> str:
        return f"AirClient({self.base_url!r})"

    async def __aenter__(self) -> AirClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._client.aclose()

    async def trigger(
        self,
        identity_value: str,
        reference: str,
        triggers: Sequence[str],
        may_send: Callable[[], bool] | None = None,
    ) -> AirResult:
        """POST /services/trigger: reward the wallet with that identity for the SBA
        `triggers`, under the idempotency key `reference`. DONE carries the wallet
        transaction AIR created. `may_send` is asked once the request has an in-flight
        slot and the rate limiter's turn (which may take a while): False raises `NotSent`."""
        if not identity_value:
            raise ValueError("identity_value is empty")
        if not reference:
            raise ValueError("reference is empty")
        if isinstance(triggers, str) or not triggers or not all(triggers):
            raise ValueError("triggers must be a non-empty list of trigger references")
        body = trigger_body(identity_value, reference, list(triggers))
        return await self._call("POST", TRIGGER_PATH, body, may_send)

    async def wallet_transaction(
        self, wallet_id: str | int, wallet_transaction_id: str | int
    ) -> AirResult:
        """GET /wallet/{walletId}/transaction/{walletTransactionId}: DONE carries it."""
        path = WALLET_TRANSACTION_PATH.format(
            wallet_id=quote(str(wallet_id), safe=""),
            transaction_id=quote(str(wallet_transaction_id), safe=""),
        )
        return await self._call("GET", path, b"")

    def _signed(self, method: str, path: str, body: bytes) -> httpx.Request:
        headers = {CLIENT_ID_HEADER: self._client_id}
        if body:
            headers["Content-Type"] = "application/json"
        request = self._client.build_request(
            method, self.base_url + path, content=body or None, headers=headers
        )
        # raw_path is the request target httpx writes: path (prefix included) and query.
        request.headers[HASH_HEADER] = auth_hash(request.url.raw_path, body, self._secret)
        return request

    async def _call(
        self, method: str, path: str, body: bytes, may_send: Callable[[], bool] | None = None
    ) -> AirResult:
        request = self._signed(method, path, body)
        # Asked at each wait's end, so that requests queued behind a slot or the rate
        # limiter when the caller lets go leave at once (and take no token).
        _ask(may_send, method, path)
        async with self._in_flight:
            _ask(may_send, method, path)
            await self._limiter.acquire(1)
            loop = asyncio.get_running_loop()
            started = loop.time()
            try:
                _ask(may_send, method, path)
                response = await self._client.send(request)
            except httpx.TimeoutException:
                return self._no_answer("timeout", loop.time() - started, method, path)
            except httpx.TransportError as exc:
                log.debug("AIR %s %s: %s", method, path, type(exc).__name__)
                return self._no_answer("connection_error", loop.time() - started, method, path)
            finally:
                self._limiter.release(1)
            seconds = loop.time() - started
        log.debug("AIR %s %s -> %d in %.3fs", method, path, response.status_code, seconds)
        return self._classify(response, seconds)

    def _no_answer(self, reason: str, seconds: float, method: str, path: str) -> AirResult:
        log.debug("AIR %s %s: no answer (%s) after %.3fs", method, path, reason, seconds)
        return AirResult(AirOutcome.TRANSIENT, None, reason, seconds=seconds)

    def _classify(self, response: httpx.Response, seconds: float) -> AirResult:
        status = response.status_code
        text = self._redact(response.text)
        try:
            payload: Any = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            payload = None
        document = payload if isinstance(payload, dict) else {}
        if 200 <= status < 300:
            return AirResult(
                AirOutcome.DONE,
                status,
                str(status),
                transaction=document or None,
                body=text[:BODY_CHARS],
                seconds=seconds,
            )
        code = _text(document.get("errorCode"))
        message = _text(document.get("errorMessage"))
        code = self._redact(code) if code is not None else None
        message = self._redact(message) if message is not None else None
        if status in (401, 403):
            raise AirCredentialsRejected(status, code, message, text[:BODY_CHARS])
        transient = status in (408, 429) or status >= 500
        return AirResult(
            AirOutcome.TRANSIENT if transient else AirOutcome.PERMANENT,
            status,
            str(status),
            error_code=code,
            error_message=message,
            body=text[:BODY_CHARS],
            retry_after=retry_after_seconds(response.headers.get("Retry-After"))
            if transient
            else None,
            seconds=seconds,
        )

    def _redact(self, text: str) -> str:
        """An answer that echoes the secret (a misconfigured proxy, say) must not carry it
        into a dead letter or a log."""
        secret = self._secret.decode()
        return text.replace(secret, _REDACTED) if secret in text else text


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else orjson.dumps(value).decode()
