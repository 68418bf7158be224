"""Building mParticle events as plain dicts (the hot path), with deterministic ids and limits.

`models.py` holds the pydantic models that say what a valid batch is; tests validate every
produced batch with them. Here we only build, truncate over-long values and count them.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from mappers.vocabulary import MAX_NAME, MAX_VALUE

# Fixed forever: source_request_id/source_message_id derive from it, and mParticle
# de-duplicates on them, so changing it would resend every replayed event as new.
NAMESPACE = uuid.UUID("5b0e3c1a-7f24-5d6e-9a8b-2c4d6e8f0a1b")

# custom_event_type: `transaction` for purchase, refund, spend and coupon events
# (docs/mapping.md §2).
TRANSACTION = "transaction"
OTHER = "other"


_NAMESPACE_BYTES = NAMESPACE.bytes


def _uuid5(name: str) -> str:
    """uuid.uuid5(NAMESPACE, name) as a string, without building UUID objects (hot path)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def request_id(event_id: str) -> str:
    return _uuid5(event_id)


def message_id(event_id: str, position: int) -> str:
    return _uuid5(f"{event_id}/{position}")


class Limits:
    """Truncates names and values to mParticle's limits, counting every truncation."""

    __slots__ = ("truncated",)

    def __init__(self) -> None:
        self.truncated = 0

    def attributes(
        self, attributes: dict[str, str], max_count: int | None = None
    ) -> dict[str, str]:
        over = False
        for name, value in attributes.items():
            if len(name) > MAX_NAME or len(value) > MAX_VALUE:
                over = True
                break
        if not over and (max_count is None or len(attributes) <= max_count):
            return attributes
        limited: dict[str, str] = {}
        for name, value in attributes.items():
            if max_count is not None and len(limited) >= max_count:
                self.truncated += 1  # counted, never silently dropped
                continue
            if len(name) > MAX_NAME:
                name = name[:MAX_NAME]
                self.truncated += 1
            if len(value) > MAX_VALUE:
                value = value[:MAX_VALUE]
                self.truncated += 1
            limited[name] = value
        return limited


class Events:
    """The events of one batch, in order; each knows its timestamp and message id."""

    __slots__ = ("event_id", "items", "limits", "timestamp_ms")

    def __init__(self, event_id: str, timestamp_ms: int, limits: Limits) -> None:
        self.event_id = event_id
        self.timestamp_ms = timestamp_ms
        self.limits = limits
        self.items: list[dict[str, Any]] = []

    def custom(
        self, name: str, attributes: dict[str, str] | None = None, kind: str = OTHER
    ) -> None:
        data: dict[str, Any] = {"event_name": name, "custom_event_type": kind}
        if attributes:
            data["custom_attributes"] = self.limits.attributes(attributes)
        data["timestamp_unixtime_ms"] = self.timestamp_ms
        data["source_message_id"] = message_id(self.event_id, len(self.items))
        self.items.append({"event_type": "custom_event", "data": data})

    def commerce(
        self,
        action: str,
        transaction_id: str | None,
        total_amount: int | float | None,
        products: list[dict[str, Any]],
        currency: str,
        attributes: dict[str, str] | None = None,
    ) -> None:
        product_action: dict[str, Any] = {"action": action}
        if transaction_id is not None:
            product_action["transaction_id"] = transaction_id
        if total_amount is not None:
            product_action["total_amount"] = total_amount
        product_action["products"] = products
        data: dict[str, Any] = {"product_action": product_action, "currency_code": currency}
        if attributes:
            data["custom_attributes"] = self.limits.attributes(attributes)
        data["timestamp_unixtime_ms"] = self.timestamp_ms
        data["source_message_id"] = message_id(self.event_id, len(self.items))
        self.items.append({"event_type": "commerce_event", "data": data})
