"""Pure builders of what AIR says about a behavioural-action reward: the wallet transaction
POST /services/trigger answers with, and the SERVICE.TRIGGER notification AIR emits for it.

Shaped like the real ones (AIR_SAMPLES_DIR: SERVICE.TRIGGER-points.json): the wallet
transaction's `accounts` are the account-transactions (the BEHAVIOURAL_ACTION account's
CREATE and REDEEM, then the POINTS CREDIT or the ECOUPON CREATE), and the notification
repeats each as a walletAccountTransactionEntity CREATE operation, then the wallet's tier
(a tierMembershipTransactionEntity CREATE and the tierMembershipEntity UPDATE) when known.
Ids and dates are the caller's (testkit.local_air allocates them), so a test can build one
by hand and map it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

EVENT_NAME = "SERVICE.TRIGGER"
TRIGGER_RESOURCE = "/services/trigger"
END_OF_TIME = "2038-01-19T03:14:07+00:00"  # AIR's "no end" date
POINTS_TYPE = "POINTS"
ECOUPON_TYPE = "ECOUPON"
ACTION_TYPE = "BEHAVIOURAL_ACTION"
TYPE_POINTS = "BEHAVIOURAL_ACTION_POINTS"
TYPE_COUPON = "BEHAVIOURAL_ACTION_COUPON"


def entity_date(when: datetime) -> str:
    """AIR's date in entities: `2025-02-03T20:51:02+00:00`."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def event_date(when: datetime) -> str:
    """headers.eventDate: UTC, no offset, microseconds: `2025-02-03T20:51:02.310770`."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _account(
    account_id: str,
    wallet_id: str,
    campaign_id: str,
    kind: str,
    client_type: str,
    status: str,
    balances: dict[str, Any],
    start: str,
    end: str,
    created: str,
    updated: str,
) -> dict[str, Any]:
    return {
        "accountId": account_id,
        "walletId": wallet_id,
        "campaignId": campaign_id,
        "type": kind,
        "clientType": client_type,
        "status": status,
        "state": "LOADED",
        "dates": {"start": start, "end": end},
        "meta": [],
        "dateCreated": created,
        "lastUpdated": updated,
        "overrides": [],
        "balances": balances,
        "relationships": [],
        "mobileWallet": None,
    }


def points_balances(current: int, lifetime: int) -> dict[str, Any]:
    """A POINTS account's balances, as AIR lists them."""
    return {
        "current": current,
        "usable": current,
        "lifetime": lifetime,
        "pending": 0,
        "locked": 0,
        "lifetimeSpend": 0,
        "lifetimeSpendValue": 0,
    }


def points_account(
    account_id: str,
    wallet_id: str,
    campaign_id: str,
    current: int,
    lifetime: int,
    when: datetime,
    *,
    created: str | None = None,
) -> dict[str, Any]:
    """The wallet's POINTS (RETAILPOINTS) account with these balances, updated `when`."""
    date = entity_date(when)
    return _account(
        account_id,
        wallet_id,
        campaign_id,
        POINTS_TYPE,
        "RETAILPOINTS",
        "ACTIVE",
        points_balances(current, lifetime),
        created or date,
        END_OF_TIME,
        created or date,
        date,
    )


def action_account(
    account_id: str, wallet_id: str, campaign_id: str, status: str, when: datetime
) -> dict[str, Any]:
    """The BEHAVIOURAL_ACTION account AIR creates for one trigger (ACTIVE, then USED)."""
    date = entity_date(when)
    return _account(
        account_id,
        wallet_id,
        campaign_id,
        ACTION_TYPE,
        ACTION_TYPE,
        status,
        {"available": 0, "refundable": 0},
        date,
        END_OF_TIME,
        date,
        date,
    )


def coupon_account(
    account_id: str, wallet_id: str, campaign_id: str, when: datetime, *, days: int = 365
) -> dict[str, Any]:
    """A new ECOUPON (OFFER) account of `campaign_id`, valid `days` from `when`."""
    date = entity_date(when)
    return _account(
        account_id,
        wallet_id,
        campaign_id,
        ECOUPON_TYPE,
        "OFFER",
        "ACTIVE",
        {"available": 0, "refundable": 0},
        date,
        entity_date(when + timedelta(days=days)),
        date,
        date,
    )


def account_transaction(
    transaction_id: str,
    account: dict[str, Any],
    event: str,
    value: int,
    before: dict[str, Any],
    after: dict[str, Any],
    when: datetime,
) -> dict[str, Any]:
    """One account-transaction (an element of a wallet transaction's `accounts`)."""
    date = entity_date(when)
    return {
        "accountTransactionId": transaction_id,
        "parentAccountTransactionId": "",
        "accountId": account["accountId"],
        "account": account,
        "event": event,
        "value": value,
        "source": 1,
        "balancesBefore": before,
        "balancesAfter": after,
        "transactionDetails": [],
        "properties": [],
        "dateCreated": date,
        "lastUpdated": date,
    }


