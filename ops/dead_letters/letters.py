"""Dead letters without Kafka: their fields, which are selected, the summary, the rendering,
and where and how one is re-driven."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

import mappers
from config import Settings
from ops.errors import DeadLettersError
from ops.replay.range import parse_time
from streams.dead_letters import (
    H_DETAIL,
    H_KIND,
    H_REASON,
    H_STAGE,
    STAGE_TOPICS,
    Stage,
    stage_topic,
)
from streams.source import H_REDRIVEN, SOURCE_HEADERS, delivery_tag, headers_dict

NO_NAME = "-"  # the eventName of a body that has none (not JSON, a reward request, ...)
BODY_CHARS = 20_000  # `show` cuts a longer body (an oversized poison message is 8 MB)
# The stages re-driven to the AIR input topic, with their source headers.
AIR_INPUT_STAGES = tuple(stage for stage, field in STAGE_TOPICS.items() if field == "input_topic")


_AGO = re.compile(r"^(\d+)([smhd])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_moment(text: str, option: str, now_ms: int) -> int:
    """`30m`, `2h`, `7d` (that long before now), or what `airmp replay` reads (ISO 8601,
    epoch ms) -> ms. Raises `ReplayError`."""
    ago = _AGO.match(text.strip())
    if ago is not None:
        return now_ms - int(ago.group(1)) * _SECONDS[ago.group(2)] * 1000
    return parse_time(text, option)


def iso_ms(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def kind_of(headers: Mapping[str, bytes]) -> str:
    """`airmp-kind`; a dead letter written before that header has the kind first in its
    reason (`not_json: ...`, `invalid_batch`)."""
    if H_KIND in headers:
        return headers[H_KIND].decode(errors="replace")
    reason = headers.get(H_REASON, b"").decode(errors="replace")
    return reason.split(":", 1)[0].strip() or "unknown"


def event_name_of(stage: str, value: bytes) -> str:
    """The AIR eventName a dead letter is about: of the notification (ingest, wallet), of the
    record's `air` part (sink); NO_NAME when there is none."""
    if stage == Stage.SINK:
        try:
            record = orjson.loads(value)
        except orjson.JSONDecodeError:
            return NO_NAME
        air = record.get("air") if isinstance(record, dict) else None
        name = air.get("event_name") if isinstance(air, dict) else None
        return name if isinstance(name, str) and name else NO_NAME
    if stage == Stage.REWARD:
        return NO_NAME
    parsed = mappers.parse(value)
    return NO_NAME if isinstance(parsed, mappers.Rejection) else parsed.event_name


@dataclass(frozen=True)
class DeadLetter:
    """One message of the dead-letter topic."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    kind: str
    stage: str
    event_name: str

    @classmethod
    def of(
        cls,
        topic: str,
        partition: int,
        offset: int,
        timestamp_ms: int,
        key: bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, Any]] | Mapping[str, Any] | None,
    ) -> DeadLetter:
        found = headers_dict(headers)
        body = bytes(value or b"")
        stage = found.get(H_STAGE, b"").decode(errors="replace")
        return cls(
            topic,
            partition,
            offset,
            timestamp_ms,
            None if key is None else bytes(key),
            body,
            found,
            kind_of(found),
            stage,
            event_name_of(stage, body),
        )

    @classmethod
    def of_message(cls, message: Any) -> DeadLetter:
        """From an aiokafka ConsumerRecord."""
        return cls.of(
            message.topic,
            message.partition,
            message.offset,
            message.timestamp,
            message.key,
            message.value,
            message.headers,
        )

    @property
    def position(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"

    def header(self, name: str) -> str:
        return self.headers.get(name, b"").decode(errors="replace")

    @property
    def source(self) -> str | None:
        """`topic[partition]@offset` of the message it was, or of the AIR input message."""
        return delivery_tag(self.headers) if SOURCE_HEADERS[0] in self.headers else None


# --- selection ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Which dead letters a command takes: each given filter must match (any of its values).
    Times are the dead letters' Kafka timestamps, when they were dead-lettered."""

    reasons: frozenset[str] = frozenset()
    stages: frozenset[str] = frozenset()
    event_names: frozenset[str] = frozenset()
    since_ms: int | None = None  # at or after
    until_ms: int | None = None  # before

    @property
    def everything(self) -> bool:
        return not (
            self.reasons
            or self.stages
            or self.event_names
            or self.since_ms is not None
            or self.until_ms is not None
        )

    @classmethod
    def of_options(
        cls,
        since: str | None,
        until: str | None,
        reasons: tuple[str, ...],
        stages: tuple[str, ...],
        event_names: tuple[str, ...],
        now_ms: int,
    ) -> Selection:
        """The command line's filters; `ReplayError` for a time it cannot read,
        `DeadLettersError` for --until not after --since."""
        since_ms = parse_moment(since, "--since", now_ms) if since else None
        until_ms = parse_moment(until, "--until", now_ms) if until else None
        if since_ms is not None and until_ms is not None and until_ms <= since_ms:
            raise DeadLettersError("--until must be after --since")
        return cls(
            frozenset(reasons), frozenset(stages), frozenset(event_names), since_ms, until_ms
        )

    def matches(self, letter: DeadLetter) -> bool:
        return (
            (not self.reasons or letter.kind in self.reasons)
            and (not self.stages or letter.stage in self.stages)
            and (not self.event_names or letter.event_name in self.event_names)
            and (self.since_ms is None or letter.timestamp_ms >= self.since_ms)
            and (self.until_ms is None or letter.timestamp_ms < self.until_ms)
        )


