"""The local AIR's one config object: what `create_app` builds it from, what `LocalAir` and
`airmp mock-air` (`run_local_air`) are given."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from testkit.local_air.emission import Target
from testkit.local_air.faults import Faults
from testkit.local_air.rewards import Reward

DEFAULT_PORT = 8091
DEFAULT_TRIGGERS = ("WELCOME5000=points:5000",)


@dataclass(frozen=True)
class AirConfig:
    """Credentials it checks every signature against; the triggers and wallets it knows at
    start (inline and/or files); `record`: a JSON-lines file of grants; `faults` (mutable:
    a test changes them while it runs); `targets`: where its SERVICE.TRIGGER notifications
    go; `prefix`: an API prefix such as "/2.0" (the _mock routes stay at the root); `clock`
    and `event_ids` for tests that want exact notifications."""

    client_id: str = "local-air-client"
    client_secret: str = "local-air-secret"
    triggers: Mapping[str, str | Reward] | Iterable[str] = ()
    triggers_file: str | Path | None = None
    wallets: Iterable[Mapping[str, Any]] = ()
    wallets_file: str | Path | None = None
    record: str | Path | None = None
    faults: Faults | None = None
    targets: Sequence[Target] = field(default_factory=tuple)
    prefix: str = ""
    clock: Callable[[], datetime] | None = None
    event_ids: Callable[[], str] | None = None

    @property
    def route_prefix(self) -> str:
        """The API prefix as routes are declared: "" or "/2.0", whatever slashes it had."""
        bare = self.prefix.strip("/")
        return f"/{bare}" if bare else ""
