"""Where a replay starts and stops: the options parsed, and the span of each partition.

Pure: the offsets Kafka reported for a partition come in as `Bounds`, the spans go out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from ops.errors import ReplayError

__all__ = ["Bounds", "ReplayError", "ReplayRange", "Span", "parse_offsets", "parse_time"]

_EPOCH_MS = re.compile(r"^\d+$")


def parse_time(text: str, option: str) -> int:
    """ISO 8601 date or date-time (UTC when it has no offset), or epoch milliseconds -> ms."""
    value = text.strip()
    if _EPOCH_MS.match(value):
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise ReplayError(
            f"{option} {text!r} is not an ISO 8601 date/time (2025-03-02, "
            "2025-03-02T09:30:00Z, 2025-03-02T10:30:00+01:00) nor epoch milliseconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    ms = int(moment.timestamp() * 1000)
    if ms < 0:
        raise ReplayError(f"{option} {text!r} is before 1970")
    return ms


def parse_offsets(text: str) -> int | dict[int, int]:
    """`O` (the same offset on every partition) or `P:O,P:O,...` (only those partitions)."""
    value = text.strip()
    if re.fullmatch(r"\d+", value):
        return int(value)
    offsets: dict[int, int] = {}
    for part in value.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", part)
        if match is None:
            raise ReplayError(
                f"--from-offset {text!r}: expected an offset (1200) or partition:offset pairs "
                "(0:1200,1:980)"
            )
        partition, offset = int(match.group(1)), int(match.group(2))
        if partition in offsets:
            raise ReplayError(f"--from-offset {text!r}: partition {partition} is given twice")
        offsets[partition] = offset
    return offsets


@dataclass(frozen=True)
class Bounds:
    """What Kafka reported for one partition when the replay started."""

    begin: int  # the oldest offset still there
    end: int  # the next offset to be written
    at_from: int | None = None  # the first offset at or after --from-timestamp (None: none)
    at_to: int | None = None  # the first offset at or after --to-timestamp (None: none)


@dataclass(frozen=True)
class Span:
    start: int
    stop: int  # exclusive


@dataclass(frozen=True)
class ReplayRange:
    """Where to start (exactly one of `from_ms`, `from_offsets`) and where to stop."""

    from_ms: int | None = None
    from_offsets: int | dict[int, int] | None = None
    to_ms: int | None = None

    @classmethod
    def from_options(
        cls, from_timestamp: str | None, from_offset: str | None, to_timestamp: str | None
    ) -> ReplayRange:
        if (from_timestamp is None) == (from_offset is None):
            raise ReplayError("give exactly one of --from-timestamp T and --from-offset O")
        from_ms = parse_time(from_timestamp, "--from-timestamp") if from_timestamp else None
        offsets = parse_offsets(from_offset) if from_offset is not None else None
        to_ms = parse_time(to_timestamp, "--to-timestamp") if to_timestamp else None
        if from_ms is not None and to_ms is not None and to_ms <= from_ms:
            raise ReplayError("--to-timestamp must be after --from-timestamp")
        return cls(from_ms, offsets, to_ms)

    def spans(self, topic: str, bounds: Mapping[int, Bounds]) -> dict[int, Span]:
        """partition -> the offsets to replay, for the partitions with something to replay.

        A start before the oldest offset still there starts there; the stop is the end offset
        captured at the start (so the range is fixed), or the first at --to-timestamp."""
        starts: dict[int, int] = {}
        if self.from_ms is not None:
            starts = {p: b.end if b.at_from is None else b.at_from for p, b in bounds.items()}
        elif isinstance(self.from_offsets, int):
            starts = dict.fromkeys(bounds, self.from_offsets)
        elif self.from_offsets is not None:
            unknown = sorted(set(self.from_offsets) - set(bounds))
            if unknown:
                raise ReplayError(
                    f"--from-offset: topic {topic} has no partition {unknown[0]} "
                    f"(partitions 0-{max(bounds)})"
                )
            starts = dict(self.from_offsets)
        spans = {}
        for partition in sorted(starts):
            b = bounds[partition]
            span = Span(
                min(max(starts[partition], b.begin), b.end),
                b.end if b.at_to is None else min(b.at_to, b.end),
            )
            if span.stop > span.start:
                spans[partition] = span
        return spans
