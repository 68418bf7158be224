"""Accounts and campaigns: WALLET.ACCOUNT.CREATE.CAMPAIGN/.SCHEME/.PLAN, WALLET.ACCOUNT.UPDATE."""

from __future__ import annotations

from mappers.context import Context
from mappers.extract import (
    MissingOperation,
    account_id,
    account_of,
    account_transactions,
    created_by_operation,
    is_created,
)
from mappers.values import compact, dig, id_text, put

SUBSCRIPTION = "STANDARD_SUBSCRIPTION"


def map_create_campaign(c: Context) -> None:
    """One ee_loyalty_wallet_account_create_campaign per account created."""
    created = created_by_operation(c.n)
    if not created:
        raise MissingOperation("no walletAccountTransactionEntity CREATE operation")
    for transaction in created:
        account = account_of(transaction)
        attributes: dict[str, str] = {}
        put(attributes, "account_id", account_id(transaction))
        put(attributes, "campaign_id", account.get("campaignId"))
        put(attributes, "type", account.get("type"))
        put(attributes, "clientType", account.get("clientType"))
        put(attributes, "status", account.get("status"))
        put(attributes, "date_start", dig(account, "dates", "start"))
        put(attributes, "date_end", dig(account, "dates", "end"))
        c.events.custom("ee_loyalty_wallet_account_create_campaign", attributes)


def map_create_scheme(c: Context) -> None:
    """No attributes: the profile picks up the new points account and tier from state."""
    c.events.custom("ee_loyalty_wallet_account_create_scheme")


def map_create_plan(c: Context) -> None:
    """ee_loyalty_subscription_joined: the subscription account and its entitlements."""
    created = [t for t in account_transactions(c.n) if is_created(t)]
    plans = [t for t in created if account_of(t).get("type") == SUBSCRIPTION]
    if not plans:
        raise MissingOperation(f"no {SUBSCRIPTION} account created")
    plan = plans[-1]
    attributes: dict[str, str] = {}
    put(attributes, "account_id", account_id(plan))
    put(attributes, "campaign_id", account_of(plan).get("campaignId"))
    entitlements = [
        {"account_id": account_id(t), "campaign_id": id_text(account_of(t).get("campaignId"))}
        for t in created
        if account_of(t).get("clientType") == "ENTITLEMENT"
    ]
    attributes["entitlements"] = compact(entitlements)
    c.events.custom("ee_loyalty_subscription_joined", attributes)


def map_update(c: Context) -> None:
    """ee_loyalty_subscription_cancelled per cancelled subscription; other updates: nothing."""
    for transaction in account_transactions(c.n):
        account = account_of(transaction)
        if account.get("type") == SUBSCRIPTION and transaction.get("event") == "CANCEL":
            attributes: dict[str, str] = {}
            put(attributes, "account_id", account_id(transaction))
            put(attributes, "campaign_id", account.get("campaignId"))
            c.events.custom("ee_loyalty_subscription_cancelled", attributes)
