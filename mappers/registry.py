"""AIR eventName -> (family, mapping function). An event not listed maps to nothing (counted)."""

from __future__ import annotations

from mappers import accounts, pos, tiers, triggers, wallet
from mappers.context import MapFunction

FAMILIES = ("pos", "wallet", "tier", "accounts", "triggers")

REGISTRY: dict[str, tuple[str, MapFunction]] = {
    "POSCONNECT.WALLET.SETTLE": ("pos", pos.map_settle),
    "POSCONNECT.WALLET.FULFIL": ("pos", pos.map_fulfil),
    "POSCONNECT.WALLET.REFUND": ("pos", pos.map_refund),
    "POSCONNECT.WALLET.SPEND": ("pos", pos.map_spend),
    "POSCONNECT.WALLET.SPEND.VOID": ("pos", pos.map_spend_void),
    "SERVICE.WALLET.CREATE": ("wallet", wallet.map_joined),
    "SERVICE.WALLET.ACCOUNTS.CREATE": ("wallet", wallet.map_joined),
    "SERVICE.WALLET.DELETE": ("wallet", wallet.map_left),
    "TIER.MEMBERSHIP.CREATE": ("tier", tiers.map_create),
    "TIER.MEMBERSHIP.CREDIT": ("tier", tiers.map_credit),
    "TIER.MEMBERSHIP.DEBIT": ("tier", tiers.map_debit),
    "TIER.MEMBERSHIP.MOVE": ("tier", tiers.map_move),
    "TIER.MEMBERSHIP.ADJUST": ("tier", tiers.map_adjust),
    "WALLET.ACCOUNT.CREATE.CAMPAIGN": ("accounts", accounts.map_create_campaign),
    "WALLET.ACCOUNT.CREATE.SCHEME": ("accounts", accounts.map_create_scheme),
    "WALLET.ACCOUNT.CREATE.PLAN": ("accounts", accounts.map_create_plan),
    "WALLET.ACCOUNT.UPDATE": ("accounts", accounts.map_update),
    "SERVICE.TRIGGER": ("triggers", triggers.map_trigger),
}


def family_of(event_name: str) -> str | None:
    entry = REGISTRY.get(event_name)
    return entry[0] if entry else None
