"""The commit decision against Faust's ways of skipping input (streams/offsets.py).

Each test drives the real Faust consumer of our app in process, no broker: the partition is
"sought" to its committed offset 30 as after a restart, then Faust does what it does in a
rebalance, and the test checks what the consumer would commit. Before the ledger, each of
these committed past messages no handler had processed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any, cast

import faust
import pytest
from faust.transport.consumer import Consumer
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from config import Settings
from streams import offsets
from streams.app import create_app
from streams.offsets import HandoverBuffer, Ledger, LedgerConsumer, complete

COMMITTED = 30


@pytest.fixture
def app(tmp_path: Any) -> Iterator[faust.App]:
    settings = Settings(store="memory://", data_dir=str(tmp_path), sink_enabled=False)  # type: ignore[call-arg]
    yield create_app(settings)


@pytest.fixture
def tp(app: faust.App) -> TP:
    return TP("air-notifications", 0)


async def sought(app: faust.App, tp: TP, committed: int | None = COMMITTED) -> Consumer:
    """The app's consumer after the start-up seek to the committed offset of `tp`."""
    consumer: Any = app.consumer
    cast(Any, app.topics)._acking_topics.add(tp.topic)  # as when the ingest agent subscribes

    async def seek_to_committed() -> dict[TP, int | None]:
        return {tp: committed}

    async def earliest_offsets(*tps: TP) -> dict[TP, int]:
        return dict.fromkeys(tps, 0)

    async def seek_wait(offsets: dict[TP, int]) -> None:
        consumer.sought.append(offsets)

    consumer.seek_to_committed = seek_to_committed
    consumer.earliest_offsets = earliest_offsets
    consumer.seek_wait = seek_wait
    consumer.sought = []
    consumer.assignment = lambda: {tp}
    await consumer.perform_seek()
    return consumer  # type: ignore[no-any-return]


def message(tp: TP, offset: int) -> ConsumerMessage:
    return ConsumerMessage(
        tp.topic, tp.partition, offset, 0.0, 0, [], b"k", b"v", None, 1, 1, tp, generation_id=1
    )


def process(app: faust.App, msg: ConsumerMessage) -> None:
    """What our agents do once an event's outputs are with the producer."""
    complete(faust.Event(app, msg.key, msg.value, msg.headers, msg))


def committable(consumer: Consumer, tp: TP) -> int | None:
    return consumer._filter_committable_offsets([tp]).get(tp)


async def test_the_message_at_the_committed_offset_is_never_jumped(app: faust.App, tp: TP) -> None:
    # Faust's guard `min(acked) - committed > 1` let 31 and 32 commit over 30 (-> 33).
    consumer: Any = await sought(app, tp)
    assert consumer.sought == []  # aiokafka seeks a partition with a committed offset
    for offset in (31, 32):
        process(app, message(tp, offset))
    assert committable(consumer, tp) is None
    process(app, message(tp, 30))
    assert committable(consumer, tp) == 33


async def test_a_message_faust_skips_but_acks_is_not_committed(app: faust.App, tp: TP) -> None:
    # Stream.__aiter__ acks a message it skips for an old generation: not processed.
    consumer = await sought(app, tp)
    message(tp, 30).ack(consumer)
    assert committable(consumer, tp) is None


async def test_a_stale_batch_after_the_seek_neither_drops_nor_gaps(app: faust.App, tp: TP) -> None:
    # After the seek to 30, the drain loop still holds a batch fetched before it (35, 36);
    # then the re-fetched 30..36 arrive. Faust made 31..35 a committable "gap" and dropped
    # 30..34 as already read: committed 37 with 30..34 never processed. Ours delivers 30..34
    # and not 35 and 36 again: they are finished.
    consumer: Any = await sought(app, tp)
    batches = [[35, 36], list(range(30, 37))]
    delivered: list[int] = []

    async def getmany(timeout: float) -> AsyncIterator[tuple[TP, ConsumerMessage]]:
        if not batches:
            fetcher._stopped.set()
            return
        for offset in batches.pop(0):
            yield tp, message(tp, offset)

    async def callback(msg: ConsumerMessage) -> None:
        delivered.append(msg.offset)
        process(app, msg)

    class Fetcher:
        _stopped = asyncio.Event()

    fetcher = Fetcher()
    consumer.getmany = getmany
    consumer._deliver = callback
    consumer._commit_every = None
    await asyncio.wait_for(consumer._drain_messages(fetcher), 10)
    assert delivered == [35, 36, 30, 31, 32, 33, 34]
    assert committable(consumer, tp) == 37


