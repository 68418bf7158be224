"""`airmp replay`: re-process a range of the AIR input topic through mapping and delivery.

It never joins a consumer group: it assigns the input topic's partitions itself, finds the
start offsets (`--from-timestamp`, with Kafka's offsets-for-times, or `--from-offset`), and
stops each partition at the end offset it had when the replay started (or at
`--to-timestamp`). It commits nothing, so it cannot take partitions from, or move the
offsets of, a running worker.

Wallet state is seeded from the wallet-state table's changelog topic
(`<AIRMP_APP_ID>-wallet-state-changelog`), read to its end: the newest state the live worker
has. Each replayed event is mapped with it (`dedup=False`: the state has seen every event
already) and the result is kept for the wallet's next events. The event-date guards keep
newer state, so every replayed record carries the wallet's newest profile: an older event
never rolls a newer profile back, and a wallet that was deleted stays deleted (its replayed
records carry no `user_attributes`). `source_request_id` comes from `eesEventId`, so a
re-sent batch has the same id as the first time and mParticle drops it if it had arrived.

A second delivery of an event that the live worker dropped as AIR's duplicate (the state
remembers which delivery it mapped) is skipped again. Bad inputs are only counted: the live
run already put them on the dead-letter topic.

Records go to the records topic (keyed by walletId, like the worker's), where the running
worker's sink delivers them; with `--dry-run FILE` they are written to FILE as JSON lines
instead and nothing is produced.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, TextIO

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError

import mappers
from config import Settings
from streams import source
from streams.kafka_check import (
    BrokerError,
    auth_message,
    check_broker,
    is_auth_failure,
    quiet_aiokafka,
    unreachable_message,
)
from streams.kafka_options import aiokafka_options
from streams.source import headers_dict, source_of

TIMEOUT_MS = 15_000
PROGRESS_INTERVAL = 0.5  # seconds between progress lines at most
SEND_WINDOW = 1000  # records handed to the producer before waiting for their acks
PREFIX = "airmp replay"


class ReplayError(Exception):
    """Bad arguments, or a topic that cannot be replayed: one line, exit status 2."""


def changelog_topic(settings: Settings) -> str:
    """Faust's changelog topic of the `wallet-state` table (streams/app.py)."""
    return f"{settings.app_id}-wallet-state-changelog"


# --- arguments ----------------------------------------------------------------------------

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


# --- progress -----------------------------------------------------------------------------


