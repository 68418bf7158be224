"""The replay itself, without Kafka: seeded wallet state + input messages -> records.

The I/O (`ops.replay.run`) feeds it the changelog's messages (`seed`), then each input
message of the range in offset order (`handle`), and writes what `handle` returns.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

import mappers
from streams import source


@dataclass
class Totals:
    read: int = 0
    records: int = 0
    dead_letters: int = 0
    unmapped: int = 0
    duplicates: int = 0
    seeded: int = 0


def tag_of(topic: str, partition: int, offset: int, headers: Iterable[Any]) -> str:
    """The worker's delivery tag (`streams.source.delivery_tag`) of an input message."""
    return source.delivery_tag(
        source.source_of(source.headers_dict(headers), topic, partition, offset)
    )


@dataclass
class Replayer:
    """Maps replayed input messages with the seeded wallet state."""

    options: mappers.MappingOptions
    seeded: dict[bytes, bytes] = field(default_factory=dict)  # walletId -> changelog value
    totals: Totals = field(default_factory=Totals)
    states: dict[bytes, mappers.WalletState | None] = field(default_factory=dict)
    deleted: set[bytes] = field(default_factory=set)  # wallets whose newest state is deleted

    def seed(self, key: bytes | None, value: bytes | None) -> None:
        """One message of the wallet-state changelog, in offset order (None: a tombstone)."""
        if key is None:
            return
        if value is None:
            self.seeded.pop(bytes(key), None)
        else:
            self.seeded[bytes(key)] = bytes(value)
        self.totals.seeded = len(self.seeded)

    def state_of(self, wallet: bytes) -> mappers.WalletState | None:
        if wallet in self.states:
            return self.states[wallet]
        raw = self.seeded.pop(wallet, None)
        state = None
        if raw is not None:
            with contextlib.suppress(orjson.JSONDecodeError):
                state = mappers.WalletState.from_dict(orjson.loads(raw))
        if state is not None and _is_tombstone(state):
            self.deleted.add(wallet)
        self.states[wallet] = state
        return state

    def handle(self, value: bytes | None, tag: str) -> tuple[bytes, dict[str, Any]] | None:
        """One input message -> (walletId, record) to re-send, or None."""
        totals = self.totals
        totals.read += 1
        parsed = mappers.parse(bytes(value or b""))
        if isinstance(parsed, mappers.Rejection):
            totals.dead_letters += 1
            return None
        if parsed.wallet_id is None:
            outcome = mappers.process(parsed, None, self.options)
            if outcome.rejection is not None:
                totals.dead_letters += 1
            else:
                totals.unmapped += 1
            return None
        wallet = parsed.wallet_id.encode()
        state = self.state_of(wallet)
        if state is not None and parsed.event_id is not None:
            mapped = state.seen_tags.get(parsed.event_id)
            if mapped is not None and mapped != tag:
                # Another delivery of this event was the one mapped (live or in this replay):
                # this one was AIR's duplicate, dropped by the worker; drop it again.
                totals.duplicates += 1
                return None
        outcome = mappers.process(parsed, state, self.options, tag=tag)
        # Like the worker: keep what the mapper returns, for a dead-lettered event too (it
        # happened in AIR and may have changed the wallet).
        self.states[wallet] = outcome.state
        if outcome.rejection is not None:
            totals.dead_letters += 1
            return None
        if outcome.record is None:
            totals.unmapped += 1
            return None
        record = outcome.record
        if wallet in self.deleted:
            # Deleted since: re-sending its older attributes would bring the profile back.
            record["batch"].pop("user_attributes", None)
        totals.records += 1
        return wallet, record


def _is_tombstone(state: mappers.WalletState) -> bool:
    """What SERVICE.WALLET.DELETE leaves: the dedup memory, and no profile at all."""
    return (
        bool(state.seen)
        and not state.identities
        and not state.points
        and state.tier is None
        and not state.member
        and not state.transactions
    )
