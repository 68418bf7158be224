"""What every edge shares: its state, token checks, request ids, metrics and answers.

An edge is a Faust web view (Faust's own aiohttp server on the worker's web port): it
checks the caller, hands what it got to Kafka through the idempotent edge producer, and
answers only once Kafka has it. Tokens are compared in constant time and never logged;
every log line of a request carries its request id (the caller's X-Request-Id, or ours).
"""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp.web import HTTPRequestEntityTooLarge
from faust import web
from pydantic import SecretStr

from config import Settings
from streams import metrics
from streams.edges.producer import EdgeProducer
from streams.errors import TooLarge

log = logging.getLogger("airmp.edges")
RETRY_AFTER_SECONDS = 5


@dataclass
class Edges:
    """The edges' shared state, one per worker."""

    settings: Settings
    producer: EdgeProducer
    # Audience id -> SBA action references, from audience subscription requests: for a
    # membership change that arrives without the audience's settings (mParticle sends
    # them with each audience; this is the fallback). Per worker, in memory.
    subscriptions: dict[str, tuple[str, ...]] = field(default_factory=dict)


def same_secret(given: str | None, expected: SecretStr) -> bool:
    """Constant-time comparison; an unset expected secret matches nothing."""
    wanted = expected.get_secret_value()
    return bool(wanted) and hmac.compare_digest((given or "").encode(), wanted.encode())


class RequestLog(logging.LoggerAdapter[logging.Logger]):
    """Log lines prefixed with the request's id."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        return f"[request {self.extra['request_id'] if self.extra else '?'}] {msg}", kwargs


class EdgeView(web.View):
    """A view of one edge route: `handle` answers; this counts, times and ids it."""

    edges: Edges  # set by `streams.edges.install_edges`
    route_name = ""  # the metric label

    async def post(self, request: web.Request, **params: str) -> web.Response:
        started = time.monotonic()
        request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]
        request_log = RequestLog(log, {"request_id": request_id})
        try:
            status, body, headers = await self.handle(request, request_log, **params)
        except TooLarge:
            limit = self.edges.settings.max_message_bytes
            request_log.warning("%s: a body over %d bytes refused", self.route_name, limit)
            status, body, headers = 413, {"message": f"over {limit} bytes"}, {}
        except Exception:  # an edge must answer: a bug is a 500, logged with its request id
            request_log.exception("%s failed", self.route_name)
            status, body, headers = 500, {"message": "internal error"}, {}
        metrics.EDGE_REQUESTS.labels(self.route_name, str(status)).inc()
        metrics.EDGE_SECONDS.labels(self.route_name).observe(time.monotonic() - started)
        return self.bytes(
            orjson.dumps(body),
            status=status,
            headers={"Content-Type": "application/json", "X-Request-Id": request_id, **headers},
        )

    async def handle(
        self, request: web.Request, request_log: RequestLog, **params: str
    ) -> tuple[int, Any, Mapping[str, str]]:
        raise NotImplementedError


async def read_body(request: web.Request, settings: Settings) -> bytes:
    """The body, or `TooLarge`: one read for every edge, so an over-size body is a 413
    everywhere (aiohttp's own limit raises an exception a view would answer 500)."""
    limit = settings.max_message_bytes
    if int(request.headers.get("Content-Length") or 0) > limit:
        raise TooLarge()
    try:
        raw = await request.read()
    except HTTPRequestEntityTooLarge:
        raise TooLarge() from None
    if len(raw) > limit:
        raise TooLarge()
    return bytes(raw)


def retry_later(message: str) -> tuple[int, Any, Mapping[str, str]]:
    """429 with Retry-After: Kafka cannot take it now; the caller retries."""
    return 429, {"message": message}, {"Retry-After": str(RETRY_AFTER_SECONDS)}
