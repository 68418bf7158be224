# ruff: noqa: E501  (fixture data reads better on one line)
"""One hand-written notification per AIR eventName the registry maps, with its exact record
(docs/mapping.md §5 is generated from what the mappers make of these)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from testkit.builders import (
    CARD,
    account_tx,
    commerce,
    custom,
    item,
    notification,
    op,
    points,
    record,
    tier,
    tier_attributes,
    transaction,
)

Case = tuple[dict[str, Any], dict[str, Any]]
PROFILE = [
    "loyalty_member",
    "points_balance",
    "tier_id",
    "tier_balances_points",
    "tier_balances_spend",
    "tier_balances_transactions",
    "tier_balances_reset_date",
]
BASKET = [item("5000111", "Sourdough loaf", 2, 325), item("5000222", "Oat milk", 1, 180, after=130)]
PRODUCTS = [
    {
        "id": "5000111",
        "name": "Sourdough loaf",
        "price": 3.25,
        "quantity": 2,
        "total_product_amount": 6.5,
    },
    {"id": "5000222", "name": "Oat milk", "price": 1.8, "quantity": 1, "total_product_amount": 1.3},
]
PRODUCT_LIST = (
    '[{"description":"Sourdough loaf","count":2,"itemCost":325,"totalCost":650},'
    '{"description":"Oat milk","count":1,"itemCost":180,"totalCost":180}]'
)
COUPON = account_tx("AT-1", "7001", "5001", "ECOUPON", "REDEEM", 50)
COUPON_JSON = '[{"account_id":"7001","campaign_id":"5001","value":50}]'
REDEEMED = custom(
    "ee_loyalty_coupon_redeemed",
    {"account_id": "7001", "campaign_id": "5001", "value": "50"},
    "transaction",
    position=1,
)


def settle() -> Case:
    summary = {
        "totalBasketValue": 780,
        "totalDiscountAmount": {"promotions": 50, "staff": None, "general": None},
        "results": {"points": {"earn": 7, "totalPointsGiven": 57}},
    }
    doc = notification(
        "POSCONNECT.WALLET.SETTLE",
        [
            op(
                "walletTransactionEntity",
                "CREATE",
                transaction("T-1", "SETTLE", "SETTLED", "R-100"),
            ),
            op("walletAccountTransactionEntity", "UPDATE", COUPON),
            op("walletAccountTransactionEntity", "UPDATE", points("AT-2", 157)),
            op("tierMembershipEntity", "UPDATE", tier("GOLD", 57, 780, 1)),
            op(
                "walletTransactionEntity",
                "UPDATE",
                transaction(
                    "T-1", "SETTLE", "SETTLED", "R-100", items=BASKET, summary=summary, store="S-7"
                ),
            ),
        ],
    )
    attributes = {
        "total_points_earned": "57",
        "discounts_received": "50",
        "coupons_redeemed": COUPON_JSON,
        "store_location_store_id": "S-7",
    }
    profile = {"points_balance": "157", **tier_attributes("GOLD", 57, 780, 1)}
    events = [commerce("purchase", "R-100", 7.8, PRODUCTS, attributes), REDEEMED]
    return doc, record("POSCONNECT.WALLET.SETTLE", events, profile)


def fulfil_initial() -> Case:
    summary = {"totalBasketValue": 780, "results": {"points": {"earn": 7, "totalPointsGiven": 7}}}
    doc = notification(
        "POSCONNECT.WALLET.FULFIL",
        [
            op(
                "walletTransactionEntity",
                "UPDATE",
                transaction(
                    "T-2",
                    "SETTLE",
                    "FULFILLING",
                    "R-200",
                    items=BASKET,
                    summary=summary,
                    identity_id="ID-9",
                ),
            )
        ],
        body=orjson.dumps(
            {"originalTransaction": {"reference": "R-200"}, "reference": "R-200-a"}
        ).decode(),
    )
    purchase = {"total_points_earned": "7", "coupons_redeemed": "[]", "initial": "true"}
    fulfil = {
        "points_earned": "7",
        "coupons_redeemed": "[]",
        "products": PRODUCT_LIST,
        "transaction_identity_id": "ID-9",
        "initial": "true",
    }
    events = [
        commerce("purchase", "R-200", 7.8, PRODUCTS, purchase),
        custom("ee_loyalty_posconnect_wallet_fulfil", fulfil, "transaction", position=1),
    ]
    return doc, record("POSCONNECT.WALLET.FULFIL", events)


def fulfil_final() -> Case:
    # Body escaped twice, as AIR sometimes sends it; no originalTransaction: the SETTLE's reference.
    body = orjson.dumps(
        orjson.dumps({"finalise": True, "basket": {"contents": []}}).decode()
    ).decode()
    summary = {"results": {"points": {"earn": 3, "totalPointsGiven": 3}}}
    doc = notification(
        "POSCONNECT.WALLET.FULFIL",
        [
            op(
                "walletTransactionEntity",
                "UPDATE",
                transaction("T-2", "SETTLE", "SETTLED", "R-200"),
            ),
            op(
                "walletTransactionEntity",
                "CREATE",
                transaction(
                    "T-3",
                    "FULFIL",
                    "FULFILLED",
                    "R-200-c",
                    items=BASKET[1:],
                    summary=summary,
                    parent="T-2",
                    parent_store="BANNER-1",
                ),
            ),
        ],
        body=body,
    )
    purchase = {
        "total_points_earned": "3",
        "coupons_redeemed": "[]",
        "store_location_store_parent_id": "BANNER-1",
    }
    fulfil = {
        "points_earned": "3",
        "coupons_redeemed": "[]",
        "products": '[{"description":"Oat milk","count":1,"itemCost":180,"totalCost":180}]',
        "store_location": "BANNER-1",
        "transaction_identity_id": CARD,
        "final": "true",
    }
    events = [
        commerce("purchase", "R-200", 1.3, PRODUCTS[1:], purchase),
        custom("ee_loyalty_posconnect_wallet_fulfil", fulfil, "transaction", position=1),
    ]
    return doc, record("POSCONNECT.WALLET.FULFIL", events)


def refund() -> Case:
    summary = {"results": {"points": {"totalPointsTaken": 57, "totalPointsGiven": 0}}}
    unredeem = account_tx("AT-5", "7001", "5001", "ECOUPON", "UNREDEEM", 50)
    doc = notification(
        "POSCONNECT.WALLET.REFUND",
        [
            op("walletAccountTransactionEntity", "UPDATE", unredeem),
            op("walletAccountTransactionEntity", "UPDATE", points("AT-6", 100, "REFUND_DEBIT", 57)),
            op(
                "walletTransactionEntity",
                "UPDATE",
                transaction("T-1", "SETTLE", "SETTLED", "R-100"),
            ),
            op(
                "walletTransactionEntity",
                "CREATE",
                transaction(
                    "T-4", "REFUND", "SETTLED", "RF-1", items=BASKET, summary=summary, parent="T-1"
                ),
            ),
        ],
        body=None,  # no originalTransaction: the parent SETTLE transaction's reference
    )
    coupons = '[{"account_id":"7001","campaign_id":"5001","value":50}]'
    events = [
        commerce(
            "refund",
            "R-100",
            7.3,  # 780 after discount - (50 unredeemed - 0 redeemed) = 730
            PRODUCTS,
            {"points_deducted": "57", "coupons_unredeemed": coupons, "refund_reference": "RF-1"},
        ),
        custom(
            "ee_loyalty_posconnect_wallet_refund",
            {
                "points_deducted": "57",
                "coupons_unredeemed": coupons,
                "products_returned": PRODUCT_LIST,
            },
            "transaction",
            position=1,
        ),
    ]
    return doc, record("POSCONNECT.WALLET.REFUND", events, {"points_balance": "100"})


SPEND_SUMMARY = {
    "spendAdjudicationResults": {"balanceAfter": {"current": 40}},
    "results": {"points": {"spend": 60}, "tiers": {"points": -60}},
}


def spend() -> Case:
    body = {"reference": "SP-1", "parentWalletTransactionReference": "R-300"}
    doc = notification(
        "POSCONNECT.WALLET.SPEND",
        [
            op(
                "walletTransactionEntity",
                "UPDATE",
                transaction("T-6", "SPEND", "ACTIVE", "SP-1", summary=SPEND_SUMMARY, parent="T-5"),
            )
        ],
        body=orjson.dumps(body).decode(),
    )
    attributes = {
        "original_transaction_reference": "R-300",
        "reference": "SP-1",
        "points_balance": "40",
        "points_spent": "60",
        "tier": "-60",
    }
    events = [custom("ee_loyalty_posconnect_wallet_spend", attributes, "transaction")]
    return doc, record("POSCONNECT.WALLET.SPEND", events)


def spend_void() -> Case:
    doc = notification(
        "POSCONNECT.WALLET.SPEND.VOID",
        [
            op(
                "walletTransactionEntity",
                "UPDATE",
                transaction("T-6", "SPEND", "VOIDED", "SP-1", summary=SPEND_SUMMARY, parent="T-5"),
            )
        ],
        body={"reference": "SP-1"},  # already decoded: accepted as is
    )
    attributes = {
        # No original_transaction_reference: state does not know T-5 (a counted miss).
        "transaction_reference": "SP-1",
        "points_balance": "40",
        "points_spent": "60",
        "tier": "-60",
        "voided": "true",
    }
    events = [custom("ee_loyalty_posconnect_wallet_spend_void", attributes, "transaction")]
    return doc, record("POSCONNECT.WALLET.SPEND.VOID", events)


def wallet_create() -> Case:
    doc = notification(
        "SERVICE.WALLET.CREATE",
        [
            op("walletEntity", "CREATE", {"walletId": "900100", "status": "ACTIVE"}),
            op(
                "walletIdentityEntity",
                "CREATE",
                {"walletId": "900100", "type": "CARD", "value": CARD},
            ),
        ],
        enrichment=False,
        resource="/services/wallet",
    )
    events = [custom("ee_loyalty_program_joined")]
    return doc, record("SERVICE.WALLET.CREATE", events, {"loyalty_member": "true"})


def accounts_create() -> Case:
    dates = {"start": "2025-03-01T10:00:00+00:00", "end": None}
    coupon = account_tx("AT-7", "7002", "5002", "ECOUPON", "CREATE", dates=dates)
    doc = notification(
        "SERVICE.WALLET.ACCOUNTS.CREATE",
        [
            op("walletAccountTransactionEntity", "CREATE", coupon),
            op("walletAccountTransactionEntity", "CREATE", points("AT-8", 0, "CREATE")),
            op("tierMembershipEntity", "CREATE", tier("BRONZE", 0, 0, 0)),
        ],
    )
    coupons = (
        '[{"account_id":"7002","campaign_id":"5002","type":"ECOUPON","client_type":"OFFER",'
        '"status":"ACTIVE","state":"LOADED","date_start":"2025-03-01T10:00:00+00:00","date_end":null}]'
    )
    tiers = tier_attributes("BRONZE", 0, 0, 0)
    joined = {"points_balance": "0", **tiers, "coupons": coupons}
    profile = {"loyalty_member": "true", "points_balance": "0", **tiers}
    events = [custom("ee_loyalty_program_joined", joined)]
    return doc, record("SERVICE.WALLET.ACCOUNTS.CREATE", events, profile)


def wallet_delete() -> Case:
    doc = notification(
        "SERVICE.WALLET.DELETE",
        [
            op(
                "walletIdentityEntity",
                "DELETE",
                {"walletId": "900100", "type": "CARD", "value": "DELETED_1_x", "status": "DELETED"},
            ),
            op("walletEntity", "DELETE", {"walletId": "900100", "status": "DELETED"}),
        ],
        enrichment=False,
        resource="/services/wallet/900100",
    )
    events = [custom("ee_loyalty_program_left")]
    expected = record(
        "SERVICE.WALLET.DELETE", events, identities={"customer_id": "900100"}, deleted=PROFILE
    )
    return doc, expected


def _tier_case(name: str, suffix: str) -> Callable[[], Case]:
    def case() -> Case:
        doc = notification(
            name,
            [op("TIER_MEMBERSHIP_ENTITY", "UPDATE", tier("SILVER", 1200, 15000, 9))],  # upper-snake
            resource="/wallet/900100/tier/membership/T-55/" + suffix,
        )
        del doc["enrichmentData"]  # found from the resource; identity unknown
        attributes = tier_attributes("SILVER", 1200, 15000, 9)
        events = [custom(f"ee_loyalty_tier_membership_{suffix}", attributes)]
        return doc, record(name, events, attributes, identities={"customer_id": "900100"})

    return case


def campaign() -> Case:
    dates = {"start": "2025-03-01T10:00:00+00:00", "end": "2025-06-30T23:59:00+00:00"}
    doc = notification(
        "WALLET.ACCOUNT.CREATE.CAMPAIGN",
        [op("walletAccountTransactionEntity", "CREATE", account_tx("AT-9", "7003", "5003", "ECOUPON", "CREATE", dates=dates))],
        resource="/wallet/900100/campaign/5003/account",
    )  # fmt: skip
    attributes = {
        "account_id": "7003",
        "campaign_id": "5003",
        "type": "ECOUPON",
        "clientType": "OFFER",
        "status": "ACTIVE",
        "date_start": "2025-03-01T10:00:00+00:00",
        "date_end": "2025-06-30T23:59:00+00:00",
    }
    events = [custom("ee_loyalty_wallet_account_create_campaign", attributes)]
    return doc, record("WALLET.ACCOUNT.CREATE.CAMPAIGN", events)


def campaign_without_event() -> Case:
    # docs/mapping-decisions.md: "CREATE" is the operation's operationType; a quest and a stamp card carry
    # no `event` field. The UPDATE of an existing account and a REDEEM row are no creations.
    quest = account_tx("AT-13", "7006", "5006", "QUEST", None, client_type="QUEST")
    stamps = account_tx("AT-14", "7007", "5007", "CONTINUITY", None, client_type="STAMP_CARD")
    other = account_tx("AT-15", "7003", "5003", "ECOUPON", "CREATE")
    redeem = account_tx("AT-16", "7008", "5008", "ECOUPON", "REDEEM", 10)
    doc = notification(
        "WALLET.ACCOUNT.CREATE.CAMPAIGN",
        [
            op("walletAccountTransactionEntity", "CREATE", quest),
            op("walletAccountTransactionEntity", "CREATE", stamps),
            op("walletAccountTransactionEntity", "UPDATE", other),
            op("walletAccountTransactionEntity", "CREATE", redeem),
        ],
        resource="/wallet/900100/campaign/5006/account",
    )
    events = [
        custom(
            "ee_loyalty_wallet_account_create_campaign",
            {"account_id": a, "campaign_id": c, "type": t, "clientType": k, "status": "ACTIVE"},
            position=position,
        )
        for position, (a, c, t, k) in enumerate(
            (("7006", "5006", "QUEST", "QUEST"), ("7007", "5007", "CONTINUITY", "STAMP_CARD"))
        )
    ]
    redeemed = {"account_id": "7008", "campaign_id": "5008", "value": "10"}
    events.append(custom("ee_loyalty_coupon_redeemed", redeemed, "transaction", position=2))
    return doc, record("WALLET.ACCOUNT.CREATE.CAMPAIGN", events)


def scheme() -> Case:
    doc = notification(
        "WALLET.ACCOUNT.CREATE.SCHEME",
        [
            op("walletAccountTransactionEntity", "CREATE", points("AT-10", 0, "CREATE")),
            op("tierMembershipEntity", "CREATE", tier("BRONZE", 0, 0, 0)),
        ],
    )
    profile = {"points_balance": "0", **tier_attributes("BRONZE", 0, 0, 0)}
    events = [custom("ee_loyalty_wallet_account_create_scheme")]
    return doc, record("WALLET.ACCOUNT.CREATE.SCHEME", events, profile)


def plan() -> Case:
    ops = [
        account_tx("AT-11", "7005", "5005", "ECOUPON", "CREATE", client_type="ENTITLEMENT"),
        account_tx("AT-12", "7004", "5004", "STANDARD_SUBSCRIPTION", "CREATE", client_type=None),
    ]
    doc = notification(
        "WALLET.ACCOUNT.CREATE.PLAN",
        [op("walletAccountTransactionEntity", "CREATE", v) for v in ops],
    )
    attributes = {
        "account_id": "7004",
        "campaign_id": "5004",
        "entitlements": '[{"account_id":"7005","campaign_id":"5005"}]',
    }
    events = [custom("ee_loyalty_subscription_joined", attributes)]
    return doc, record("WALLET.ACCOUNT.CREATE.PLAN", events)


def account_update() -> Case:
    ops = [
        account_tx("AT-13", "7004", "5004", "STANDARD_SUBSCRIPTION", "CANCEL", status="CANCELLED"),
        account_tx("AT-14", "7005", "5005", "ECOUPON", "CANCEL", status="CANCELLED"),
    ]
    doc = notification(
        "WALLET.ACCOUNT.UPDATE", [op("walletAccountTransactionEntity", "UPDATE", v) for v in ops]
    )
    events = [
        custom("ee_loyalty_subscription_cancelled", {"account_id": "7004", "campaign_id": "5004"})
    ]
    return doc, record("WALLET.ACCOUNT.UPDATE", events)


def trigger() -> Case:
    ops = [
        account_tx("AT-15", "7006", "5006", "BEHAVIOURAL_ACTION", "CREATE", client_type="BEHAVIOURAL_ACTION"),
        account_tx("AT-16", "7006", "5006", "BEHAVIOURAL_ACTION", "REDEEM", 300, client_type="BEHAVIOURAL_ACTION"),
        points("AT-17", 300, "CREDIT", 300),
    ]  # fmt: skip
    doc = notification(
        "SERVICE.TRIGGER", [op("walletAccountTransactionEntity", "CREATE", v) for v in ops]
    )
    attributes = {"account_id": "7006", "campaign_id": "5006", "points": "300", "coupons": "[]"}
    events = [custom("ee_loyalty_service_trigger", attributes)]
    return doc, record("SERVICE.TRIGGER", events, {"points_balance": "300"})


CASES: dict[str, Callable[[], Case]] = {
    "POSCONNECT.WALLET.SETTLE": settle,
    "POSCONNECT.WALLET.FULFIL-initial": fulfil_initial,
    "POSCONNECT.WALLET.FULFIL-final": fulfil_final,
    "POSCONNECT.WALLET.REFUND": refund,
    "POSCONNECT.WALLET.SPEND": spend,
    "POSCONNECT.WALLET.SPEND.VOID": spend_void,
    "SERVICE.WALLET.CREATE": wallet_create,
    "SERVICE.WALLET.ACCOUNTS.CREATE": accounts_create,
    "SERVICE.WALLET.DELETE": wallet_delete,
    "TIER.MEMBERSHIP.CREATE": _tier_case("TIER.MEMBERSHIP.CREATE", "create"),
    "TIER.MEMBERSHIP.CREDIT": _tier_case("TIER.MEMBERSHIP.CREDIT", "credit"),
    "TIER.MEMBERSHIP.DEBIT": _tier_case("TIER.MEMBERSHIP.DEBIT", "debit"),
    "TIER.MEMBERSHIP.MOVE": _tier_case("TIER.MEMBERSHIP.MOVE", "move"),
    "TIER.MEMBERSHIP.ADJUST": _tier_case("TIER.MEMBERSHIP.ADJUST", "adjust"),
    "WALLET.ACCOUNT.CREATE.CAMPAIGN": campaign,
    "WALLET.ACCOUNT.CREATE.CAMPAIGN-no-event": campaign_without_event,
    "WALLET.ACCOUNT.CREATE.SCHEME": scheme,
    "WALLET.ACCOUNT.CREATE.PLAN": plan,
    "WALLET.ACCOUNT.UPDATE": account_update,
    "SERVICE.TRIGGER": trigger,
}
