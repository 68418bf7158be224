"""Fixtures: the local AIR on loopback with one known wallet and a points trigger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from testkit import builders
from testkit.local_air import LocalAir

CLIENT_ID, SECRET = "local-air-client", "local-air-secret"
WALLET, CARD = builders.WALLET, builders.CARD
WALLETS: list[dict[str, Any]] = [
    {
        "walletId": WALLET,
        "identities": [
            {"type": "CUSTOMER_ID", "value": builders.CUSTOMER},
            {"type": "CARD", "value": CARD},
        ],
        "points": {"accountId": "8001", "campaignId": "3001", "current": 1200},
    }
]
TRIGGERS = ["WELCOME5000=points:5000@100641681", "COFFEE=ecoupon:100641679@100641682"]
WAIT = 30.0  # generous: a bound on waiting, never an assertion about speed


@pytest.fixture
async def local_air(tmp_path: Any) -> AsyncIterator[LocalAir]:
    async with LocalAir(
        CLIENT_ID, SECRET, wallets=WALLETS, triggers=TRIGGERS, record=tmp_path / "granted.jsonl"
    ) as air:
        yield air
