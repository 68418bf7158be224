"""POS transactions: POSCONNECT.WALLET.SETTLE / FULFIL / REFUND / SPEND / SPEND.VOID
(docs/mapping.md §5).

Every event also gets one `ee_loyalty_coupon_redeemed` per redeemed ECOUPON, appended by
`process` after these (docs/mapping.md §5, "Any event").
"""

from __future__ import annotations

from typing import Any

from mappers.batch import TRANSACTION
from mappers.context import Context
from mappers.extract import (
    MissingOperation,
    commerce_products,
    contents,
    coupon_values,
    discounts,
    last_transaction,
    product_list,
    sum_after_discount,
    summary,
)
from mappers.reading import Notification
from mappers.state import WalletState
from mappers.values import compact, dig, id_text, major, num, obj, put, text


def _purchase_attributes(c: Context, transaction: dict[str, Any]) -> dict[str, str]:
    """The SETTLE custom attributes of the commerce purchase (also used by FULFIL)."""
    attributes: dict[str, str] = {}
    put(
        attributes,
        "total_points_earned",
        dig(summary(transaction), "results", "points", "totalPointsGiven"),
    )
    put(attributes, "discounts_received", discounts(transaction))
    attributes["coupons_redeemed"] = compact(coupon_values(c.n, "REDEEM"))
    location = obj(transaction.get("location"))
    put(attributes, "store_location_store_id", location.get("storeId"))
    put(attributes, "store_location_store_parent_id", location.get("storeParentId"))
    return attributes


def map_settle(c: Context) -> None:
    """commerce purchase of the last SETTLE/SETTLED transaction with basket contents."""
    settle = last_transaction(c.n, "SETTLE", "SETTLED", contents=True)
    if settle is None:
        raise MissingOperation("no walletTransactionEntity SETTLE/SETTLED with basket contents")
    exponent = c.options.currency_exponent
    items = contents(settle)
    c.events.commerce(
        "purchase",
        text(settle.get("reference")),
        major(summary(settle).get("totalBasketValue"), exponent),
        commerce_products(items, exponent),
        c.options.currency,
        _purchase_attributes(c, settle),
    )


def map_fulfil(c: Context) -> None:
    """initial (no basket in the request): the SETTLE/FULFILLING transaction, all products;
    middle and final (`finalise`): the FULFIL/FULFILLED transaction, the products fulfilled now."""
    body = c.n.request_body
    if body is None:
        raise MissingOperation("request.body is not a JSON object")
    initial = body.get("basket") is None
    final = not initial and body.get("finalise") is True
    exponent = c.options.currency_exponent
    if initial:
        used = last_transaction(c.n, "SETTLE", "FULFILLING")
        if used is None:
            raise MissingOperation("no walletTransactionEntity SETTLE/FULFILLING")
        items = contents(used)
        total = major(summary(used).get("totalBasketValue"), exponent)
    else:
        used = last_transaction(c.n, "FULFIL", "FULFILLED")
        if used is None:
            raise MissingOperation("no walletTransactionEntity FULFIL/FULFILLED")
        items = contents(used)
        total = major(sum_after_discount(items), exponent)
    settle = last_transaction(c.n, "SETTLE")
    reference = text(dig(body, "originalTransaction", "reference")) or text(
        obj(settle).get("reference")
    )

    attributes = _purchase_attributes(c, used)
    if initial:
        attributes["initial"] = "true"
    c.events.commerce(
        "purchase",
        reference,
        total,
        commerce_products(items, exponent),
        c.options.currency,
        attributes,
    )

    fulfil: dict[str, str] = {}
    put(fulfil, "points_earned", dig(summary(used), "results", "points", "earn"))
    fulfil["coupons_redeemed"] = attributes["coupons_redeemed"]
    fulfil["products"] = compact(product_list(items))
    location = obj(used.get("location"))
    put(fulfil, "store_location", text(location.get("storeId")) or location.get("storeParentId"))
    put(fulfil, "transaction_identity_id", id_text(used.get("identityId")) or c.identity)
    if initial:
        fulfil["initial"] = "true"
    if final:
        fulfil["final"] = "true"
    c.events.custom("ee_loyalty_posconnect_wallet_fulfil", fulfil, TRANSACTION)


