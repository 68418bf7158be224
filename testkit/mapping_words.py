"""The words of docs/mapping.md that code cannot say: where each value comes from.

testkit/mapping_doc.py puts them beside what the registry, the vocabulary and the mappers
say (the mappers run on testkit/cases.py's inputs). It refuses to write the page when the
registry maps an event these words do not describe, or when a mapper emits a field they do
not explain; a described field the cases do not show is listed as "not in the example".
"""

from __future__ import annotations

from dataclasses import dataclass

# A commerce event is named by its product action: "commerce:purchase".
COMMERCE = "commerce:"


@dataclass(frozen=True, slots=True)
class EventWords:
    """One AIR eventName: what its mapper reads, and the source of each field it emits,
    by mParticle event (a custom event's name, or COMMERCE + the product action)."""

    reads: str
    fields: dict[str, dict[str, str]]


_PRODUCTS = (
    "one product per basket line: `id` (`upc`), `name` (`description`), `price`"
    " (`itemUnitCost`), `quantity` (`itemUnitCount`), `total_product_amount`"
    " (`totalUnitCostAfterDiscount`); money in major units, fields AIR leaves out omitted"
)
_CURRENCY = "`AIRMP_CURRENCY` (default GBP)"
_COUPON_VALUES = (
    "the ECOUPON account-transactions with event `{event}` as a JSON list of"
    ' `{{"account_id","campaign_id","value"}}` (value as AIR gives it), `[]` when none'
)
_PRODUCT_LIST = (
    'the basket lines as a JSON list of `{"description","count","itemCost","totalCost"}`'
    " (`description`, `itemUnitCount`, `itemUnitCost`, `totalUnitCost`: AIR's minor units)"
)
_COUPON_LIST = (
    "the ECOUPON accounts the event creates (event CREATE) as a JSON list of"
    ' `{"account_id","campaign_id","type","client_type","status","state","date_start",'
    '"date_end"}`'
)
_PURCHASE_ATTRIBUTES = {
    "total_points_earned": "`summary.results.points.totalPointsGiven` of the transaction",
    "discounts_received": (
        "the sum of the non-null values of `summary.totalDiscountAmount`; omitted when AIR"
        " gives none"
    ),
    "coupons_redeemed": _COUPON_VALUES.format(event="REDEEM"),
    "store_location_store_id": "`location.storeId`, when set",
    "store_location_store_parent_id": "`location.storeParentId`, when set",
}
_SPEND = {
    "points_balance": (
        "`summary.spendAdjudicationResults.balanceAfter.current` of the SPEND transaction"
    ),
    "points_spent": "`summary.results.points.spend`",
    "tier": "`summary.results.tiers.points`, when present",
}
_TIER = {
    "tier_id": "`tierId`",
    "tier_balances_points": "`balances.points`",
    "tier_balances_spend": "`balances.spend`",
    "tier_balances_transactions": "`balances.transactions`",
    "tier_balances_reset_date": "`tierBalancesResetDate`",
}
_TIER_READS = (
    "The last tierMembershipEntity operation that is not a DELETE (upper-snake"
    " `TIER_MEMBERSHIP_ENTITY` too); none: `missing_operation`. The attributes describe that"
    " entity; the profile's tier comes from wallet state, so an older tier event arriving late"
    " does not roll the profile back."
)
_JOINED = EventWords(
    "Nothing is required: the event always maps. It makes the wallet a member.",
    {
        "ee_loyalty_program_joined": {
            "points_balance": "the profile's `points_balance` after the event, when known",
            **{name: f"the profile's `{name}` after the event, when known" for name in _TIER},
            "coupons": f"{_COUPON_LIST}; only when the event creates one",
        }
    },
)
_ACCOUNT = {
    "account_id": "`account.accountId` (else the account-transaction's `accountId`)",
    "campaign_id": "`account.campaignId`",
}


def _tier(suffix: str) -> EventWords:
    return EventWords(_TIER_READS, {f"ee_loyalty_tier_membership_{suffix}": dict(_TIER)})


