"""One event: de-duplicate, update wallet state, map, build the record. Never raises.

The record is docs/mapping.md §2.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mappers.batch import TRANSACTION, Events, Limits, request_id
from mappers.context import Context
from mappers.errors import MissingOperation
from mappers.extract import ECOUPON, account_id, account_of, account_transactions
from mappers.options import MappingOptions
from mappers.reading import Notification, Rejection, RejectReason
from mappers.registry import REGISTRY
from mappers.state import PROFILE_ATTRIBUTES, WalletState
from mappers.values import event_micros, put
from mappers.vocabulary import MAX_USER_ATTRIBUTES


@dataclass(slots=True)
class Outcome:
    """`state` is the wallet's state to store (None: cleared, or no wallet to store it for)."""

    state: WalletState | None
    record: dict[str, Any] | None = None
    rejection: Rejection | None = None
    duplicate: bool = False
    truncated: int = 0
    counters: dict[str, int] = field(default_factory=dict)


def process(
    notification: Notification | Rejection,
    state: WalletState | None,
    options: MappingOptions,
    tag: str | None = None,
    looked_up: Mapping[str, str] | None = None,
) -> Outcome:
    """Map one event with the wallet's state. `tag` names the delivery (the worker passes
    the source topic/partition/offset): the same delivery seen again is re-mapped, so a
    record lost in a crash is emitted again; another delivery of a seen event is a duplicate.
    `looked_up` has the references the caller found in AIR for `pos.void_lookup`.
    """
    if isinstance(notification, Rejection):
        return Outcome(state, rejection=notification)
    try:
        return _process(notification, state, options, tag, looked_up or {})
    except Exception as exc:
        if options.strict:  # tests: a mapper that raises is a bug to see, not a dead letter
            raise
        # The worker must go on: anything unexpected is rejected, and dead-lettered.
        detail = f"{type(exc).__name__}: {exc}"[:300]
        return Outcome(state, rejection=Rejection(RejectReason.MAPPING_ERROR, detail))


def _process(
    n: Notification,
    state: WalletState | None,
    options: MappingOptions,
    tag: str | None,
    looked_up: Mapping[str, str],
) -> Outcome:
    entry = REGISTRY.get(n.event_name)
    if n.wallet_id is None:
        if entry is None:
            return Outcome(state, counters={f"unmapped:{n.event_name}": 1})
        return Outcome(state, rejection=Rejection(RejectReason.NO_WALLET, _NO_WALLET))
    if n.event_id is None:
        missing = Rejection(RejectReason.INVALID_NOTIFICATION, "headers.eesEventId is missing")
        return Outcome(state, rejection=missing)
    at = event_micros(n.event_date)
    if at is None:
        detail = f"headers.eventDate is not an ISO date: {n.event_date!r}"[:200]
        return Outcome(state, rejection=Rejection(RejectReason.INVALID_NOTIFICATION, detail))

    if (
        options.dedup
        and state is not None
        and state.is_duplicate(n.event_id, options.dedup_window_seconds)
        and not state.is_rerun(n.event_id, tag)
    ):
        return Outcome(state, duplicate=True, counters={"duplicate": 1})
    after = state.copy() if state is not None else WalletState()
    after.apply(n, at, options)
    after.remember(n.event_id, at, options.dedup_window_seconds, options.dedup_max_ids, tag)
    if entry is None:
        return Outcome(after, counters={f"unmapped:{n.event_name}": 1})

    identity = after.identity(options.identity_type)
    limits = Limits()
    events = Events(n.event_id, at // 1000, limits)
    c = Context(n, after, options, events, identity, looked_up=looked_up)
    try:
        entry[1](c)
    except MissingOperation as missing:
        detail = f"{n.event_name}: {missing}"
        return Outcome(after, rejection=Rejection(RejectReason.MISSING_OPERATION, detail))
    _coupons_redeemed(c)
    if not c.events.items:
        c.count(f"unmapped:{n.event_name}")
        return Outcome(after, counters=c.counters)

    identities = _user_identities(identity, n.wallet_id, options)
    if not identities:
        no_identity = Rejection(RejectReason.NO_IDENTITY, "no identity for the batch")
        return Outcome(after, rejection=no_identity)
    return Outcome(
        after.tombstone() if c.leaves_program else after,
        record=_record(c, n.event_id, identities, limits),
        truncated=limits.truncated,
        counters=c.counters,
    )


def _record(
    c: Context, event_id: str, identities: dict[str, str], limits: Limits
) -> dict[str, Any]:
    """The record (docs/mapping.md §2): the AIR event it came from, and the batch."""
    n = c.n
    batch: dict[str, Any] = {"environment": c.options.environment, "user_identities": identities}
    if c.leaves_program:
        batch["deleted_user_attributes"] = list(PROFILE_ATTRIBUTES)
    elif profile := c.state.profile():
        batch["user_attributes"] = limits.attributes(profile, MAX_USER_ATTRIBUTES)
    batch["events"] = c.events.items
    batch["source_request_id"] = request_id(event_id)
    air = {
        "event_id": event_id,
        "event_name": n.event_name,
        "event_date": n.event_date,
        "wallet_id": n.wallet_id,
    }
    return {"air": air, "batch": batch}


_NO_WALLET = "no walletId in the operations, enrichmentData or request.resource"


def _coupons_redeemed(c: Context) -> None:
    """Any event: one ee_loyalty_coupon_redeemed per ECOUPON account-transaction REDEEM."""
    for transaction in account_transactions(c.n):
        account = account_of(transaction)
        if account.get("type") == ECOUPON and transaction.get("event") == "REDEEM":
            attributes: dict[str, str] = {}
            put(attributes, "account_id", account_id(transaction))
            put(attributes, "campaign_id", account.get("campaignId"))
            put(attributes, "value", transaction.get("value"))
            c.events.custom("ee_loyalty_coupon_redeemed", attributes, TRANSACTION)


def _user_identities(
    identity: str | None, wallet_id: str, options: MappingOptions
) -> dict[str, str]:
    identities: dict[str, str] = {}
    if identity:
        identities[options.mparticle_identity_type] = identity
    # When both settings name the same key, the consumer's identity wins over the walletId.
    identities.setdefault(options.mparticle_wallet_id_type, wallet_id)
    return identities
