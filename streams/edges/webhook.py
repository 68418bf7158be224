"""`POST /air/notifications` and `/out/mparticle/{connectorId}`: AIR's webhook.

AIR posts each notification with a static pre-shared header (AIRMP_AIR_WEBHOOK_TOKEN in
AIRMP_AIR_WEBHOOK_TOKEN_HEADER, default X-Auth-Token). It is produced to the AIR input
topic keyed by its walletId (docs/mapping.md §1; none: its eesEventId), and answered 200 only
once Kafka has it. A body that is no valid notification is produced all the same, bytes
untouched, for the worker to dead-letter with its reason: AIR must never retry forever on
our parse error. Over AIRMP_MAX_MESSAGE_BYTES: 413. Kafka unavailable: 429 + Retry-After.
AIR delivers at least once; a repeat is dropped by the wallet's dedup (same eesEventId).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust import web

import mappers
from streams.edges.base import EdgeView, RequestLog, read_body, retry_later, same_secret
from streams.errors import KafkaUnavailable

Answer = tuple[int, Any, Mapping[str, str]]


class WebhookView(EdgeView):
    route_name = "air_webhook"

    async def handle(self, request: web.Request, request_log: RequestLog, **params: str) -> Answer:
        settings = self.edges.settings
        token = request.headers.get(settings.air_webhook_token_header)
        if not same_secret(token, settings.air_webhook_token):
            request_log.warning("AIR webhook call with a wrong or missing token")
            return 401, {"message": f"wrong or missing {settings.air_webhook_token_header}"}, {}
        if "connector_id" in params and params["connector_id"] != settings.connector_id:
            return 403, {"message": "unknown connector"}, {}
        raw = await read_body(request, settings)
        try:
            await self.edges.producer.send(settings.input_topic, key_of(raw), raw)
        except KafkaUnavailable as exc:
            request_log.warning("AIR notification not taken: %s", exc)
            return retry_later("Kafka is unavailable; retry")
        return 200, {"status": "OK"}, {}


def key_of(raw: bytes) -> bytes | None:
    """The walletId (docs/mapping.md §1), else the eesEventId, else none (garbage)."""
    parsed = mappers.parse(raw)
    if isinstance(parsed, mappers.Rejection):
        return None
    found = parsed.wallet_id or parsed.event_id
    return found.encode() if found else None
