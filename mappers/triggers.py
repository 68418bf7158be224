"""Behavioural triggers: SERVICE.TRIGGER -> ee_loyalty_service_trigger."""

from __future__ import annotations

from mappers.context import Context
from mappers.extract import (
    MissingOperation,
    account_id,
    account_of,
    account_transactions,
    coupon_list,
)
from mappers.values import compact, num, put


def map_trigger(c: Context) -> None:
    """The BEHAVIOURAL_ACTION account redeemed, points credited, coupons created."""
    transactions = account_transactions(c.n)
    actions = [
        t
        for t in transactions
        if account_of(t).get("type") == "BEHAVIOURAL_ACTION" and t.get("event") == "REDEEM"
    ]
    if not actions:
        raise MissingOperation("no BEHAVIOURAL_ACTION account-transaction with event REDEEM")
    action = actions[-1]
    points = sum(
        num(t.get("value")) or 0
        for t in transactions
        if account_of(t).get("type") == "POINTS" and t.get("event") == "CREDIT"
    )
    attributes: dict[str, str] = {}
    put(attributes, "account_id", account_id(action))
    put(attributes, "campaign_id", account_of(action).get("campaignId"))
    put(attributes, "points", points)
    attributes["coupons"] = compact(coupon_list(c.n))
    c.events.custom("ee_loyalty_service_trigger", attributes)
