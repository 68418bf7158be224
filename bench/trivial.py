"""The baselines' 'mapping': a few header fields and the first operation's wallet."""

from __future__ import annotations

from typing import Any


def trivial_map(doc: Any) -> dict[str, Any]:
    headers = doc["headers"]
    ops = doc.get("atomicOperations") or [{}]
    value = ops[0].get("objectValue") or {}
    return {
        "event_id": headers.get("eesEventId"),
        "event_name": headers.get("eventName"),
        "event_date": headers.get("eventDate"),
        "wallet_id": value.get("walletId") if isinstance(value, dict) else None,
    }
