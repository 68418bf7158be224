"""`airmp dead-letters`' I/O: the dead-letter topic read, dead letters re-produced, progress
on stderr, exit status. What each command does is in `ops.dead_letters`."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TextIO

import orjson
from aiokafka import AIOKafkaProducer

from config import Settings
from ops.dead_letters.letters import DeadLetter, Selection, Summary, redrive_headers, redrive_topic
from ops.dead_letters.letters import render as render_letter
from ops.errors import DeadLettersError
from ops.replay.range import ReplayRange
from ops.runner import on_loop, say
from ops.topic_reader import Progress, duration, partitions_of, range_consumer, read_spans, spans
from streams.dead_letters import Stage
from streams.kafka import KafkaClients

PREFIX = "airmp dead-letters"
SEND_WINDOW = 500  # re-driven messages handed to the producer before waiting for their acks
INTERRUPTED = "interrupted"  # Ctrl-C's line (ops.runner): the range read is all it leaves
Handle = Callable[[DeadLetter], Awaitable[bool]]  # False: stop reading

__all__ = ["DeadLettersError", "RedriveOptions", "ShowOptions", "SummaryOptions"]


@dataclass(frozen=True)
class SummaryOptions:
    selection: Selection
    as_json: bool = False


@dataclass(frozen=True)
class ShowOptions:
    selection: Selection
    limit: int | None = None


@dataclass(frozen=True)
class RedriveOptions:
    selection: Selection
    everything: bool = False  # --all: no filter needed
    limit: int | None = None
    dry_run: bool = False


@dataclass
class Scan:
    read: int = 0
    selected: int = 0
    seconds: float = 0.0


async def scan(
    kafka: KafkaClients, settings: Settings, selection: Selection, handle: Handle, err: TextIO
) -> Scan:
    """Each selected dead letter of the range fixed now, partition by partition in offset
    order (a stable order), to `handle`."""
    admin = await kafka.admin()
    consumer = await range_consumer(kafka, settings)
    topic = settings.dead_letter_topic
    partitions = await partitions_of(admin, topic)
    if partitions is None:
        raise DeadLettersError(
            f"the dead-letter topic {topic} does not exist (AIRMP_DEAD_LETTER_TOPIC)"
        )
    if selection.since_ms is None:
        rng = ReplayRange(from_offsets=0, to_ms=selection.until_ms)
    else:
        rng = ReplayRange(from_ms=selection.since_ms, to_ms=selection.until_ms)
    found = await spans(consumer, topic, partitions, rng)
    progress = Progress(
        sum(s.stop - s.start for s in found.values()), err, prefix=PREFIX, unit="dead letters"
    )
    done = Scan()
    started = time.monotonic()

    async def one(message: Any) -> bool:
        done.read += 1
        letter = DeadLetter.of_message(message)
        go_on = True
        if selection.matches(letter):
            done.selected += 1
            go_on = await handle(letter)
        progress.update(done.read)
        return go_on

    for tp in sorted(found):
        if not await read_spans(consumer, {tp: found[tp]}, one):
            break
    done.seconds = time.monotonic() - started
    return done


def _say(err: TextIO, text: str) -> None:
    say(err, PREFIX, text)


def execute(settings: Settings, work: Callable[[KafkaClients], Awaitable[int]]) -> int:
    """`work`'s exit status, with the Kafka clients; errors raise (`ops.runner`)."""

    async def main() -> int:
        async with KafkaClients(settings) as kafka:
            return await work(kafka)

    return on_loop(main())


def _read_line(settings: Settings, done: Scan) -> str:
    return (
        f"{done.read} dead letters read from {settings.dead_letter_topic} in "
        f"{duration(done.seconds)}, {done.selected} selected"
    )


# --- summary and show ---------------------------------------------------------------------


def run_summary(settings: Settings, options: SummaryOptions, out: TextIO, err: TextIO) -> int:
    """Counts by reason x stage x eventName on stdout (a table, or one JSON object)."""
    selection = options.selection
    summary = Summary()

    async def count(letter: DeadLetter) -> bool:
        summary.add(letter)
        return True

    async def work(kafka: KafkaClients) -> int:
        done = await scan(kafka, settings, selection, count, err)
        _say(err, _read_line(settings, done))
        return 0

    status = execute(settings, work)
    text = orjson.dumps(summary.as_json()).decode() if options.as_json else summary.table()
    out.write(text + "\n")
    out.flush()
    return status