def _duration(value: float) -> str:
    seconds = max(0, round(value))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """`done/total (pct), rate, ETA` on stderr, at most one line per `interval` seconds."""

    def __init__(
        self,
        total: int,
        err: TextIO,
        interval: float = PROGRESS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.err = err
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.last = self.started

    def rate(self, done: int) -> float:
        elapsed = self.clock() - self.started
        return done / elapsed if elapsed > 0 else 0.0

    def line(self, done: int) -> str:
        pct = 100.0 * done / self.total if self.total else 100.0
        rate = self.rate(done)
        eta = _duration((self.total - done) / rate) if rate > 0 else "?"
        return f"{PREFIX}: {done}/{self.total} events ({pct:.0f}%), {rate:.0f} events/s, ETA {eta}"

    def update(self, done: int, force: bool = False) -> None:
        now = self.clock()
        if force or now - self.last >= self.interval:
            self.last = now
            self.err.write(self.line(done) + "\n")
            self.err.flush()


# --- the replay ---------------------------------------------------------------------------


@dataclass
class Totals:
    read: int = 0
    records: int = 0
    dead_letters: int = 0
    unmapped: int = 0
    duplicates: int = 0
    seeded: int = 0

    def summary(self, where: str, seconds: float) -> str:
        return (
            f"done in {_duration(seconds)}: {self.read} events read, "
            f"{self.records} records written to {where}, {self.dead_letters} dead-lettered "
            f"(not re-sent), {self.unmapped} skipped unknown/unmapped, "
            f"{self.duplicates} duplicate deliveries skipped"
        )


@dataclass
class Replayer:
    """Maps replayed input messages with the seeded wallet state. Pure: no Kafka here."""

    options: mappers.MappingOptions
    seeded: dict[bytes, bytes] = field(default_factory=dict)  # walletId -> changelog value
    totals: Totals = field(default_factory=Totals)
    states: dict[bytes, mappers.WalletState | None] = field(default_factory=dict)
    deleted: set[bytes] = field(default_factory=set)  # wallets whose newest state is deleted

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


def delivery_tag(topic: str, partition: int, offset: int, headers: Iterable[Any]) -> str:
    """The worker's delivery tag (streams.app.delivery_tag) of an input message."""
    return source.delivery_tag(source_of(headers_dict(headers), topic, partition, offset))


class Output:
    """Where records go."""

    where = ""

    async def write(self, wallet: bytes, record: dict[str, Any]) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        return None


class FileOutput(Output):
    def __init__(self, handle: IO[bytes], name: str) -> None:
        self.handle = handle
        self.where = name

    async def write(self, wallet: bytes, record: dict[str, Any]) -> None:
        self.handle.write(orjson.dumps(record) + b"\n")

    async def close(self) -> None:
        self.handle.flush()


class TopicOutput(Output):
    """The records topic, keyed by walletId, as the worker writes it."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self.producer = producer
        self.topic = topic
        self.where = f"topic {topic}"
        self.pending: list[asyncio.Future[Any]] = []

    async def write(self, wallet: bytes, record: dict[str, Any]) -> None:
        self.pending.append(
            await self.producer.send(self.topic, key=wallet, value=orjson.dumps(record))
        )
        if len(self.pending) >= SEND_WINDOW:
            await self._settle()

    async def _settle(self) -> None:
        pending, self.pending = self.pending, []
        await asyncio.gather(*pending)  # raises the first failed send

    async def close(self) -> None:
        await self.producer.flush()
        await self._settle()


@dataclass(frozen=True)
class Span:
    start: int
    stop: int  # exclusive


async def _partitions(admin: AIOKafkaAdminClient, topic: str) -> list[int] | None:
    (described,) = await admin.describe_topics([topic])
    if described.get("error_code", 0) != 0 or not described.get("partitions"):
        return None
    return sorted(p["partition"] for p in described["partitions"])


async def _spans(
    consumer: AIOKafkaConsumer, topic: str, partitions: list[int], rng: ReplayRange
) -> dict[TopicPartition, Span]:
    tps = [TopicPartition(topic, p) for p in partitions]
    begins = await consumer.beginning_offsets(tps)
    ends = await consumer.end_offsets(tps)
    starts: dict[TopicPartition, int] = {}
    if rng.from_ms is not None:
        found = await consumer.offsets_for_times({tp: rng.from_ms for tp in tps})
        for tp in tps:
            at = found.get(tp)
            starts[tp] = at.offset if at is not None else ends[tp]
    elif isinstance(rng.from_offsets, int):
        starts = {tp: rng.from_offsets for tp in tps}
    elif rng.from_offsets is not None:
        unknown = sorted(set(rng.from_offsets) - set(partitions))
        if unknown:
            raise ReplayError(
                f"--from-offset: topic {topic} has no partition {unknown[0]} "
                f"(partitions 0-{max(partitions)})"
            )
        starts = {TopicPartition(topic, p): o for p, o in rng.from_offsets.items()}
    stops = dict(ends)
    if rng.to_ms is not None:
        found = await consumer.offsets_for_times({tp: rng.to_ms for tp in starts})
        for tp in starts:
            at = found.get(tp)
            if at is not None:
                stops[tp] = min(at.offset, ends[tp])
    spans = {}
    for tp, start in starts.items():
        span = Span(min(max(start, begins[tp]), ends[tp]), stops[tp])
        if span.stop > span.start:
            spans[tp] = span
    return spans


async def _read(
    consumer: AIOKafkaConsumer,
    spans: dict[TopicPartition, Span],
    each: Callable[[Any], Any],
) -> None:
    """Every message of `spans`, per partition in offset order; `each` is awaited if async."""
    if not spans:
        return
    consumer.assign(list(spans))
    for tp, span in spans.items():
        consumer.seek(tp, span.start)
    remaining = set(spans)
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=1000)
        for tp, messages in batch.items():
            stop = spans[tp].stop
            for message in messages:
                if message.offset >= stop:
                    break
                result = each(message)
                if asyncio.iscoroutine(result):
                    await result
        for tp in list(remaining):
            # A position past the stop offset (also across gaps: compaction, transaction
            # markers) ends the partition.
            if await consumer.position(tp) >= spans[tp].stop:
                remaining.discard(tp)
                consumer.pause(tp)


async def replay(
    settings: Settings, rng: ReplayRange, dry_run: IO[bytes] | None, dry_run_name: str, err: TextIO
) -> Totals:
    """Seed, read the range, map, write. Raises `ReplayError`, `BrokerError`, `KafkaError`."""
    options = aiokafka_options(settings)
    fetch = settings.kafka_max_bytes
    admin = AIOKafkaAdminClient(**options, request_timeout_ms=TIMEOUT_MS)
    consumer = AIOKafkaConsumer(
        **options,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=TIMEOUT_MS,
        max_partition_fetch_bytes=fetch,
        fetch_max_bytes=max(fetch, 52_428_800),
    )
    producer: AIOKafkaProducer | None = None
    try:
        await admin.start()
        await consumer.start()
        topic = settings.input_topic
        partitions = await _partitions(admin, topic)
        if partitions is None:
            raise ReplayError(f"the input topic {topic} does not exist (AIRMP_INPUT_TOPIC)")
        changelog = changelog_topic(settings)
        changelog_partitions = await _partitions(admin, changelog)
        # Both ends captured now: the state is the live worker's newest, the range is fixed.
        spans = await _spans(consumer, topic, partitions, rng)
        seed_spans: dict[TopicPartition, Span] = {}
        if changelog_partitions is not None:
            seed_spans = await _spans(
                consumer, changelog, changelog_partitions, ReplayRange(from_offsets=0)
            )
        total = sum(s.stop - s.start for s in spans.values())
        if dry_run is not None:
            output: Output = FileOutput(dry_run, dry_run_name)
        else:
            producer = AIOKafkaProducer(
                **options,
                acks="all",
                linger_ms=5,
                max_request_size=fetch,
                request_timeout_ms=TIMEOUT_MS * 2,
            )
            await producer.start()
            output = TopicOutput(producer, settings.records_topic)
        ranges = " ".join(f"{tp.partition}:{s.start}-{s.stop}" for tp, s in sorted(spans.items()))
        _say(err, f"{topic}: {total} events to replay ({ranges or 'none'}) -> {output.where}")

        replayer = Replayer(mappers.MappingOptions.from_settings(settings, dedup=False))
        if changelog_partitions is None:
            _say(err, f"no changelog topic {changelog}: no wallet state to start from")
        else:
            seeded = replayer.seeded

            def keep(message: Any) -> None:
                if message.key is None:
                    return
                if message.value is None:
                    seeded.pop(bytes(message.key), None)
                else:
                    seeded[bytes(message.key)] = bytes(message.value)

            await _read(consumer, seed_spans, keep)
            replayer.totals.seeded = len(seeded)
            _say(err, f"wallet state of {len(seeded)} wallets read from {changelog}")

        progress = Progress(total, err)

        async def one(message: Any) -> None:
            tag = delivery_tag(message.topic, message.partition, message.offset, message.headers)
            out = replayer.handle(message.value, tag)
            if out is not None:
                await output.write(*out)
            progress.update(replayer.totals.read)

        await _read(consumer, spans, one)
        await output.close()
        progress.update(replayer.totals.read, force=True)
        return replayer.totals
    except KafkaConnectionError as exc:
        await check_broker(settings)
        raise BrokerError(unreachable_message(settings, type(exc).__name__)) from exc
    except KafkaError as exc:
        if is_auth_failure(exc):
            raise BrokerError(auth_message(settings)) from exc
        raise BrokerError(
            f"Kafka at {settings.kafka_bootstrap_servers} answered with an error: "
            f"{type(exc).__name__}"
        ) from exc
    finally:
        # Stopped even when start failed: aiokafka warns about an unclosed client otherwise.
        if producer is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await producer.stop()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await consumer.stop()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await admin.close()


def _say(err: TextIO, text: str) -> None:
    err.write(f"{PREFIX}: {text}\n")
    err.flush()


def run_replay(
    settings: Settings,
    *,
    from_timestamp: str | None,
    from_offset: str | None,
    to_timestamp: str | None,
    dry_run: str | None,
    err: TextIO | None = None,
) -> int:
    """0 when the range was replayed; 2 with one line for bad arguments or Kafka errors."""
    err = err or sys.stderr
    try:
        rng = ReplayRange.from_options(from_timestamp, from_offset, to_timestamp)
    except ReplayError as exc:
        _say(err, str(exc))
        return 2
    quiet_aiokafka()
    handle: IO[bytes] | None = None
    name = ""
    if dry_run is not None:
        name = "<stdout>" if dry_run == "-" else dry_run
        try:
            handle = sys.stdout.buffer if dry_run == "-" else open(dry_run, "wb")  # noqa: SIM115
        except OSError as exc:
            _say(err, f"cannot write --dry-run {dry_run}: {exc.strerror or exc}")
            return 2
    started = time.monotonic()
    try:
        totals = asyncio.run(replay(settings, rng, handle, name, err))
    except (ReplayError, BrokerError) as exc:
        _say(err, str(exc))
        return 2
    except KeyboardInterrupt:
        _say(err, "interrupted; records already written stay written (re-sending is safe)")
        return 130
    finally:
        if handle is not None and dry_run != "-":
            handle.close()
    where = name or f"topic {settings.records_topic}"
    _say(err, totals.summary(where, time.monotonic() - started))
    return 0
