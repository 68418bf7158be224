"""Commit only what our handlers finished: a ledger beside Faust's consumer.

faust-streaming 0.15.3 commits offsets past input that no agent processed. Seen here as
events lost after a SIGKILL and restart (issue #16 of this project): offsets committed at
the end of the input topic, events never re-keyed, no error. Upstream:
faust-streaming/faust#606 ("Wrong offset commit in case of gaps", open), #216 and #221
(records fetched before a rebalance delivered after it), and the guard PR #313 added for
#312. Five ways, in Faust's consumer, stream and flow control, and aiokafka's seek:

1. `_new_offset` lets the commit jump over the message *at* the committed offset:
   `if min(acked) - committed_offset > 1: return None` passes when exactly that message
   is missing (`min(acked) == committed + 1`), and is skipped when nothing was committed
   yet (None) or the committed offset is 0.
2. `_drain_messages` infers "gaps" (offsets it takes to be absent from the log, committed
   without an ack) from a read offset that both the drain loop and `perform_seek` write.
   After a rebalance, a batch fetched before the seek to the committed offsets is drained
   after it: the gap runs from the committed offset to that batch, then the re-fetched
   messages are dropped as already read (`offset < read_offset`). Hundreds lost at once.
   The gap interval also includes the message being delivered itself (`offset_to + 1`).
3. `Stream.__aiter__` acks a message it skips because its generation is old or flow is
   suspended (`value is skipped_value` acks), so it counts as processed.
4. `FlowControlEvent.resume()` clears every agent's queue even when flow was never
   suspended. After a rebalance, `Recovery.on_recovery_completed` resumes the partitions,
   seeks them to their committed offsets and only then calls `resume()`: what the drain
   loop delivered in between, starting with the message at the committed offset, is thrown
   away, and the fetch position is already past it. Seen on every partition at a restart.
5. `perform_seek` relies on aiokafka's `seek_to_committed`, which does not seek a partition
   without a committed offset (or with 0). Messages fetched before a rebalance and cleared
   from the queues are then skipped when the partition comes back, and cause 1's guard is
   not even consulted. Seen on a new group's partitions when a second worker joined.

`FlowControl` fixes 4 (a resume of flowing streams clears nothing; a suspension still
clears on resume, as Faust intends), `_ReadOffsets` keeps 2 from dropping messages, and
`perform_seek` seeks every partition, 5 included. The commit decision is ours:
`LedgerConsumer` commits, per partition, the longest run from the committed offset of
offsets that our handlers reported finished (`complete()`, called once an event's outputs
are handed to the producer, which Faust flushes before it commits) or that the log itself
shows are absent (transaction markers, compaction, retention), read with a separate
group-less client. Faust's acks, gaps and read offsets no longer decide anything for our
topics (1, 2, 3); Faust's acks still drive its shutdown wait.

A "hole" is a partition whose next offset to commit is unfinished while later offsets are
finished. Each agent takes a partition's messages in order, so a hole means Faust skipped
that message. After a short grace the ledger looks the offset up in the log; if it is
there, the partition is sought back to it and read again (the finished ones after it are
re-processed: the same ids go out again, and mParticle drops the repeat). Nothing is lost
and no partition stalls.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any, cast

import aiokafka
import faust
from aiokafka.errors import KafkaError
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import ProducerBuffer
from faust.types import TP, EventT, Message
from faust.types.tuples import FutureMessage
from mode import Service
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent

from streams import metrics

log = logging.getLogger("airmp.offsets")

HOLE_GRACE_SECONDS = 5.0  # a hole older than this is looked at
HEAL_COOLDOWN_SECONDS = 10.0  # at most one re-read of a partition this often
PROBE_TIMEOUT_SECONDS = 10.0
FLUSH_TIMEOUT_SECONDS = 10.0  # a flush waits this long for the table's writes at most
EXIT_PRODUCE_FAILED = 75  # EX_TEMPFAIL, as the sink's exit with undelivered records


def complete(event: EventT) -> None:
    """The event is finished (its outputs are with the producer): record it, then ack."""
    consumer = event.app.consumer
    if isinstance(consumer, LedgerConsumer):
        consumer.mark_done(event.message)
    event.ack()


def hold(event: EventT) -> None:
    """An agent that completes events out of order (the reward agent) holds each until it
    completes it: a held offset holding the commit back is work in hand, not a hole."""
    consumer = event.app.consumer
    if isinstance(consumer, LedgerConsumer):
        consumer.hold(event.message)


class _ReadOffsets(defaultdict[TP, int | None]):
    """Faust's read offsets, hidden from its drain loop for the partitions we commit.

    With None, `_drain_messages` neither drops a message as already read nor infers a gap
    (cause 2 above); `LedgerConsumer._deliver_once` drops a message fetched again instead,
    by what the ledger knows. Changelog partitions keep them: there a stale record replayed
    after a seek forward would roll table state back."""

    def __init__(self, consumer: LedgerConsumer) -> None:
        super().__init__(lambda: None)
        self._acking = consumer.app.topics.acks_enabled_for

    def __getitem__(self, tp: TP) -> int | None:
        if self._acking(tp.topic):
            return None
        return super().__getitem__(tp)


class Ledger:
    """Per partition: where the next commit starts, what our handlers finished beyond it,
    and ranges the log has no message in. Pure bookkeeping, no I/O."""

    def __init__(self) -> None:
        self.base: dict[TP, int] = {}
        self.done: defaultdict[TP, set[int]] = defaultdict(set)
        self.absent: defaultdict[TP, list[tuple[int, int]]] = defaultdict(list)

    def start(self, tp: TP, offset: int) -> None:
        """The partition was sought to `offset` (its committed offset): commit from there."""
        self.base[tp] = offset
        self.done[tp] = {o for o in self.done.get(tp, ()) if o >= offset}
        self.absent[tp] = [(a, b) for a, b in self.absent.get(tp, ()) if b > offset]

    def forget(self, tp: TP) -> None:
        self.base.pop(tp, None)
        self.done.pop(tp, None)
        self.absent.pop(tp, None)

    def add_absent(self, tp: TP, first: int, end: int) -> None:
        self.absent[tp].append((first, end))

    def advance(self, tp: TP) -> int | None:
        """The new commit offset, if any: the end of the finished run from the base."""
        base = self.base.get(tp)
        done = self.done.get(tp)
        if base is None or not done:
            return None
        absent = sorted(self.absent.get(tp, ()))
        offset = base
        while True:
            if offset in done:
                offset += 1
                continue
            skip = next((end for first, end in absent if first <= offset < end), None)
            if skip is None:
                break
            offset = skip
        if offset == base:
            return None
        self.base[tp] = offset
        self.done[tp] = {o for o in done if o >= offset}
        self.absent[tp] = [(a, b) for a, b in absent if b > offset]
        return offset

    def hole(self, tp: TP) -> int | None:
        """The unfinished offset that holds the commit back while later ones are finished."""
        base = self.base.get(tp)
        done = self.done.get(tp)
        if base is None or not done or min(done) <= base:
            return None
        return base

    def finished(self, tp: TP, offset: int) -> bool:
        """Committed, or finished and not yet committed: processing it again adds nothing."""
        base = self.base.get(tp)
        return (base is not None and offset < base) or offset in self.done.get(tp, ())

    def partitions(self) -> Iterator[TP]:
        return iter(list(self.done))


class LedgerConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with the commit decided by a `Ledger` (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ledger = Ledger()
        self._read_offset = _ReadOffsets(self)
        self._holes: dict[TP, tuple[int, float]] = {}
        self._healed: dict[TP, float] = {}
        self._probe: aiokafka.AIOKafkaConsumer | None = None
        self._pending: defaultdict[TP, set[int]] = defaultdict(set)
        self._held: defaultdict[TP, set[int]] = defaultdict(set)
        self._deliver = self.callback
        self.callback = self._deliver_once

    def mark_done(self, message: Message) -> None:
        self.ledger.done[message.tp].add(message.offset)
        self._pending[message.tp].discard(message.offset)
        self._held[message.tp].discard(message.offset)

    def hold(self, message: Message) -> None:
        self._held[message.tp].add(message.offset)

    async def _deliver_once(self, message: Message) -> None:
        """Faust's delivery callback, minus messages finished or already queued: a seek back
        (after a rebalance, or Faust's own re-seek when flow was paused) fetches again what
        the drain loop's read offset used to drop, racily (cause 2)."""
        tp, offset = message.tp, message.offset
        if self.app.topics.acks_enabled_for(tp.topic):
            pending = self._pending[tp]
            if offset in pending or self.ledger.finished(tp, offset):
                return
            pending.add(offset)
            try:
                await self._deliver(message)
            except BaseException:
                pending.discard(offset)  # not queued (cancelled by a flow stop): may come again
                raise
        else:
            await self._deliver(message)

    def topic_partitions(self, topic: str) -> int | None:
        """How many partitions `topic` has, from the consumer's cluster metadata (aiokafka
        keeps it current). Faust's reads the snapshot aiokafka's coordinator takes for the
        group assignment: filled on the group's leader only (every other worker answered
        None), and stale until the next metadata refresh (a changelog topic Faust created
        at start-up counted 0 partitions, and Faust's check of a table write's source topic
        failed every event mapped where it landed, for minutes)."""
        consumer = getattr(self._thread, "_consumer", None)  # faust's aiokafka consumer
        client = getattr(consumer, "_client", None)
        found = client.cluster.partitions_for_topic(topic) if client is not None else None
        return len(found) if found else None

    def forget_pending(self) -> None:
        """The agents' queues were cleared: what was queued must be delivered again."""
        self._pending.clear()

    # -- the commit decision -------------------------------------------------------------

    def _new_offset(self, tp: TP) -> int | None:
        # Faust's own bookkeeping is not used for commits; keep it from growing.
        self._acked.pop(tp, None)
        self._acked_index.pop(tp, None)
        self._gap.pop(tp, None)
        offset = self.ledger.advance(tp)
        hole = self.ledger.hole(tp)
        if hole is not None and hole in self._held.get(tp, ()):
            hole = None  # an agent has it in hand (see `hold`)
        if hole is None:
            self._holes.pop(tp, None)
        elif self._holes.get(tp, (None, 0.0))[0] != hole:
            self._holes[tp] = (hole, time.monotonic())
            done = self.ledger.done[tp]
            log.info(
                "%s[%d]@%d is not finished while %d later offsets are (from %d)",
                *tp,
                hole,
                len(done),
                min(done),
            )
        return offset

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        unflushed = getattr(self.app.producer, "unflushed", 0)
        if unflushed:
            # Faust flushed just before this, but table writes of finished input are still
            # in its buffer (`HandoverBuffer`). Not committing is safe: the next commit, after
            # the next flush, covers these offsets.
            log.warning("%d table changelog writes not yet produced: commit deferred", unflushed)
            return False
        # Faust flushed the producer just before this; a message the producer finally gave
        # up on (after `producer_request_timeout`, 20 minutes of a broker away) would be
        # committed over. Stop instead: the input is processed again after the restart.
        await asyncio.sleep(0)  # let the delivery callbacks of the flushed messages run
        failed = getattr(self.app.producer, "failed", None)
        if failed is not None:
            log.critical(
                "Kafka refused a message this worker produced (%r): exiting without a commit;"
                " the input is processed again after the restart",
                failed,
            )
            self.exit(EXIT_PRODUCE_FAILED)
            return False
        return await super()._commit(offsets)

    def exit(self, status: int) -> None:
        logging.shutdown()
        os._exit(status)

    def _filter_tps_with_pending_acks(
        self, topics: faust_consumer.TPorTopicSet | None = None
    ) -> Iterator[TP]:
        return (
            tp
            for tp in self.ledger.partitions()
            if topics is None or tp in topics or tp.topic in topics
        )

    async def perform_seek(self) -> None:
        await super().perform_seek()
        metrics.ASSIGNMENTS.inc()  # once per assignment: a rebalance storm shows as a rate
        tps = [tp for tp in self.assignment() if self.app.topics.acks_enabled_for(tp.topic)]
        committed = {tp: self._committed_offset.get(tp) for tp in tps}
        # Faust stores a committed 0 as None; either way, reading starts at the log's start.
        fresh = [tp for tp, offset in committed.items() if not offset]
        earliest: Mapping[TP, int] = await self.earliest_offsets(*fresh) if fresh else {}
        for tp in tps:
            self.ledger.start(tp, committed[tp] or earliest.get(tp) or 0)
            self._holes.pop(tp, None)
        if fresh:
            # aiokafka's seek_to_committed leaves these where they were (cause 5).
            await self.seek_wait({tp: self.ledger.base[tp] for tp in fresh})

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        """Faust's revocation (wait for the agents, commit), then forget the partitions.
        In that order: what the agents completed since the last commit is committed before
        the partitions go, so their next owner, or this worker again, does not redo it (a
        graceful move re-sends nothing). Forgotten first, the commit skipped them."""
        try:
            await super().on_partitions_revoked(revoked)
        finally:
            for tp in revoked:
                self.ledger.forget(tp)
                self._holes.pop(tp, None)
                self._pending.pop(tp, None)
                self._held.pop(tp, None)

    # -- holes ---------------------------------------------------------------------------

    @Service.timer(1.0)
    async def _heal_holes(self) -> None:
        now = time.monotonic()
        for tp, (offset, since) in list(self._holes.items()):
            young = now - since < HOLE_GRACE_SECONDS
            cooling = now - self._healed.get(tp, 0.0) < HEAL_COOLDOWN_SECONDS
            if young or cooling or tp not in self.assignment() or self.app.rebalancing:
                continue
            try:
                await self.heal(tp, offset)
            except Exception:  # the next tick tries again; the commit waits meanwhile
                log.exception("looking at %s[%d]@%d failed", *tp, offset)

    async def heal(self, tp: TP, offset: int) -> None:
        """Look `offset` up in the log: absent, commit past it; present, read it again."""
        self._healed[tp] = time.monotonic()
        first = await self.first_offset_from(tp, offset)
        if first is None:
            return  # the log did not answer; the next tick tries again
        if first > offset:
            log.info("%s[%d]: offsets %d..%d are not in the log", *tp, offset, first - 1)
            self.ledger.add_absent(tp, offset, first)
            return
        metrics.REREADS.labels(tp.topic).inc()
        self._pending.pop(tp, None)  # a message a stream skipped may still be listed
        log.warning(
            "%s[%d]@%d was skipped by the consumer; reading the partition again from there",
            *tp,
            offset,
        )
        self._holes.pop(tp, None)
        await self.seek(tp, offset)

    async def first_offset_from(self, tp: TP, offset: int) -> int | None:
        """The offset of the first message at or after `offset` (the log's start if that is
        later), read by a client of its own, outside the group."""
        probe = await self._probe_client()
        partition = aiokafka.TopicPartition(tp.topic, tp.partition)
        probe.assign([partition])
        probe.seek(partition, offset)
        try:
            batch = await asyncio.wait_for(
                probe.getmany(partition, timeout_ms=2000, max_records=1), PROBE_TIMEOUT_SECONDS
            )
        except (TimeoutError, KafkaError) as exc:
            log.warning("looking up %s[%d]@%d failed: %s", *tp, offset, exc)
            return None
        records = batch.get(partition) or []
        return int(records[0].offset) if records else None

    async def _probe_client(self) -> aiokafka.AIOKafkaConsumer:
        if self._probe is None:
            conf = self.app.conf
            transport = cast(faust_aiokafka.Transport, self.transport)
            self._probe = aiokafka.AIOKafkaConsumer(
                bootstrap_servers=faust_aiokafka.server_list(transport.url, transport.default_port),
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                request_timeout_ms=int(conf.broker_request_timeout * 1000),
                max_partition_fetch_bytes=conf.consumer_max_fetch_size,
                **faust_aiokafka.credentials_to_aiokafka_auth(
                    conf.broker_credentials, conf.ssl_context
                ),
            )
            await self._probe.start()
        return self._probe

    async def on_stop(self) -> None:
        await super().on_stop()
        if self._probe is not None:
            probe, self._probe = self._probe, None
            await probe.stop()


class FlowControl(FlowControlEvent):
    """Clears the agents' queues on a resume only when flow was suspended (cause 4), and
    tells the consumer when it clears them."""

    def __init__(self, app: faust.App) -> None:
        super().__init__(loop=app.loop)
        self._app = app

    def resume(self) -> None:
        if self.is_active():
            return
        super().resume()

    def clear(self) -> None:
        super().clear()
        consumer = self._app._consumer
        if isinstance(consumer, LedgerConsumer):
            consumer.forget_pending()


class HandoverBuffer(ProducerBuffer):
    """Faust's producer buffer (table changelog writes wait in it for the producer) that
    counts what was put in it and what it handed over to aiokafka, in order.

    Faust's producer flushes it before every commit, but its flush gives up when no message
    went out for 0.1 s (a full batch waiting on a slow broker) and does not see the message
    being handed over: the commit could then pass input whose state change was still here,
    and a crash would lose that change. `hand_over` waits for what was put before it."""

    queued = 0  # messages put in the buffer
    sent = 0  # messages handed to aiokafka's producer (the buffer sends them in order)

    def put(self, fut: FutureMessage) -> None:
        self.queued += 1
        super().put(fut)

    async def _send_pending(self, fut: FutureMessage) -> None:
        await super()._send_pending(fut)
        self.sent += 1

    async def hand_over(self, timeout: float) -> int:
        """Until every message put so far is with aiokafka, for at most `timeout` seconds;
        how many were not."""
        target = self.queued
        deadline = time.monotonic() + timeout
        while self.sent < target and time.monotonic() < deadline:
            await super().flush()  # Faust's: returns after 0.1 s without progress
            if self.sent < target:
                await asyncio.sleep(0.005)
        return max(0, target - self.sent)


class CheckedProducer(faust_aiokafka.Producer):
    """Remembers a message Kafka finally refused (Faust only sets it on the message's future,
    which nobody reads), so that no commit passes the input it came from; its buffer is a
    `HandoverBuffer`."""

    failed: BaseException | None = None
    unflushed = 0  # table writes the last flush could not hand to aiokafka in time

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Replaced before the producer starts (it starts its buffer as a dependency).
        self.buffer = HandoverBuffer(loop=self.loop, beacon=self.beacon)
        self.buffer.app = self.app

    async def flush(self) -> None:
        """Faust's flush (aiokafka's: until Kafka acknowledged), once everything put in the
        buffer before it is with aiokafka; `unflushed` counts what was not, in time."""
        if isinstance(self.buffer, HandoverBuffer):
            self.unflushed = await self.buffer.hand_over(FLUSH_TIMEOUT_SECONDS)
        await super().flush()

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        future = cast("asyncio.Future[Any]", await super().send(*args, **kwargs))
        future.add_done_callback(self._delivered)
        return future

    def _delivered(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None and self.failed is None:
            self.failed = future.exception()


class LedgerTransport(faust_aiokafka.Transport):
    Consumer = LedgerConsumer
    Producer = CheckedProducer


class App(faust.App):
    """faust.App whose consumer commits by the ledger and whose resumes keep what flows."""

    def _new_transport(self) -> Any:
        return LedgerTransport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> Any:
        return LedgerTransport(self.conf.broker_producer, self)

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return FlowControl(self)