EVENTS: dict[str, EventWords] = {
    "POSCONNECT.WALLET.SETTLE": EventWords(
        "The last walletTransactionEntity of type SETTLE and status SETTLED that has basket"
        " contents; none: `missing_operation`.",
        {
            COMMERCE + "purchase": {
                "product_action.transaction_id": "the transaction's `reference`",
                "product_action.total_amount": "`basket.summary.totalBasketValue`, major units",
                "product_action.products": _PRODUCTS,
                "currency_code": _CURRENCY,
                **_PURCHASE_ATTRIBUTES,
            }
        },
    ),
    "POSCONNECT.WALLET.FULFIL": EventWords(
        "The decoded `request.body` says which fulfilment this is: without `basket`, the"
        " initial one, read from the SETTLE/FULFILLING transaction (all its products); with"
        " `finalise: true`, the final one; otherwise a middle one. Middle and final ones read"
        " the FULFIL/FULFILLED transaction (the products fulfilled now). A body that is missing"
        " or not a JSON object, or a missing transaction: `missing_operation`.",
        {
            COMMERCE + "purchase": {
                "product_action.transaction_id": (
                    "`request.body.originalTransaction.reference`, else the `reference` of"
                    " the event's SETTLE transaction"
                ),
                "product_action.total_amount": (
                    "initial: `totalBasketValue`; middle and final: the sum of the lines'"
                    " `totalUnitCostAfterDiscount`; major units"
                ),
                "product_action.products": _PRODUCTS,
                "currency_code": _CURRENCY,
                **{name: f"as SETTLE's: {text}" for name, text in _PURCHASE_ATTRIBUTES.items()},
                "initial": '`"true"` on the initial fulfilment only',
            },
            "ee_loyalty_posconnect_wallet_fulfil": {
                "points_earned": "`summary.results.points.earn` of the transaction read",
                "coupons_redeemed": "as on the purchase",
                "products": _PRODUCT_LIST,
                "store_location": "`location.storeId`, else `location.storeParentId`",
                "transaction_identity_id": (
                    "the transaction's `identityId`, else the identity value the batch sends"
                    " (`user_identities`); omitted when neither is known"
                ),
                "initial": '`"true"` on the initial fulfilment only',
                "final": '`"true"` on the final fulfilment only',
            },
        },
    ),
    "POSCONNECT.WALLET.REFUND": EventWords(
        "The last walletTransactionEntity of type REFUND and status SETTLED; none:"
        " `missing_operation`.",
        {
            COMMERCE + "refund": {
                "product_action.transaction_id": (
                    "`request.body.originalTransaction.reference`, else the `reference` of the"
                    " refund's parent transaction (`parentWalletTransactionId`), from this"
                    " event, else from wallet state; omitted when neither knows it"
                ),
                "product_action.total_amount": (
                    "the sum of the refund lines' `totalUnitCostAfterDiscount`, less (the"
                    " coupon values unredeemed less those redeemed in this event); major units"
                ),
                "product_action.products": _PRODUCTS,
                "currency_code": _CURRENCY,
                "points_deducted": (
                    "`totalPointsTaken` minus `totalPointsGiven` of the refund's"
                    " `summary.results.points`; omitted unless AIR gives both"
                ),
                "coupons_unredeemed": _COUPON_VALUES.format(event="UNREDEEM"),
                "refund_reference": "the refund transaction's `reference`",
            },
            "ee_loyalty_posconnect_wallet_refund": {
                "points_deducted": "as on the refund",
                "coupons_unredeemed": "as on the refund",
                "products_returned": _PRODUCT_LIST.replace("basket lines", "refund's lines"),
            },
        },
    ),
    "POSCONNECT.WALLET.SPEND": EventWords(
        "The last walletTransactionEntity of type SPEND; none: `missing_operation`.",
        {
            "ee_loyalty_posconnect_wallet_spend": {
                "original_transaction_reference": (
                    "`request.body.parentWalletTransactionReference`"
                ),
                "reference": "`request.body.reference`",
                **_SPEND,
            }
        },
    ),
    "POSCONNECT.WALLET.SPEND.VOID": EventWords(
        "The last walletTransactionEntity of type SPEND (the voided spend); none:"
        " `missing_operation`.",
        {
            "ee_loyalty_posconnect_wallet_spend_void": {
                "original_transaction_reference": (
                    "the `reference` of the spend's parent (`parentWalletTransactionId`): from"
                    " this event, else from wallet state's recent transactions, else, with AIR"
                    " credentials, asked of AIR by the worker (`GET"
                    " /wallet/{walletId}/transaction/{id}`, `mappers.void_lookup`); omitted"
                    " when none knows it, and counted (`void_reference_miss`)"
                ),
                "transaction_reference": "`request.body.reference`",
                **_SPEND,
                "voided": 'always `"true"`',
            }
        },
    ),
    "SERVICE.WALLET.CREATE": _JOINED,
    "SERVICE.WALLET.ACCOUNTS.CREATE": _JOINED,
    "SERVICE.WALLET.DELETE": EventWords(
        "Nothing is required: the event always maps. The batch deletes the seven profile"
        " attributes; its identity comes from wallet state (the event's own identities are"
        " obfuscated), and the wallet's state is cleared once the record is out (only its"
        " dedup memory stays).",
        {"ee_loyalty_program_left": {}},
    ),
    "TIER.MEMBERSHIP.CREATE": _tier("create"),
    "TIER.MEMBERSHIP.CREDIT": _tier("credit"),
    "TIER.MEMBERSHIP.DEBIT": _tier("debit"),
    "TIER.MEMBERSHIP.MOVE": _tier("move"),
    "TIER.MEMBERSHIP.ADJUST": _tier("adjust"),
    "WALLET.ACCOUNT.CREATE.CAMPAIGN": EventWords(
        "The walletAccountTransactionEntity operations of operationType CREATE whose `event`"
        " is CREATE or absent (quests, continuity and stamp cards carry none), each in its"
        " last state; none: `missing_operation`. One event per account created.",
        {
            "ee_loyalty_wallet_account_create_campaign": {
                **_ACCOUNT,
                "type": "`account.type`",
                "clientType": "`account.clientType`",
                "status": "`account.status`",
                "date_start": "`account.dates.start`, when set",
                "date_end": "`account.dates.end`, when set",
            }
        },
    ),
    "WALLET.ACCOUNT.CREATE.SCHEME": EventWords(
        "Nothing is required: the event always maps. The new POINTS account and tier reach"
        " the profile through wallet state.",
        {"ee_loyalty_wallet_account_create_scheme": {}},
    ),
    "WALLET.ACCOUNT.CREATE.PLAN": EventWords(
        "The account-transactions with event CREATE; the last one of a STANDARD_SUBSCRIPTION"
        " account is the plan; none: `missing_operation`.",
        {
            "ee_loyalty_subscription_joined": {
                **{name: f"{text} of the subscription account" for name, text in _ACCOUNT.items()},
                "entitlements": (
                    "the created accounts whose `clientType` is ENTITLEMENT, as a JSON list of"
                    ' `{"account_id","campaign_id"}`, `[]` when none'
                ),
            }
        },
    ),
    "WALLET.ACCOUNT.UPDATE": EventWords(
        "Each account-transaction of a STANDARD_SUBSCRIPTION account with event CANCEL makes"
        " one event. An update with none (and no coupon redeemed) makes no record and is"
        " counted `unmapped:WALLET.ACCOUNT.UPDATE`.",
        {"ee_loyalty_subscription_cancelled": dict(_ACCOUNT)},
    ),
    "SERVICE.TRIGGER": EventWords(
        "The last account-transaction of a BEHAVIOURAL_ACTION account with event REDEEM;"
        " none: `missing_operation`.",
        {
            "ee_loyalty_service_trigger": {
                **{
                    name: f"{text} of the BEHAVIOURAL_ACTION account"
                    for name, text in _ACCOUNT.items()
                },
                "points": (
                    "the sum of the values of POINTS account-transactions with event CREDIT,"
                    ' `"0"` when none'
                ),
                "coupons": f"{_COUPON_LIST}, `[]` when none",
            }
        },
    ),
}