# --- summary ------------------------------------------------------------------------------


@dataclass
class Group:
    reason: str
    stage: str
    event_name: str
    count: int = 0
    first_ms: int = 0
    last_ms: int = 0

    def add(self, letter: DeadLetter) -> None:
        at = letter.timestamp_ms
        self.first_ms = at if self.count == 0 else min(self.first_ms, at)
        self.last_ms = at if self.count == 0 else max(self.last_ms, at)
        self.count += 1


@dataclass
class Summary:
    """Counts by reason x stage x eventName, with the first and last time of each."""

    groups: dict[tuple[str, str, str], Group] = field(default_factory=dict)

    def add(self, letter: DeadLetter) -> None:
        key = (letter.kind, letter.stage or "?", letter.event_name)
        self.groups.setdefault(key, Group(*key)).add(letter)

    def ordered(self) -> list[Group]:
        """Most first, then by reason, stage and eventName."""
        return sorted(
            self.groups.values(), key=lambda g: (-g.count, g.reason, g.stage, g.event_name)
        )

    @property
    def total(self) -> int:
        return sum(g.count for g in self.groups.values())

    def as_json(self) -> dict[str, Any]:
        groups = self.ordered()
        return {
            "groups": [
                {
                    "reason": g.reason,
                    "stage": g.stage,
                    "event_name": g.event_name,
                    "count": g.count,
                    "first": iso_ms(g.first_ms),
                    "last": iso_ms(g.last_ms),
                }
                for g in groups
            ],
            "total": self.total,
            "first": iso_ms(min(g.first_ms for g in groups)) if groups else None,
            "last": iso_ms(max(g.last_ms for g in groups)) if groups else None,
        }

    def table(self) -> str:
        header = ("REASON", "STAGE", "EVENT NAME", "COUNT", "FIRST", "LAST")
        rows = [
            (g.reason, g.stage, g.event_name, str(g.count), iso_ms(g.first_ms), iso_ms(g.last_ms))
            for g in self.ordered()
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(
                c.rjust(widths[i]) if i == 3 else c.ljust(widths[i]) for i, c in enumerate(r)
            ).rstrip()
            for r in [header, *rows]
        ]
        data = self.as_json()
        span = f", first {data['first']}, last {data['last']}" if rows else ""
        lines.append(f"total: {self.total} dead letters{span}")
        return "\n".join(lines)


# --- show -----------------------------------------------------------------------------------


def printable(raw: bytes) -> str:
    """Text as it is when it is UTF-8 without control characters; else Python's bytes repr,
    so binary bytes cannot drive the operator's terminal."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return repr(raw)
    if all(ch.isprintable() or ch in "\n\t" for ch in text):
        return text
    return repr(raw)


def pretty_body(value: bytes, limit: int = BODY_CHARS) -> str:
    """JSON indented, else `printable`; cut at `limit` characters, saying so."""
    try:
        text = orjson.dumps(orjson.loads(value), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        text = printable(value)
    if len(text) > limit:
        return f"{text[:limit]}\n... cut: {len(text) - limit} more characters ({len(value)} bytes)"
    return text


def render(letter: DeadLetter, limit: int = BODY_CHARS) -> str:
    """One dead letter for `show`."""
    lines = [f"{letter.position}  {iso_ms(letter.timestamp_ms)}"]
    fields = [
        ("reason", letter.header(H_REASON) or letter.kind),
        ("stage", letter.stage or "?"),
        ("event name", letter.event_name),
        ("source", letter.source or "?"),
    ]
    if H_DETAIL in letter.headers:
        fields.append(("detail", letter.header(H_DETAIL)))
    if H_REDRIVEN in letter.headers:
        fields.append(("re-driven from", letter.header(H_REDRIVEN)))
    fields.append(("key", "(none)" if letter.key is None else printable(letter.key)))
    lines += [f"  {name}: {value}" for name, value in fields]
    lines.append(f"  body ({len(letter.value)} bytes):")
    lines += [f"    {line}" for line in pretty_body(letter.value, limit).splitlines()]
    return "\n".join(lines)


# --- redrive --------------------------------------------------------------------------------


def redrive_topic(stage: str, settings: Settings) -> str | None:
    """The topic the stage reads (None: not re-driven, or a stage this version does not
    know): `streams.dead_letters.STAGE_TOPICS`."""
    return stage_topic(stage, settings)


def redrive_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """Into the AIR input topic, the source headers, which make it the same delivery to the
    mapper; always the mark of where it was re-driven from. Not the reason headers: a
    re-driven message that fails again gets the new ones."""
    kept: list[tuple[str, bytes]] = []
    if letter.stage in AIR_INPUT_STAGES:
        kept = [(name, letter.headers[name]) for name in SOURCE_HEADERS if name in letter.headers]
    return [*kept, (H_REDRIVEN, letter.position.encode())]
