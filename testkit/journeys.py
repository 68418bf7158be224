"""Realistic multi-wallet journeys of AIR notifications, from the project's own fixtures.

Each wallet joins, buys, is fulfilled and refunded, moves tier, spends and voids, earns
behavioural points and subscriptions; some are delivered a purchase twice (AIR delivers at
least once) and some leave. Wallets interleave at random (seeded), each in its own order,
with increasing event dates. Used by the demo, the integration tests and the benchmarks.
"""

from __future__ import annotations

import random
import sys
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import orjson

from testkit import builders, cases

Template = Callable[[], dict[str, Any]]
T = TypeVar("T")


def _case(name: str) -> Template:
    return lambda: cases.CASES[name]()[0]


def _unmapped(name: str) -> Template:
    # Maps to nothing, but still updates the wallet's identities (docs/mapping.md §4).
    return lambda: builders.notification(name, [], resource=f"/wallet/{builders.WALLET}/consumer")


def _open() -> dict[str, Any]:
    # The POS opens the basket the later SPEND hangs off (T-5, R-300 in the SPEND fixture):
    # maps to nothing, but puts the reference in state for SPEND.VOID.
    tx = builders.transaction("T-5", "SETTLE", "ACTIVE", "R-300")
    return builders.notification(
        "POSCONNECT.WALLET.OPEN", [builders.op("walletTransactionEntity", "CREATE", tx)]
    )


JOURNEY: list[tuple[str, Template]] = [
    ("SERVICE.WALLET.CREATE", _case("SERVICE.WALLET.CREATE")),
    ("WALLET.CONSUMER.CREATE", _unmapped("WALLET.CONSUMER.CREATE")),
    ("SERVICE.WALLET.ACCOUNTS.CREATE", _case("SERVICE.WALLET.ACCOUNTS.CREATE")),
    ("WALLET.ACCOUNT.CREATE.SCHEME", _case("WALLET.ACCOUNT.CREATE.SCHEME")),
    ("TIER.MEMBERSHIP.CREATE", _case("TIER.MEMBERSHIP.CREATE")),
    ("POSCONNECT.WALLET.SETTLE", _case("POSCONNECT.WALLET.SETTLE")),
    ("TIER.MEMBERSHIP.CREDIT", _case("TIER.MEMBERSHIP.CREDIT")),
    ("WALLET.ACCOUNT.CREATE.CAMPAIGN", _case("WALLET.ACCOUNT.CREATE.CAMPAIGN")),
    ("SERVICE.TRIGGER", _case("SERVICE.TRIGGER")),
    ("POSCONNECT.WALLET.FULFIL", _case("POSCONNECT.WALLET.FULFIL-initial")),
    ("POSCONNECT.WALLET.FULFIL", _case("POSCONNECT.WALLET.FULFIL-final")),
    ("POSCONNECT.WALLET.REFUND", _case("POSCONNECT.WALLET.REFUND")),
    ("TIER.MEMBERSHIP.MOVE", _case("TIER.MEMBERSHIP.MOVE")),
    ("POSCONNECT.WALLET.OPEN", _open),
    ("POSCONNECT.WALLET.SPEND", _case("POSCONNECT.WALLET.SPEND")),
    ("POSCONNECT.WALLET.SPEND.VOID", _case("POSCONNECT.WALLET.SPEND.VOID")),
    ("WALLET.ACCOUNT.CREATE.PLAN", _case("WALLET.ACCOUNT.CREATE.PLAN")),
    ("WALLET.ACCOUNT.UPDATE", _case("WALLET.ACCOUNT.UPDATE")),
    ("TIER.MEMBERSHIP.ADJUST", _case("TIER.MEMBERSHIP.ADJUST")),
    ("TIER.MEMBERSHIP.DEBIT", _case("TIER.MEMBERSHIP.DEBIT")),
]
LEAVE = ("SERVICE.WALLET.DELETE", _case("SERVICE.WALLET.DELETE"))
START = datetime(2025, 3, 1, 9, 0, 0)
_NS = uuid.UUID("0b6f1f7e-1c1d-4f57-9d55-6a8f2f3c4b10")


def rewrite(doc: dict[str, Any], wallet: int, event_id: str, date: datetime) -> bytes:
    """The template as this wallet's event: its ids, identities and date."""
    text = orjson.dumps(doc)
    text = text.replace(builders.WALLET.encode(), str(wallet).encode())
    text = text.replace(builders.CARD.encode(), f"6301{wallet:012d}".encode())
    text = text.replace(builders.CUSTOMER.encode(), f"C-{wallet}".encode())
    out = orjson.loads(text)
    out["headers"]["eesEventId"] = event_id
    out["headers"]["eventDate"] = date.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return orjson.dumps(out)


def wallet_journey(wallet: int, rng: random.Random, seed: int) -> list[bytes]:
    steps = list(JOURNEY)
    if rng.random() < 0.3:
        steps.append(LEAVE)
    date = START + timedelta(minutes=rng.randrange(0, 600))
    events: list[bytes] = []
    for position, (_name, template) in enumerate(steps):
        date += timedelta(minutes=rng.randrange(1, 240))
        event_id = str(uuid.uuid5(_NS, f"{seed}/{wallet}/{position}"))
        events.append(rewrite(template(), wallet, event_id, date))
        if _name == "POSCONNECT.WALLET.SETTLE" and rng.random() < 0.5:
            events.append(events[-1])  # AIR delivered it twice: same eesEventId
    return events


def producer_key(notification: bytes) -> bytes:
    """A key an AIR producer might use: constant per wallet (keeps its order), not its id."""
    return f"card-{wallet_of(notification)}".encode()


def wallet_of(notification: bytes) -> str:
    """The notification's walletId (docs/mapping.md §1), "" when it has none."""
    import mappers

    parsed = mappers.parse(notification)
    return str(getattr(parsed, "wallet_id", "") or "")


def build(wallets: int = 6, seed: int = 0, first_wallet: int = 700_000_000) -> list[bytes]:
    """All wallets' notifications, interleaved, each wallet's in its own order."""
    rng = random.Random(seed)
    queues = [wallet_journey(first_wallet + seed * 10_000 + i, rng, seed) for i in range(wallets)]
    return interleave(queues, rng)


def interleave(queues: list[list[T]], rng: random.Random) -> list[T]:
    """One stream of all queues, drawn at random, each queue's items in their order."""
    out: list[T] = []
    while queues:
        queue = rng.choice(queues)
        out.append(queue.pop(0))
        if not queue:
            queues.remove(queue)
    return out


if __name__ == "__main__":
    # `python -m testkit.journeys [WALLETS] [SEED]`: JSON Lines on stdout, for `airmp map`.
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    s = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    sys.stdout.buffer.write(b"\n".join(build(n, s)) + b"\n")