async def test_a_partition_never_committed_starts_at_the_log_start(app: faust.App, tp: TP) -> None:
    # aiokafka's seek_to_committed leaves such a partition where it was before a rebalance:
    # past messages fetched then and cleared from the queues.
    consumer: Any = await sought(app, tp, committed=None)
    assert consumer.sought == [{tp: 0}]
    process(app, message(tp, 1))
    assert committable(consumer, tp) is None  # 0 is the log's first message
    process(app, message(tp, 0))
    assert committable(consumer, tp) == 2


async def test_a_hole_is_read_again_when_the_log_has_the_message(app: faust.App, tp: TP) -> None:
    consumer: Any = await sought(app, tp)
    seeks: list[tuple[TP, int]] = []

    async def first_offset_from(tp_: TP, offset: int) -> int:
        return offset

    async def seek(tp_: TP, offset: int) -> None:
        seeks.append((tp_, offset))

    consumer.first_offset_from = first_offset_from
    consumer.seek = seek
    process(app, message(tp, 31))
    assert committable(consumer, tp) is None
    await consumer.heal(tp, 30)
    assert seeks == [(tp, 30)]
    assert committable(consumer, tp) is None


async def test_a_hole_the_log_has_no_message_in_is_committed_past(app: faust.App, tp: TP) -> None:
    # A transaction marker, compaction or retention: the log's next message is 32.
    consumer: Any = await sought(app, tp)

    async def first_offset_from(tp_: TP, offset: int) -> int:
        return 32

    consumer.first_offset_from = first_offset_from
    process(app, message(tp, 32))
    assert committable(consumer, tp) is None
    await consumer.heal(tp, 30)
    assert committable(consumer, tp) == 33


def test_the_app_commits_by_the_ledger(app: faust.App) -> None:
    assert isinstance(app.consumer, LedgerConsumer)


async def test_a_revocation_commits_what_was_finished_before_the_partition_goes(
    app: faust.App, tp: TP
) -> None:
    # Faust commits in its revocation callback (after waiting for the agents). The ledger
    # used to forget the revoked partitions before it: that commit found nothing, and the
    # next owner did 30..33 again (a rolling restart re-sent ~1 s of every worker's work).
    consumer: Any = await sought(app, tp)
    for offset in range(30, 34):
        process(app, message(tp, offset))
    seen: list[tuple[list[TP], int | None]] = []

    async def faust_revocation(revoked: set[TP]) -> None:  # the app's, as far as commits go
        seen.append((list(consumer._filter_tps_with_pending_acks()), committable(consumer, tp)))

    consumer._on_partitions_revoked = faust_revocation
    await consumer.on_partitions_revoked({tp})
    assert seen == [([tp], 34)]
    assert list(consumer._filter_tps_with_pending_acks()) == []  # then forgotten


def test_ledger_advances_over_finished_and_absent_offsets() -> None:
    tp = TP("t", 0)
    ledger = Ledger()
    ledger.start(tp, 10)
    ledger.done[tp] |= {10, 11, 14, 15, 17}
    ledger.add_absent(tp, 12, 14)
    assert ledger.advance(tp) == 16
    assert ledger.hole(tp) == 16
    assert ledger.done[tp] == {17}
    assert ledger.advance(tp) is None
    ledger.done[tp].add(16)
    assert ledger.advance(tp) == 18
    assert ledger.hole(tp) is None


async def test_resuming_flowing_streams_keeps_their_queues(app: faust.App) -> None:
    # Recovery resumes the flow after the seek to the committed offsets, when the drain loop
    # may already have queued the message at the committed offset: Faust cleared it.
    flow = app.flow_control
    queue = app.FlowControlQueue(maxsize=10, clear_on_resume=True)
    flow.resume()
    queue.put_nowait("at the committed offset")
    flow.resume()
    assert queue.qsize() == 1
    flow.suspend()
    flow.resume()  # after a suspension (a rebalance) stale messages still go
    assert queue.qsize() == 0


