"""What an event mapping function receives: the event, the state after it, and the output."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mappers.batch import Events
from mappers.options import MappingOptions
from mappers.reading import Notification
from mappers.state import WalletState


@dataclass(slots=True)
class Context:
    n: Notification
    state: WalletState  # after this event's update
    options: MappingOptions
    events: Events
    identity: str | None  # the value sent as the configured mParticle identity, if known
    counters: dict[str, int] = field(default_factory=dict)
    leaves_program: bool = False  # set by SERVICE.WALLET.DELETE: delete the profile, clear state
    # walletTransactionId -> reference, asked of AIR by the caller (see pos.void_lookup)
    looked_up: Mapping[str, str] = field(default_factory=dict)

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1


MapFunction = Callable[[Context], None]
