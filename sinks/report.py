"""What a delivery returns, and the hooks through which it can be observed (metrics)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An input record mParticle will never accept, and why (`detail`: e.g. its 400 body)."""

    record: Any
    reason: str
    detail: str = ""


@dataclass(slots=True)
class DeliveryReport:
    """One `deliver()` call: every record is in `accepted` or in `dead_letters`."""

    records: int = 0
    accepted: int = 0  # records mParticle accepted (a merged batch counts all its records)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    requests: int = 0  # HTTP requests sent, re-sends included
    batches: int = 0  # batches sent, re-sends included
    batches_accepted: int = 0
    retries: int = 0  # re-sends after 429, 5xx, timeouts or dropped connections
    rate_limit_waits: int = 0  # 429 responses honoured
    splits: int = 0  # requests split after a 400 or 413
    statuses: Counter[str] = field(default_factory=Counter)


class SinkObserver(Protocol):
    """Hooks for metrics; `sinks.metrics.SinkMetrics` is the Prometheus implementation."""

    def request_done(self, status: str, seconds: float, batches: int) -> None:
        """status: the HTTP status as text, or 'timeout' / 'connection_error'."""

    def retry(self, reason: str) -> None: ...

    def waited(self, source: str, seconds: float) -> None:
        """Time spent before a send: source 'rate_limit' (client-side) or 'throttled' (429)."""

    def accepted(self, batches: int, records: int) -> None: ...

    def dead_letter(self, reason: str, records: int) -> None: ...


class NullObserver:
    def request_done(self, status: str, seconds: float, batches: int) -> None:
        pass

    def retry(self, reason: str) -> None:
        pass

    def waited(self, source: str, seconds: float) -> None:
        pass

    def accepted(self, batches: int, records: int) -> None:
        pass

    def dead_letter(self, reason: str, records: int) -> None:
        pass
