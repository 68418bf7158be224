"""`airmp replay`'s I/O: the changelog and the range read, records written, progress shown.

See `ops.replay` for what a replay does; the decisions are in `range` and `replayer`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import IO, Any, TextIO

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition

import mappers
from config import Settings
from ops.replay.range import ReplayError, ReplayRange, Span
from ops.replay.replayer import Replayer, Totals, tag_of
from ops.runner import on_loop, say
from ops.topic_reader import Progress, duration, partitions_of, range_consumer, read_spans
from ops.topic_reader import spans as spans_of
from streams.kafka import KafkaClients

SEND_WINDOW = 1000  # records handed to the producer before waiting for their acks
PREFIX = "airmp replay"
# Ctrl-C's line (ops.runner): what an interrupted replay leaves behind.
INTERRUPTED = "interrupted; records already written stay written (re-sending is safe)"


def changelog_topic(settings: Settings) -> str:
    """Faust's changelog topic of the `wallet-state` table (streams/app.py)."""
    return f"{settings.app_id}-wallet-state-changelog"


def summary(totals: Totals, where: str, seconds: float) -> str:
    return (
        f"done in {duration(seconds)}: {totals.read} events read, "
        f"{totals.records} records written to {where}, {totals.dead_letters} dead-lettered "
        f"(not re-sent), {totals.unmapped} skipped unknown/unmapped, "
        f"{totals.duplicates} duplicate deliveries skipped"
    )


# --- where records go ---------------------------------------------------------------------


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


async def replay(
    settings: Settings, rng: ReplayRange, dry_run: IO[bytes] | None, dry_run_name: str, err: TextIO
) -> Totals:
    """Seed, read the range, map, write. Raises `ReplayError`, `BrokerError`."""
    async with KafkaClients(settings) as kafka:
        admin = await kafka.admin()
        consumer = await range_consumer(kafka, settings)
        topic = settings.input_topic
        partitions = await partitions_of(admin, topic)
        if partitions is None:
            raise ReplayError(f"the input topic {topic} does not exist (AIRMP_INPUT_TOPIC)")
        changelog = changelog_topic(settings)
        changelog_partitions = await partitions_of(admin, changelog)
        # Both ends captured now: the state is the live worker's newest, the range is fixed.
        spans = await spans_of(consumer, topic, partitions, rng)
        seed_spans: dict[TopicPartition, Span] | None = None
        if changelog_partitions is not None:
            everything = ReplayRange(from_offsets=0)
            seed_spans = await spans_of(consumer, changelog, changelog_partitions, everything)
        total = sum(s.stop - s.start for s in spans.values())
        output: Output
        if dry_run is not None:
            output = FileOutput(dry_run, dry_run_name)
        else:
            output = TopicOutput(await kafka.producer(linger_ms=5), settings.records_topic)
        ranges = " ".join(f"{tp.partition}:{s.start}-{s.stop}" for tp, s in sorted(spans.items()))
        _say(err, f"{topic}: {total} events to replay ({ranges or 'none'}) -> {output.where}")

        replayer = Replayer(mappers.MappingOptions.from_settings(settings, dedup=False))
        if seed_spans is None:
            _say(err, f"no changelog topic {changelog}: no wallet state to start from")
        else:
            await read_spans(consumer, seed_spans, lambda m: replayer.seed(m.key, m.value))
            _say(err, f"wallet state of {replayer.totals.seeded} wallets read from {changelog}")

        progress = Progress(total, err)

        async def one(message: Any) -> None:
            tag = tag_of(message.topic, message.partition, message.offset, message.headers)
            out = replayer.handle(message.value, tag)
            if out is not None:
                await output.write(*out)
            progress.update(replayer.totals.read)

        await read_spans(consumer, spans, one)
        await output.close()
        progress.update(replayer.totals.read, force=True)
        return replayer.totals


def _say(err: TextIO, text: str) -> None:
    say(err, PREFIX, text)


@dataclass(frozen=True)
class ReplayOptions:
    from_timestamp: str | None = None
    from_offset: str | None = None
    to_timestamp: str | None = None
    dry_run: str | None = None  # a file for the records, "-" stdout; None: the records topic


def _dry_run_file(dry_run: str, out: TextIO) -> IO[bytes]:
    try:
        return out.buffer if dry_run == "-" else open(dry_run, "wb")
    except OSError as exc:
        raise ReplayError(f"cannot write --dry-run {dry_run}: {exc.strerror or exc}") from None


def run_replay(settings: Settings, options: ReplayOptions, out: TextIO, err: TextIO) -> int:
    """0 when the range was replayed; bad arguments or Kafka errors raise (`ops.runner`:
    one line, 2). Records go to the records topic or the --dry-run file, never to `out`."""
    rng = ReplayRange.from_options(
        options.from_timestamp, options.from_offset, options.to_timestamp
    )
    dry_run = options.dry_run
    handle = None if dry_run is None else _dry_run_file(dry_run, out)
    name = "" if dry_run is None else "<stdout>" if dry_run == "-" else dry_run
    started = time.monotonic()
    try:
        totals = on_loop(replay(settings, rng, handle, name, err))
    finally:
        if handle is not None and dry_run != "-":
            handle.close()
    where = name or f"topic {settings.records_topic}"
    _say(err, summary(totals, where, time.monotonic() - started))
    return 0
