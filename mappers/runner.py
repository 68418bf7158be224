"""An in-memory runner: wallet states by walletId, for `airmp map` and tests."""

from __future__ import annotations

from collections.abc import Mapping

from mappers.options import MappingOptions
from mappers.process import Outcome, process
from mappers.reading import Notification, Rejection, parse
from mappers.state import WalletState


class Mapper:
    def __init__(self, options: MappingOptions) -> None:
        self.options = options
        self.states: dict[str, WalletState] = {}

    def map_bytes(self, raw: bytes) -> Outcome:
        return self.map_notification(parse(raw))

    def map_notification(
        self, notification: Notification | Rejection, looked_up: Mapping[str, str] | None = None
    ) -> Outcome:
        """`looked_up`: what the caller found in AIR for `void_lookup` (see process)."""
        if isinstance(notification, Rejection) or notification.wallet_id is None:
            return process(notification, None, self.options)
        wallet = notification.wallet_id
        outcome = process(notification, self.states.get(wallet), self.options, None, looked_up)
        if outcome.state is None:
            self.states.pop(wallet, None)
        else:
            self.states[wallet] = outcome.state
        return outcome
