"""The wallets the local AIR knows: a JSON file, or what `/_mock/wallets` is given."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Wallet:
    """What the local AIR knows of one wallet."""

    wallet_id: str
    identities: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> AIR identity
    points_accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # accountId -> account
    tier: dict[str, Any] | None = None  # its tierMembershipEntity
    transactions: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> transaction

    def points_balance(self) -> int | float | None:
        if not self.points_accounts:
            return None
        return sum(balance(a, "current") for a in self.points_accounts.values())

    def summary(self) -> dict[str, Any]:
        return {
            "walletId": self.wallet_id,
            "identities": [
                {"type": i.get("type"), "value": i.get("value")} for i in self.identities.values()
            ],
            "points": self.points_balance(),
            "tierId": (self.tier or {}).get("tierId"),
            "transactions": sorted(self.transactions),
        }


def balance(account: dict[str, Any], name: str) -> int | float:
    value = (account.get("balances") or {}).get(name)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else 0


def identity_key(identity: dict[str, Any]) -> str:
    identity_id = identity.get("identityId")
    return str(identity_id) if identity_id else f"{identity.get('type')}:{identity.get('value')}"


def usable(identity: dict[str, Any]) -> bool:
    value = identity.get("value")
    return (
        isinstance(value, str)
        and bool(value)
        and isinstance(identity.get("type"), str)
        and identity.get("status") != "DELETED"
        and not value.startswith("DELETED_")
    )


def load_wallets(path: str | Path) -> list[dict[str, Any]]:
    """A JSON array of wallet specs (see `AirState.add_wallet`)."""
    data = json.loads(Path(path).read_text())
    if not isinstance(data, list) or not all(isinstance(w, dict) for w in data):
        raise ValueError(f"{path}: wallets must be a JSON array of objects")
    return data


# --- faults and logs --------------------------------------------------------------------------
