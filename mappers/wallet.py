"""Wallet lifecycle: SERVICE.WALLET.CREATE, SERVICE.WALLET.ACCOUNTS.CREATE, SERVICE.WALLET.DELETE.

Joining sets `loyalty_member` (a state rule, `state.JOIN_EVENTS`); leaving deletes the seven
profile attributes and clears the wallet's state after the record is emitted.
"""

from __future__ import annotations

from mappers.context import Context
from mappers.extract import coupon_list
from mappers.values import compact, put


def map_joined(c: Context) -> None:
    """ee_loyalty_program_joined: points_balance and tier_* when known, coupons when any."""
    attributes: dict[str, str] = {}
    put(attributes, "points_balance", c.state.points_balance())
    if c.state.tier:
        attributes.update(c.state.tier)
    if coupons := coupon_list(c.n):
        attributes["coupons"] = compact(coupons)
    c.events.custom("ee_loyalty_program_joined", attributes)


def map_left(c: Context) -> None:
    """ee_loyalty_program_left, no attributes; the batch deletes the profile (see process)."""
    c.leaves_program = True
    c.events.custom("ee_loyalty_program_left")
