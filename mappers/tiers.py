"""Tiers: TIER.MEMBERSHIP.CREATE / CREDIT / DEBIT / MOVE / ADJUST -> ee_loyalty_tier_membership_*.

The event's attributes describe the event's own tierMembershipEntity; the profile (user
attributes) comes from state, so a late, older tier event never rolls the profile back.
"""

from __future__ import annotations

from mappers.context import Context, MapFunction
from mappers.errors import MissingOperation
from mappers.state import tier_attributes


def _tier_event(suffix: str) -> MapFunction:
    name = f"ee_loyalty_tier_membership_{suffix}"

    def map_tier(c: Context) -> None:
        memberships = [v for op, v in c.n.values("tierMembershipEntity") if op != "DELETE"]
        if not memberships:
            raise MissingOperation("no tierMembershipEntity operation")
        c.events.custom(name, tier_attributes(memberships[-1]))

    map_tier.__name__ = f"map_tier_{suffix}"
    return map_tier


map_create = _tier_event("create")
map_credit = _tier_event("credit")
map_debit = _tier_event("debit")
map_move = _tier_event("move")
map_adjust = _tier_event("adjust")
