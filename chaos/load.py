"""The input of a round, built from the seed alone: the project's wallet journeys
(scripts/journeys.py: joins, purchases, refunds, tiers, AIR's duplicate deliveries, some
wallets leaving), plus late events and bad input at known positions.

- late: one of the wallet's events arrives a few places later than its eventDate says
  (newer events of the wallet come first);
- re-delivered: AIR delivers one of the wallet's events again, later (same eesEventId),
  sometimes after the wallet left;
- keys: each wallet is produced with one key, its walletId or its card number (as the
  README asks of producers);
- bad input: not JSON, a JSON array, no eventName, no wallet anywhere, an empty body, each
  distinct bytes, spread evenly through the stream.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import orjson

from testkit import journeys

FIRST_WALLET = 800_000_000
LATE_SHARE = 0.08  # of wallets with one event moved later
REDELIVERED_SHARE = 0.08  # of wallets with one event delivered again later
BAD_KINDS = ("not_json", "json_array", "no_event_name", "no_wallet", "empty_body")
_DATE = "2025-03-01T10:00:00.000000"


@dataclass(frozen=True)
class Message:
    key: bytes
    value: bytes
    kind: str  # "journey", "late", "redelivered", or one of BAD_KINDS
    wallet: str = ""  # "" for bad input


@dataclass(frozen=True)
class Load:
    seed: int
    wallets: int
    messages: tuple[Message, ...]  # in production order

    @property
    def good(self) -> list[bytes]:
        return [m.value for m in self.messages if m.kind not in BAD_KINDS]

    @property
    def bad(self) -> list[bytes]:
        return [m.value for m in self.messages if m.kind in BAD_KINDS]

    @property
    def bad_positions(self) -> list[int]:
        return [i for i, m in enumerate(self.messages) if m.kind in BAD_KINDS]

    def count(self, kind: str) -> int:
        return sum(1 for m in self.messages if m.kind == kind)


def build(seed: int, wallets: int, min_events: int = 0, bad_inputs: int = 10) -> Load:
    """At least `wallets` wallets and `min_events` notifications (more wallets if needed)."""
    rng = random.Random(f"chaos-load/{seed}")
    queues: list[list[Message]] = []
    total = 0
    while len(queues) < wallets or total < min_events:
        queue = _wallet(FIRST_WALLET + len(queues), rng, seed)
        queues.append(queue)
        total += len(queue)
    made = len(queues)
    stream = journeys.interleave(queues, rng)
    bad = [_bad_input(k) for k in range(bad_inputs)]
    out: list[Message] = []
    every = len(stream) / (len(bad) + 1)
    positions = {round(every * (k + 1)): m for k, m in enumerate(bad)}
    for i, message in enumerate(stream):
        if i in positions:
            out.append(positions[i])
        out.append(message)
    return Load(seed=seed, wallets=made, messages=tuple(out))


def _wallet(number: int, rng: random.Random, seed: int) -> list[Message]:
    wallet = str(number)
    events = journeys.wallet_journey(number, rng, seed)
    key = wallet.encode() if rng.random() < 0.5 else f"6301{number:012d}".encode()
    messages = [Message(key, e, "journey", wallet) for e in events]
    left = orjson.loads(events[-1])["headers"]["eventName"] == journeys.LEAVE[0]
    end = len(messages) - 1 if left else len(messages)  # a late event stays before LEAVE
    chance = rng.random()
    if chance < LATE_SHARE:
        index = rng.randrange(1, end - 2)
        late = messages.pop(index)
        target = min(index + rng.randint(2, 6), end - 1)
        messages.insert(target, Message(key, late.value, "late", wallet))
    elif chance < LATE_SHARE + REDELIVERED_SHARE:
        index = rng.randrange(0, len(messages) - 2)
        target = rng.randint(index + 2, len(messages))  # may be after the wallet left
        messages.insert(target, Message(key, messages[index].value, "redelivered", wallet))
    return messages


def _bad_input(k: int) -> Message:
    kind = BAD_KINDS[k % len(BAD_KINDS)]
    event_id = f"chaos-bad-{k}"
    value: bytes
    if kind == "not_json":
        # A notification cut short: distinct bytes per k, as the verdict compares bytes.
        value = b'{"headers": {"eventName": "POSCONNECT.WALLET.SETTLE", "eesEventId": "%b"' % (
            event_id.encode()
        )
    elif kind == "json_array":
        value = orjson.dumps([{"headers": {"eventName": "SERVICE.WALLET.CREATE", "n": k}}])
    elif kind == "no_event_name":
        value = orjson.dumps({"headers": {"eesEventId": event_id, "eventDate": _DATE}})
    elif kind == "no_wallet":
        headers = {"eventName": "TIER.MEMBERSHIP.MOVE", "eesEventId": event_id, "eventDate": _DATE}
        value = orjson.dumps({"headers": headers, "atomicOperations": [], "enrichmentData": []})
    elif k < len(BAD_KINDS):
        value = b""
    else:
        # Only one empty body can be told apart by its bytes; later ones are whitespace.
        value = b" " * (k // len(BAD_KINDS))
    return Message(f"bad-{k}".encode(), value, kind)
