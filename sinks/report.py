"""What a delivery returns, and the hooks through which it can be observed (metrics)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class RefusalReason(StrEnum):
    """Why a record will never be accepted; every value is also a metric label."""

    invalid_batch = "invalid_batch"  # mParticle answered 400 for its batch alone
    request_too_large = "request_too_large"  # 413 for its batch alone (nothing left to split)
    invalid_record = "invalid_record"  # fails our pre-send check: no 'batch' object, not JSON
    batch_too_large = "batch_too_large"  # its batch alone is over the batch size limit


@dataclass(frozen=True, slots=True)
class Refused:
    """A record mParticle will never accept: `index` is its position in the list given to
    `deliver()`; `detail` says why (e.g. mParticle's 400 body)."""

    index: int
    record: Any
    reason: RefusalReason
    detail: str = ""


@dataclass(slots=True)
class DeliveryReport:
    """One `deliver()` call: every record is counted in `accepted` or is in `refused`."""

    records: int = 0
    accepted: int = 0  # records mParticle accepted (a merged batch counts all its records)
    refused: list[Refused] = field(default_factory=list)
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

    def refused(self, reason: str, records: int) -> None: ...


class NullObserver:
    def request_done(self, status: str, seconds: float, batches: int) -> None:
        pass

    def retry(self, reason: str) -> None:
        pass

    def waited(self, source: str, seconds: float) -> None:
        pass

    def accepted(self, batches: int, records: int) -> None:
        pass

    def refused(self, reason: str, records: int) -> None:
        pass