def map_refund(c: Context) -> None:
    """commerce refund of the REFUND/SETTLED transaction, then the refund custom event."""
    refund = last_transaction(c.n, "REFUND", "SETTLED")
    if refund is None:
        raise MissingOperation("no walletTransactionEntity REFUND/SETTLED")
    exponent = c.options.currency_exponent
    items = contents(refund)
    unredeemed = coupon_values(c.n, "UNREDEEM")
    redeemed = coupon_values(c.n, "REDEEM")
    coupon_delta = _total(unredeemed) - _total(redeemed)
    total = major(sum_after_discount(items) - coupon_delta, exponent)

    reference = text(
        dig(c.n.request_body, "originalTransaction", "reference")
    ) or _parent_reference(c, refund)
    points = obj(dig(summary(refund), "results", "points"))
    taken, given = num(points.get("totalPointsTaken")), num(points.get("totalPointsGiven"))
    deducted = taken - given if taken is not None and given is not None else None

    attributes: dict[str, str] = {}
    put(attributes, "points_deducted", deducted)
    attributes["coupons_unredeemed"] = compact(unredeemed)
    put(attributes, "refund_reference", refund.get("reference"))
    c.events.commerce(
        "refund",
        reference,
        total,
        commerce_products(items, exponent),
        c.options.currency,
        attributes,
    )

    custom: dict[str, str] = {}
    put(custom, "points_deducted", deducted)
    custom["coupons_unredeemed"] = attributes["coupons_unredeemed"]
    custom["products_returned"] = compact(product_list(items))
    c.events.custom("ee_loyalty_posconnect_wallet_refund", custom, TRANSACTION)


def _parent_reference(c: Context, transaction: dict[str, Any]) -> str | None:
    """The reference of the transaction's parent: in this event, else from wallet state,
    else what the caller looked up in AIR."""
    parent = _parent_id(transaction)
    if parent is None:
        return None
    return _reference_in(c.n, parent) or c.state.transactions.get(parent) or c.looked_up.get(parent)


def _parent_id(transaction: dict[str, Any]) -> str | None:
    parent = id_text(transaction.get("parentWalletTransactionId"))
    return None if parent is None or parent == "0" else parent


def _reference_in(n: Notification, transaction_id: str) -> str | None:
    for op, value in n.values("walletTransactionEntity"):
        same = op != "DELETE" and id_text(value.get("walletTransactionId")) == transaction_id
        if same and (reference := text(value.get("reference"))):
            return reference
    return None


def void_lookup(n: Notification, state: WalletState | None) -> tuple[str, str] | None:
    """(walletId, parent walletTransactionId) of a SPEND.VOID whose parent's reference
    neither the event nor the wallet's state knows: what to ask AIR for (docs/mapping.md,
    POSCONNECT.WALLET.SPEND.VOID). None for every other event. Pure: the caller does the
    asking."""
    if n.event_name != "POSCONNECT.WALLET.SPEND.VOID" or n.wallet_id is None:
        return None
    spend = last_transaction(n, "SPEND")
    parent = _parent_id(spend) if spend is not None else None
    if parent is None or _reference_in(n, parent):
        return None
    if state is not None and parent in state.transactions:
        return None
    return n.wallet_id, parent


def _total(coupons: list[dict[str, Any]]) -> int | float:
    return sum(coupon["value"] or 0 for coupon in coupons)


def _spend_attributes(spend: dict[str, Any]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    details = summary(spend)
    put(
        attributes,
        "points_balance",
        dig(details, "spendAdjudicationResults", "balanceAfter", "current"),
    )
    put(attributes, "points_spent", dig(details, "results", "points", "spend"))
    put(attributes, "tier", dig(details, "results", "tiers", "points"))
    return attributes


def _spend(c: Context) -> dict[str, Any]:
    spend = last_transaction(c.n, "SPEND")
    if spend is None:
        raise MissingOperation("no walletTransactionEntity SPEND")
    return spend


def map_spend(c: Context) -> None:
    spend = _spend(c)
    body = c.n.request_body
    attributes: dict[str, str] = {}
    put(attributes, "original_transaction_reference", dig(body, "parentWalletTransactionReference"))
    put(attributes, "reference", dig(body, "reference"))
    attributes.update(_spend_attributes(spend))
    c.events.custom("ee_loyalty_posconnect_wallet_spend", attributes, TRANSACTION)


def map_spend_void(c: Context) -> None:
    """As SPEND; the original reference from the event, wallet state, or AIR (looked up by
    the caller: see `void_lookup`)."""
    spend = _spend(c)
    attributes: dict[str, str] = {}
    original = _parent_reference(c, spend)
    if original is None:
        c.count("void_reference_miss")
    else:
        attributes["original_transaction_reference"] = original
    put(attributes, "transaction_reference", dig(c.n.request_body, "reference"))
    attributes.update(_spend_attributes(spend))
    attributes["voided"] = "true"
    c.events.custom("ee_loyalty_posconnect_wallet_spend_void", attributes, TRANSACTION)
