"""Builders of mParticle-ready records, shaped like the mapper's output (docs/mapping.md §2)."""

from __future__ import annotations

import copy
import uuid
from typing import Any

NS = uuid.UUID("2b5c1f0e-9d7a-4c1b-8f3e-6a0d4e2b7c91")


def srid(n: int) -> str:
    return str(uuid.uuid5(NS, f"event-{n}"))


def custom_event(n: int, k: int = 0, name: str = "points_earned") -> dict[str, Any]:
    return {
        "event_type": "custom_event",
        "data": {
            "event_name": name,
            "custom_event_type": "other",
            "timestamp_unixtime_ms": 1_700_000_000_000 + n,
            "source_message_id": str(uuid.uuid5(NS, f"event-{n}/{k}")),
            "custom_attributes": {"points": str(10 * n), "event_index": str(k)},
        },
    }


def commerce_event(n: int) -> dict[str, Any]:
    return {
        "event_type": "commerce_event",
        "data": {
            "timestamp_unixtime_ms": 1_700_000_000_000 + n,
            "source_message_id": str(uuid.uuid5(NS, f"commerce-{n}")),
            "currency_code": "GBP",
            "product_action": {
                "action": "purchase",
                "transaction_id": f"txn-{n}",
                "total_amount": 63.0,
                "products": [
                    {
                        "id": "sku-1",
                        "name": "Coffee",
                        "price": 3.5,
                        "quantity": 2,
                        "total_product_amount": 7.0,
                        "custom_attributes": {"category": "drinks"},
                    }
                ],
            },
            "custom_attributes": {"store": "0042"},
        },
    }


def record(
    n: int,
    *,
    wallet: str = "wallet-1",
    events: int = 1,
    pad: int = 0,
    deleted: bool = False,
) -> dict[str, Any]:
    """Record number n: one batch for `wallet`, `pad` extra bytes in a user attribute."""
    batch: dict[str, Any] = {
        "environment": "development",
        "user_identities": {"other": f"card-{wallet}", "customer_id": wallet},
        "user_attributes": {"points_balance": str(n), "tier": "gold"},
        "events": [custom_event(n, k) for k in range(events)],
        "source_request_id": srid(n),
    }
    if pad:
        batch["user_attributes"]["notes"] = "x" * pad
    if deleted:
        del batch["user_attributes"]
        batch["deleted_user_attributes"] = ["points_balance", "tier"]
    return {
        "air": {
            "event_id": f"event-{n}",
            "event_name": "ee_points_earned",
            "event_date": "2024-01-01T00:00:00Z",
            "wallet_id": wallet,
        },
        "batch": batch,
    }


def records(count: int, **kwargs: Any) -> list[dict[str, Any]]:
    return [record(n, **kwargs) for n in range(count)]


def with_batch(rec: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(rec)
    out["batch"].update(changes)
    return out