def run_show(settings: Settings, options: ShowOptions, out: TextIO, err: TextIO) -> int:
    """Each selected dead letter on stdout, a blank line between, at most `limit`."""
    selection, limit = options.selection, options.limit
    shown = 0

    async def show(letter: DeadLetter) -> bool:
        nonlocal shown
        out.write(("\n" if shown else "") + render_letter(letter) + "\n")
        out.flush()
        shown += 1
        return limit is None or shown < limit

    async def work(kafka: KafkaClients) -> int:
        done = await scan(kafka, settings, selection, show, err)
        _say(err, f"{_read_line(settings, done)}, {shown} shown")
        return 0

    return execute(settings, work)


# --- redrive --------------------------------------------------------------------------------


@dataclass
class Redriven:
    """What `redrive` did: per target topic, and the dead letters it could not place."""

    to: Counter[str]
    unknown_stage: int = 0


class Redriver:
    """Re-produces dead letters, waiting for the acks every SEND_WINDOW; one line on stdout
    for each: where it went (or would go, with `producer` None: a dry run)."""

    def __init__(
        self, settings: Settings, producer: AIOKafkaProducer | None, out: TextIO, err: TextIO
    ) -> None:
        self.settings = settings
        self.producer = producer
        self.out = out
        self.err = err
        self.done = Redriven(Counter())
        self.pending: list[tuple[DeadLetter, asyncio.Future[Any]]] = []

    async def take(self, letter: DeadLetter) -> None:
        topic = redrive_topic(letter.stage, self.settings)
        if topic is None:
            self.done.unknown_stage += 1
            why = (
                "a profile of an audience output request: mParticle sends it again once it"
                " carries a raw identity"
                if letter.stage == Stage.FIREHOSE
                else f"stage {letter.stage!r} unknown"
            )
            _say(self.err, f"{letter.position}: {why}, not re-driven")
            return
        self.done.to[topic] += 1
        if self.producer is None:
            what = f"{letter.stage}, {letter.kind}, {letter.event_name}"
            self._line(f"would re-drive {letter.position} ({what}) to {topic}")
            return
        sent = await self.producer.send(
            topic, key=letter.key, value=letter.value, headers=redrive_headers(letter)
        )
        self.pending.append((letter, sent))
        if len(self.pending) >= SEND_WINDOW:
            await self.settle()

    async def settle(self) -> None:
        pending, self.pending = self.pending, []
        for letter, sent in pending:
            meta = await sent  # raises the first failed send
            where = f"{meta.topic}[{meta.partition}]@{meta.offset}"
            self._line(f"re-drove {letter.position} to {where}")

    def _line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def summary(self) -> str:
        where = ", ".join(f"{n} to {topic}" for topic, n in sorted(self.done.to.items()))
        total = sum(self.done.to.values())
        verb = "would re-drive" if self.producer is None else "re-drove"
        line = f"{verb} {total} dead letters" + (f" ({where})" if where else "")
        if self.done.unknown_stage:
            line += f"; {self.done.unknown_stage} not re-driven: stage unknown"
        return line + ("; dry run, nothing produced" if self.producer is None else "")


def run_redrive(settings: Settings, options: RedriveOptions, out: TextIO, err: TextIO) -> int:
    """0 re-driven; 1 some selected could not be (unknown stage); bad arguments or Kafka
    errors raise (`ops.runner`: one line, 2)."""
    selection, limit, dry_run = options.selection, options.limit, options.dry_run
    if selection.everything and not options.everything:
        raise DeadLettersError(
            "give a filter (--reason, --stage, --event-name, --since, --until) or --all"
        )

    async def work(kafka: KafkaClients) -> int:
        producer = None if dry_run else await kafka.producer(linger_ms=5)
        redriver = Redriver(settings, producer, out, err)
        taken = 0

        async def take(letter: DeadLetter) -> bool:
            nonlocal taken
            await redriver.take(letter)
            taken += 1
            return limit is None or taken < limit

        done = await scan(kafka, settings, selection, take, err)
        await redriver.settle()
        _say(err, _read_line(settings, done))
        _say(err, redriver.summary())
        return 1 if redriver.done.unknown_stage else 0

    return execute(settings, work)
