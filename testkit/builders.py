"""The project's own AIR notifications, hand-written and small (ids and values are ours)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

WALLET = "900100"
CARD = "6301000000000001"
CUSTOMER = "C-1001"
DATE = "2025-03-01T10:00:00.000000"
DATE_MS = 1740823200000
# The project's namespace, written out here so a change to it fails these tests.
NAMESPACE = uuid.UUID("5b0e3c1a-7f24-5d6e-9a8b-2c4d6e8f0a1b")


def notification(
    name: str,
    ops: list[dict[str, Any]],
    *,
    event_id: str = "evt-1",
    date: str = DATE,
    wallet: str = WALLET,
    card: str | None = CARD,
    body: Any = None,
    resource: str = "/connect/wallet/settle",
    enrichment: bool = True,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "headers": {"eventName": name, "eventDate": date, "eesEventId": event_id},
        "request": {"resource": resource, "method": "POST", "body": body},
        "response": {"code": 200, "body": None},
        "atomicOperations": ops,
    }
    if enrichment:
        identities = [{"type": "CUSTOMER_ID", "value": CUSTOMER, "status": "ACTIVE"}]
        if card:
            identities.append({"type": "CARD", "value": card, "status": "ACTIVE"})
        doc["enrichmentData"] = {f"walletEntity_{wallet}": {"identities": identities}}
    return doc


def raw(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc)


def op(kind: str, operation: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"objectType": kind, "operationType": operation, "objectValue": value}


def item(upc: str, name: str, count: int, cost: int, after: int | None = None) -> dict[str, Any]:
    total = count * cost
    return {
        "upc": upc,
        "description": name,
        "itemUnitCount": count,
        "itemUnitCost": cost,
        "totalUnitCost": total,
        "totalUnitCostAfterDiscount": total if after is None else after,
    }


def transaction(
    tx_id: str,
    kind: str,
    status: str,
    reference: str,
    *,
    items: list[dict[str, Any]] | None = None,
    summary: dict[str, Any] | None = None,
    parent: str = "0",
    store: str | None = None,
    parent_store: str | None = None,
    identity_id: str | None = None,
    wallet: str = WALLET,
) -> dict[str, Any]:
    return {
        "walletTransactionId": tx_id,
        "parentWalletTransactionId": parent,
        "walletId": wallet,
        "reference": reference,
        "identityId": identity_id,
        "type": kind,
        "status": status,
        "basket": {"contents": items, "summary": summary},
        "location": {"storeId": store, "storeParentId": parent_store},
    }


def account_tx(
    tx_id: str,
    account_id: str,
    campaign_id: str,
    account_type: str,
    event: str | None,
    value: int = 0,
    *,
    client_type: str | None = "OFFER",
    status: str = "ACTIVE",
    balance: int | None = None,
    dates: dict[str, Any] | None = None,
    wallet: str = WALLET,
) -> dict[str, Any]:
    account: dict[str, Any] = {
        "accountId": account_id,
        "walletId": wallet,
        "campaignId": campaign_id,
        "type": account_type,
        "clientType": client_type,
        "status": status,
        "state": "LOADED",
        "balances": {"current": balance} if balance is not None else {"available": 0},
    }
    if dates is not None:
        account["dates"] = dates
    transaction = {
        "accountTransactionId": tx_id,
        "accountId": account_id,
        "account": account,
        "event": event,
        "value": value,
    }
    if event is None:  # some real account types (quests, stamp cards) carry no event field
        del transaction["event"]
    return transaction


def points(tx_id: str, balance: int, event: str = "EARN", value: int = 0) -> dict[str, Any]:
    return account_tx(
        tx_id, "8001", "3001", "POINTS", event, value, client_type="RETAILPOINTS", balance=balance
    )


def tier(tier_id: str, pts: int, spend: int, transactions: int) -> dict[str, Any]:
    return {
        "tierMembershipId": "T-55",
        "tierId": tier_id,
        "status": "ACTIVE",
        "balances": {"points": pts, "spend": spend, "transactions": transactions},
        "tierBalancesResetDate": "2026-12-31T23:59:59+00:00",
    }


def tier_attributes(tier_id: str, pts: int, spend: int, transactions: int) -> dict[str, str]:
    return {
        "tier_id": tier_id,
        "tier_balances_points": str(pts),
        "tier_balances_spend": str(spend),
        "tier_balances_transactions": str(transactions),
        "tier_balances_reset_date": "2026-12-31T23:59:59+00:00",
    }


# --- expected output ----------------------------------------------------------------------


def message_id(event_id: str, position: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{event_id}/{position}"))


def custom(
    name: str,
    attributes: dict[str, str] | None = None,
    kind: str = "other",
    *,
    position: int = 0,
    event_id: str = "evt-1",
    ms: int = DATE_MS,
) -> dict[str, Any]:
    data: dict[str, Any] = {"event_name": name, "custom_event_type": kind}
    if attributes:
        data["custom_attributes"] = attributes
    data["timestamp_unixtime_ms"] = ms
    data["source_message_id"] = message_id(event_id, position)
    return {"event_type": "custom_event", "data": data}


def commerce(
    action: str,
    transaction_id: str,
    total: float,
    products: list[dict[str, Any]],
    attributes: dict[str, str],
    *,
    position: int = 0,
    event_id: str = "evt-1",
    currency: str = "GBP",
) -> dict[str, Any]:
    return {
        "event_type": "commerce_event",
        "data": {
            "product_action": {
                "action": action,
                "transaction_id": transaction_id,
                "total_amount": total,
                "products": products,
            },
            "currency_code": currency,
            "custom_attributes": attributes,
            "timestamp_unixtime_ms": DATE_MS,
            "source_message_id": message_id(event_id, position),
        },
    }


def record(
    name: str,
    events: list[dict[str, Any]],
    user_attributes: dict[str, str] | None = None,
    *,
    event_id: str = "evt-1",
    date: str = DATE,
    identities: dict[str, str] | None = None,
    deleted: list[str] | None = None,
) -> dict[str, Any]:
    batch: dict[str, Any] = {
        "environment": "development",
        "user_identities": identities or {"other": CARD, "customer_id": WALLET},
    }
    if deleted is not None:
        batch["deleted_user_attributes"] = deleted
    if user_attributes:
        batch["user_attributes"] = user_attributes
    batch["events"] = events
    batch["source_request_id"] = str(uuid.uuid5(NAMESPACE, event_id))
    return {
        "air": {"event_id": event_id, "event_name": name, "event_date": date, "wallet_id": WALLET},
        "batch": batch,
    }
