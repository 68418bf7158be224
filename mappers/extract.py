"""Reading the parts of a notification that several event mappings share (docs/mapping.md §5).

Lists go into attributes as compact JSON with keys in docs/mapping.md's order; AIR numbers inside
them stay JSON numbers (minor units, points), as AIR gives them.
"""

from __future__ import annotations

from typing import Any

# Raised by the rules that use these readers; importable here as before.
from mappers.errors import MissingOperation as MissingOperation
from mappers.reading import Notification
from mappers.values import dig, id_text, lst, major, num, obj, text

ECOUPON = "ECOUPON"


def wallet_transactions(
    n: Notification, kind: str, status: str | None = None
) -> list[dict[str, Any]]:
    """walletTransactionEntity values of a type (and status), in AIR's order, no DELETEs."""
    return [
        value
        for op, value in n.values("walletTransactionEntity")
        if op != "DELETE"
        and value.get("type") == kind
        and (status is None or value.get("status") == status)
    ]


def last_transaction(
    n: Notification, kind: str, status: str | None = None, *, contents: bool = False
) -> dict[str, Any] | None:
    for value in reversed(wallet_transactions(n, kind, status)):
        if not contents or lst(dig(value, "basket", "contents")):
            return value
    return None


def account_transactions(n: Notification) -> list[dict[str, Any]]:
    """walletAccountTransactionEntity values; an id seen twice keeps its last state
    (docs/mapping.md §1)."""
    by_id: dict[str, dict[str, Any]] = {}
    anonymous: list[dict[str, Any]] = []
    order: list[str | int] = []
    for _op, value in n.values("walletAccountTransactionEntity"):
        key = id_text(value.get("accountTransactionId"))
        if key is None:
            order.append(len(anonymous))
            anonymous.append(value)
        else:
            if key not in by_id:
                order.append(key)
            by_id[key] = value
    return [by_id[k] if isinstance(k, str) else anonymous[k] for k in order]


def account_of(transaction: dict[str, Any]) -> dict[str, Any]:
    return obj(transaction.get("account"))


def account_id(transaction: dict[str, Any]) -> str | None:
    return id_text(account_of(transaction).get("accountId")) or id_text(
        transaction.get("accountId")
    )


def created_by_operation(n: Notification) -> list[dict[str, Any]]:
    """Account-transactions a CREATE operation made, in their last state. docs/mapping.md
    (WALLET.ACCOUNT.CREATE.CAMPAIGN): "CREATE" is the operationType, and some account types
    carry no `event`; one whose `event` says otherwise (a REDEEM row written as a CREATE) is
    no creation."""
    ids: set[str] = set()
    anonymous: list[dict[str, Any]] = []
    for op, value in n.values("walletAccountTransactionEntity"):
        if op != "CREATE" or value.get("event", "CREATE") != "CREATE":
            continue
        key = id_text(value.get("accountTransactionId"))
        if key is None:
            anonymous.append(value)
        else:
            ids.add(key)
    return [
        t
        for t in account_transactions(n)
        if id_text(t.get("accountTransactionId")) in ids or any(t is a for a in anonymous)
    ]


def is_created(transaction: dict[str, Any]) -> bool:
    """An account-transaction that creates its account (event CREATE)."""
    return transaction.get("event") == "CREATE"


def coupon_values(n: Notification, event: str) -> list[dict[str, Any]]:
    """[{"account_id","campaign_id","value"}] of ECOUPON account-transactions with `event`."""
    return [
        {
            "account_id": account_id(t),
            "campaign_id": id_text(account_of(t).get("campaignId")),
            "value": num(t.get("value")),
        }
        for t in account_transactions(n)
        if account_of(t).get("type") == ECOUPON and t.get("event") == event
    ]


def coupon_list(n: Notification) -> list[dict[str, Any]]:
    """The coupon list entries of the ECOUPON accounts this event creates."""
    coupons = []
    for t in account_transactions(n):
        account = account_of(t)
        if account.get("type") == ECOUPON and is_created(t):
            coupons.append(
                {
                    "account_id": account_id(t),
                    "campaign_id": id_text(account.get("campaignId")),
                    "type": text(account.get("type")),
                    "client_type": text(account.get("clientType")),
                    "status": text(account.get("status")),
                    "state": text(account.get("state")),
                    "date_start": text(dig(account, "dates", "start")),
                    "date_end": text(dig(account, "dates", "end")),
                }
            )
    return coupons


def contents(transaction: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [item for item in lst(dig(transaction, "basket", "contents")) if isinstance(item, dict)]


def product_list(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "description": text(item.get("description")),
            "count": num(item.get("itemUnitCount")),
            "itemCost": num(item.get("itemUnitCost")),
            "totalCost": num(item.get("totalUnitCost")),
        }
        for item in items
    ]


def commerce_products(items: list[dict[str, Any]], exponent: int) -> list[dict[str, Any]]:
    products = []
    for item in items:
        product: dict[str, Any] = {}
        if (upc := text(item.get("upc"))) is not None:
            product["id"] = upc
        if (name := text(item.get("description"))) is not None:
            product["name"] = name
        if (price := major(item.get("itemUnitCost"), exponent)) is not None:
            product["price"] = price
        if (quantity := num(item.get("itemUnitCount"))) is not None:
            product["quantity"] = quantity
        total = major(item.get("totalUnitCostAfterDiscount"), exponent)
        if total is not None:
            product["total_product_amount"] = total
        products.append(product)
    return products


def sum_after_discount(items: list[dict[str, Any]]) -> int | float:
    return sum(num(item.get("totalUnitCostAfterDiscount")) or 0 for item in items)


def summary(transaction: dict[str, Any] | None) -> dict[str, Any]:
    return obj(dig(transaction, "basket", "summary"))


def discounts(transaction: dict[str, Any] | None) -> int | float | None:
    """Σ of the non-null `summary.totalDiscountAmount` values (None when AIR gives none)."""
    amounts = summary(transaction).get("totalDiscountAmount")
    if isinstance(amounts, dict):
        return sum(v for v in map(num, amounts.values()) if v is not None)
    return num(amounts)