async def test_no_commit_after_kafka_refused_a_produced_message(app: faust.App, tp: TP) -> None:
    consumer: Any = await sought(app, tp)
    exits: list[int] = []
    consumer.exit = exits.append
    producer: Any = app.producer

    async def flush() -> None:
        return None

    producer.flush = flush
    refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    refused.set_exception(RuntimeError("KafkaTimeoutError"))
    producer._delivered(refused)
    process(app, message(tp, 30))
    offsets = consumer._filter_committable_offsets([tp])
    assert offsets == {tp: 31}
    assert await consumer._commit_offsets(offsets) is False
    assert exits == [75]


async def test_a_message_fetched_again_is_delivered_again_only_if_cleared(
    app: faust.App, tp: TP
) -> None:
    consumer: Any = await sought(app, tp)
    delivered: list[int] = []

    async def deliver(msg: ConsumerMessage) -> None:
        delivered.append(msg.offset)

    consumer._deliver = deliver
    for offset in (30, 31, 30, 31):  # queued, then fetched again after a seek back
        await consumer._deliver_once(message(tp, offset))
    assert delivered == [30, 31]
    process(app, message(tp, 30))
    app.flow_control.suspend()
    app.flow_control.clear()  # a rebalance threw 31 out of the queue: 30 stays finished
    for offset in (30, 31):
        await consumer._deliver_once(message(tp, offset))
    assert delivered == [30, 31, 31]


async def test_partition_counts_come_from_the_cluster_metadata(app: faust.App) -> None:
    # aiokafka's assignment snapshot (what Faust reads) is empty but on the group's leader,
    # and stale there until the next metadata refresh.
    cluster = SimpleNamespace(partitions_for_topic={"air": {0, 1, 2}}.get)
    coordinator = SimpleNamespace(_metadata_snapshot={"air": 0})
    thread: Any = cast(Any, app.consumer)._thread
    thread._consumer = SimpleNamespace(
        _client=SimpleNamespace(cluster=cluster), _coordinator=coordinator
    )
    assert app.consumer.topic_partitions("air") == 3
    assert app.consumer.topic_partitions("not-there") is None


async def test_a_flush_waits_for_the_table_writes_put_before_it() -> None:
    # Faust's buffer flush gives up after 0.1 s without a message going out, and does not
    # count the one it is handing over: it would return with both writes below unsent.
    buffer = HandoverBuffer()
    buffer.app = cast(Any, SimpleNamespace(conf=SimpleNamespace(producer_threaded=False)))
    release = asyncio.Event()
    published: list[str] = []

    async def publish_message(fut: Any, wait: bool = False) -> None:
        await release.wait()  # aiokafka's batch full, a slow broker
        published.append(fut.name)

    def write(name: str) -> Any:
        channel = SimpleNamespace(publish_message=publish_message)
        return cast(Any, SimpleNamespace(name=name, message=SimpleNamespace(channel=channel)))

    await buffer.start()
    try:
        buffer.put(write("a"))
        buffer.put(write("b"))
        assert await buffer.hand_over(0.3) == 2  # not in time: the commit is deferred
        asyncio.get_running_loop().call_later(0.2, release.set)
        assert await buffer.hand_over(5) == 0
        assert published == ["a", "b"]
    finally:
        await buffer.stop()


async def test_no_commit_while_a_table_write_is_not_produced(
    app: faust.App, tp: TP, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer: Any = await sought(app, tp)
    producer: Any = app.producer
    committed: list[Any] = []

    async def faust_commit(self: Any, offsets: Any) -> bool:
        committed.append(dict(offsets))
        return True

    monkeypatch.setattr(offsets.faust_aiokafka.Consumer, "_commit", faust_commit)
    process(app, message(tp, 30))
    offsets_now = consumer._filter_committable_offsets([tp])
    assert offsets_now == {tp: 31}
    producer.unflushed = 1  # the flush before this commit could not hand one over
    assert await consumer._commit(offsets_now) is False
    assert committed == []
    producer.unflushed = 0
    assert await consumer._commit(offsets_now) is True
    assert committed == [{tp: 31}]
