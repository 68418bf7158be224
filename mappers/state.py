"""Per-wallet state (docs/mapping.md §4): one implementation, with its update rules.

A Faust table stores it as `to_dict()`; `from_dict()` reads it back. Dates are event
dates in microseconds since the epoch: state set by a newer event is never overwritten
by an older one (replay, late delivery), and the dedup window never looks at the clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mappers.values import dig, id_text, num, obj, put, text

if TYPE_CHECKING:
    from mappers.options import MappingOptions
    from mappers.reading import Notification

FORMAT_VERSION = 1

# Events that make the wallet a loyalty member (`loyalty_member` = "true").
JOIN_EVENTS = frozenset({"SERVICE.WALLET.CREATE", "SERVICE.WALLET.ACCOUNTS.CREATE"})

PROFILE_ATTRIBUTES = (
    "loyalty_member",
    "points_balance",
    "tier_id",
    "tier_balances_points",
    "tier_balances_spend",
    "tier_balances_transactions",
    "tier_balances_reset_date",
)


def tier_attributes(membership: dict[str, Any]) -> dict[str, str]:
    """The five tier_* attributes of a tierMembershipEntity, as AIR gives them."""
    attributes: dict[str, str] = {}
    put(attributes, "tier_id", membership.get("tierId"))
    balances = obj(membership.get("balances"))
    put(attributes, "tier_balances_points", balances.get("points"))
    put(attributes, "tier_balances_spend", balances.get("spend"))
    put(attributes, "tier_balances_transactions", balances.get("transactions"))
    put(attributes, "tier_balances_reset_date", membership.get("tierBalancesResetDate"))
    return attributes


class WalletState:
    __slots__ = (
        "identities",
        "member",
        "points",
        "seen",
        "seen_high",
        "seen_tags",
        "tier",
        "tier_set_at",
        "transactions",
    )

    def __init__(self) -> None:
        self.identities: dict[str, tuple[str, int]] = {}  # AIR type -> (value, set at)
        self.member = False
        self.points: dict[str, tuple[int | float, int]] = {}  # accountId -> (current, set at)
        self.tier: dict[str, str] | None = None  # the five tier_* attributes
        self.tier_set_at = 0
        self.transactions: dict[str, str] = {}  # walletTransactionId -> reference, oldest first
        self.seen: dict[str, int] = {}  # eesEventId -> event date, oldest first
        self.seen_high = 0  # the newest event date seen: "now" for the dedup window
        # eesEventId -> the delivery it came in (e.g. source topic/partition/offset): the same
        # delivery processed again after a crash is a re-run, not AIR's duplicate.
        self.seen_tags: dict[str, str] = {}

    # --- update rules ---------------------------------------------------------------------

    def apply(self, n: Notification, at: int, options: MappingOptions) -> None:
        """Update from one event (dated `at`); the event is mapped with the state after it."""
        wallet = n.wallet_id
        for identity in n.identities():
            self._identity(identity, at)
        membership: dict[str, Any] | None = None
        for kind, op, value in n.ops:
            if kind == "walletAccountTransactionEntity":
                self._account(value.get("account"), wallet, at)
            elif kind == "walletAccountEntity" and op != "DELETE":
                self._account(value, wallet, at)
            elif kind == "tierMembershipEntity" and op != "DELETE":
                membership = value
            elif kind == "walletIdentityEntity" and op in ("CREATE", "UPDATE"):
                # Never from DELETE: AIR obfuscates deleted identities' values.
                self._identity(value, at)
            elif kind == "walletTransactionEntity" and op != "DELETE":
                self._transaction(value, options.recent_transactions_max)
        if membership is not None and at >= self.tier_set_at:
            self.tier = tier_attributes(membership)
            self.tier_set_at = at
        if n.event_name in JOIN_EVENTS:
            self.member = True

    def _identity(self, identity: dict[str, Any], at: int) -> None:
        kind, value = identity.get("type"), identity.get("value")
        if not isinstance(kind, str) or not isinstance(value, str) or not value:
            return
        if identity.get("status") == "DELETED" or value.startswith("DELETED_"):
            return
        known = self.identities.get(kind)
        if known is None or at >= known[1]:
            self.identities[kind] = (value, at)

    def _account(self, account: Any, wallet: str | None, at: int) -> None:
        if not isinstance(account, dict) or account.get("type") != "POINTS":
            return
        account_id = id_text(account.get("accountId"))
        owner = id_text(account.get("walletId"))
        current = num(dig(account, "balances", "current"))
        if account_id is None or current is None or (owner is not None and owner != wallet):
            return
        known = self.points.get(account_id)
        if known is None or at >= known[1]:
            self.points[account_id] = (current, at)

    def _transaction(self, transaction: dict[str, Any], limit: int) -> None:
        transaction_id = id_text(transaction.get("walletTransactionId"))
        reference = text(transaction.get("reference"))
        if transaction_id is None or not reference or limit <= 0:
            return
        self.transactions.pop(transaction_id, None)
        self.transactions[transaction_id] = reference
        while len(self.transactions) > limit:
            del self.transactions[next(iter(self.transactions))]

    # --- de-duplication ---------------------------------------------------------------------

    def is_duplicate(self, event_id: str, window_seconds: int) -> bool:
        seen_at = self.seen.get(event_id)
        return seen_at is not None and seen_at >= self.seen_high - window_seconds * 1_000_000

    def is_rerun(self, event_id: str, tag: str | None) -> bool:
        """The same delivery of the event again (a crash before the commit), not a duplicate."""
        return tag is not None and self.seen_tags.get(event_id) == tag

    def remember(
        self, event_id: str, at: int, window_seconds: int, max_ids: int, tag: str | None = None
    ) -> None:
        if max_ids <= 0:
            return
        self.seen.pop(event_id, None)
        self.seen[event_id] = at
        if tag is not None:
            self.seen_tags[event_id] = tag
        self.seen_high = max(self.seen_high, at)
        horizon = self.seen_high - window_seconds * 1_000_000
        # Oldest first (arrival order): drop from the front while over the bound or expired.
        while self.seen:
            oldest = next(iter(self.seen))
            if len(self.seen) <= max_ids and self.seen[oldest] >= horizon:
                break
            del self.seen[oldest]
            self.seen_tags.pop(oldest, None)

    # --- reading ----------------------------------------------------------------------------

    def identity(self, air_type: str) -> str | None:
        known = self.identities.get(air_type)
        return known[0] if known else None

    def points_balance(self) -> int | float | None:
        if not self.points:
            return None
        return sum(current for current, _ in self.points.values())

    def profile(self) -> dict[str, str]:
        """The loyalty profile (docs/mapping.md §3): only attributes ever known."""
        attributes: dict[str, str] = {}
        if self.member:
            attributes["loyalty_member"] = "true"
        put(attributes, "points_balance", self.points_balance())
        if self.tier:
            attributes.update(self.tier)
        return attributes

    def tombstone(self) -> WalletState:
        """What a deleted wallet keeps: only its dedup memory, so AIR delivering one of its
        events again after the deletion re-emits nothing. The profile is gone."""
        kept = WalletState()
        kept.seen = dict(self.seen)
        kept.seen_high = self.seen_high
        kept.seen_tags = dict(self.seen_tags)
        return kept

    def copy(self) -> WalletState:
        clone = WalletState()
        clone.identities = dict(self.identities)
        clone.member = self.member
        clone.points = dict(self.points)
        clone.tier = self.tier  # replaced, never mutated
        clone.tier_set_at = self.tier_set_at
        clone.transactions = dict(self.transactions)
        clone.seen = dict(self.seen)
        clone.seen_high = self.seen_high
        clone.seen_tags = dict(self.seen_tags)
        return clone

    # --- storage ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "identities": {k: [v, at] for k, (v, at) in self.identities.items()},
            "member": self.member,
            "points": {k: [v, at] for k, (v, at) in self.points.items()},
            "tier": dict(self.tier) if self.tier is not None else None,
            "tier_set_at": self.tier_set_at,
            "transactions": dict(self.transactions),
            "seen": dict(self.seen),
            "seen_high": self.seen_high,
            "seen_tags": dict(self.seen_tags),
        }

    @classmethod
    def from_dict(cls, data: Any) -> WalletState:
        """Read a stored state; anything unreadable is left out rather than failing."""
        state = cls()
        data = obj(data)
        for kind, pair in obj(data.get("identities")).items():
            if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str):
                state.identities[kind] = (pair[0], _int(pair[1]))
        state.member = data.get("member") is True
        for account, pair in obj(data.get("points")).items():
            if isinstance(pair, list) and len(pair) == 2 and num(pair[0]) is not None:
                state.points[account] = (pair[0], _int(pair[1]))
        tier = data.get("tier")
        if isinstance(tier, dict):
            state.tier = {k: v for k, v in tier.items() if isinstance(v, str)}
        state.tier_set_at = _int(data.get("tier_set_at"))
        state.transactions = {
            k: v for k, v in obj(data.get("transactions")).items() if isinstance(v, str)
        }
        state.seen = {k: _int(v) for k, v in obj(data.get("seen")).items()}
        state.seen_high = _int(data.get("seen_high"))
        state.seen_tags = {
            k: v for k, v in obj(data.get("seen_tags")).items() if isinstance(v, str)
        }
        return state

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WalletState) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable: equal by value, so not hashable

    def __repr__(self) -> str:
        return f"WalletState({self.to_dict()!r})"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