# Appended to any mapped event, after the event's own (mappers/process.py).
COUPON_REDEEMED = "ee_loyalty_coupon_redeemed"
COUPON_REDEEMED_FIELDS = {
    **_ACCOUNT,
    "value": "the account-transaction's `value`",
}

# The batch's fields (mappers/models.py `Batch`).
BATCH_FIELDS = {
    "environment": "`AIRMP_MPARTICLE_ENVIRONMENT`: `development` (default) or `production`",
    "user_identities": "who the batch is about: see Identities below",
    "user_attributes": (
        "the loyalty profile after the event (§3), only attributes ever known; omitted when none is"
    ),
    "deleted_user_attributes": (
        "SERVICE.WALLET.DELETE only, instead of `user_attributes`: the seven profile names"
    ),
    "events": "the events of §5, in the order given there",
    "source_request_id": (
        "a UUIDv5 of `headers.eesEventId`: the same AIR event always carries the same id,"
        " and mParticle drops a batch it has seen"
    ),
}

# The profile attributes (mappers/state.py `PROFILE_ATTRIBUTES`).
PROFILE = {
    "loyalty_member": (
        '`"true"` once the wallet joined (the join events below); deleted when it leaves'
    ),
    "points_balance": (
        "the sum of `balances.current` over the wallet's POINTS accounts, each account's"
        " last known balance, from walletAccountEntity operations and the `account` of"
        " walletAccountTransactionEntity operations (an account of another wallet ignored)"
    ),
    **{
        name: f"{text} of the wallet's last tierMembershipEntity (not a DELETE), as AIR gives it"
        for name, text in _TIER.items()
    },
}

# Dead-letter reasons (mappers/reading.py `RejectReason`).
REJECTIONS = {
    "not_json": "the bytes are not JSON",
    "not_object": "the JSON is not an object",
    "no_event_name": "no `headers.eventName`",
    "no_wallet": "a mapped event in which no step of §1 finds a wallet",
    "missing_operation": (
        "a mapped event without the operation its mapper reads (§5, each event's"
        ' "Reads"); state is still updated'
    ),
    "no_identity": "a batch would have no identity at all (an empty walletId)",
    "invalid_notification": (
        "a mapped event without `headers.eesEventId`, or with a `headers.eventDate` that is"
        " no ISO date"
    ),
    "mapping_error": "a mapper raised: a bug, or input no rule foresaw; state is left as it was",
}