def wallet_transaction(
    transaction_id: str,
    wallet_id: str,
    reference: str,
    identity_id: str | None,
    accounts: Sequence[dict[str, Any]],
    when: datetime,
) -> dict[str, Any]:
    """The wallet transaction of a reward (the 201 body of POST /services/trigger).

    Its type is BEHAVIOURAL_ACTION_POINTS when any POINTS account is credited, else
    BEHAVIOURAL_ACTION_COUPON; the basket summary counts the points given."""
    credited = sum(
        int(a.get("value") or 0)
        for a in accounts
        if a["account"].get("type") == POINTS_TYPE and a.get("event") == "CREDIT"
    )
    has_points = any(a["account"].get("type") == POINTS_TYPE for a in accounts)
    date = entity_date(when)
    return {
        "walletTransactionId": transaction_id,
        "parentWalletTransactionId": "0",
        "walletId": wallet_id,
        "reference": reference,
        "transactionDateTime": date,
        "transactionDateTimeOffset": "+00:00",
        "identityId": identity_id,
        "identity": None,
        "type": TYPE_POINTS if has_points else TYPE_COUPON,
        "status": "SETTLED",
        "meta": None,
        "state": "ORIGINAL",
        "expiryDate": None,
        "accounts": list(accounts),
        "basket": {
            "contents": None,
            "summary": {
                "points": {
                    "spend": 0,
                    "debit": 0,
                    "refund": 0,
                    "totalPointsTaken": 0,
                    "earn": 0,
                    "credit": credited,
                    "totalPointsGiven": credited,
                    "totalMonetaryValue": 0,
                },
                "tiers": {"points": 0, "transactions": 0, "spend": 0},
            },
            "payment": None,
        },
        "channel": None,
        "location": {"storeId": None, "storeParentId": None},
        "dateCreated": date,
        "lastUpdated": date,
    }


def _op(kind: str, operation: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"objectType": kind, "operationType": operation, "objectValue": value}


def service_trigger(
    transaction: dict[str, Any],
    *,
    identities: Sequence[dict[str, Any]],
    request_body: str,
    event_id: str,
    when: datetime,
    client_id: str = "local-air",
    tier: dict[str, Any] | None = None,
    tier_transaction_id: str | None = None,
    subsystem: str = "wallet.local.air",
) -> dict[str, Any]:
    """The SERVICE.TRIGGER notification for the reward `transaction` (as built above).

    `request_body` is the request's body as AIR received it (a JSON string in the
    notification); `identities` the wallet's, for enrichmentData; `tier` the wallet's
    tierMembershipEntity, if it has one (a reward leaves its balances as they are)."""
    wallet_id = str(transaction["walletId"])
    operations = [
        _op("walletAccountTransactionEntity", "CREATE", copy.deepcopy(account))
        for account in transaction.get("accounts", [])
    ]
    if tier is not None:
        operations += _tier_operations(transaction, tier, tier_transaction_id, entity_date(when))
    return {
        "headers": {
            "eventName": EVENT_NAME,
            "eventDate": event_date(when),
            "eesEnvironmentType": "local",
            "eesSubsystemId": subsystem,
            "callerIp": "127.0.0.1",
            "unitId": None,
            "unitFriendlyName": None,
            "clientId": client_id,
            "clientIdFriendlyName": "api",
            "eesEventId": event_id,
            "eesMasterEventId": event_id,
            "externalMessageId": "",
            "eesApiVersion": "2.0",
        },
        "request": {
            "resource": TRIGGER_RESOURCE,
            "method": "POST",
            "body": request_body,
            "contentType": "application/json",
            "customHeaders": [],
        },
        "response": {
            "code": 201,
            "body": copy.deepcopy(transaction),
            "contentType": "application/json;charset=utf-8",
        },
        "atomicOperations": operations,
        "enrichmentData": {
            f"walletEntity_{wallet_id}": {"identities": [copy.deepcopy(i) for i in identities]}
        },
    }


def _tier_operations(
    transaction: dict[str, Any],
    tier: dict[str, Any],
    tier_transaction_id: str | None,
    date: str,
) -> list[dict[str, Any]]:
    """A reward's tier operations: a tier transaction of 0 points and the tier as it is."""
    points = (tier.get("balances") or {}).get("points", 0)
    action = {"balanceType": "POINTS", "amount": 0, "balanceBefore": points, "balanceAfter": points}
    tier_transaction = {
        "tierMembershipTransactionId": tier_transaction_id,
        "tierId": tier.get("tierId"),
        "tierIdAfter": None,
        "tierMembershipId": tier.get("tierMembershipId"),
        "transactionType": "CREDIT",
        "parentTierMembershipTransactionId": None,
        "walletTransactionId": transaction["walletTransactionId"],
        "dateCreated": date,
        "lastUpdated": date,
        "actions": [action],
    }
    return [
        _op("tierMembershipTransactionEntity", "CREATE", tier_transaction),
        _op("tierMembershipEntity", "UPDATE", copy.deepcopy(tier)),
    ]


def dumps(notification: dict[str, Any]) -> bytes:
    return orjson.dumps(notification)
