"""The replayer without Kafka: a seeded changelog and input messages in, exact records out."""

from __future__ import annotations

import copy
from typing import Any

import orjson

import mappers
from ops.replay.replayer import Replayer, Totals, tag_of
from testkit import cases

WALLET = b"900100"
LIVE = mappers.MappingOptions()  # what the worker maps with (dedup on)
REPLAY = mappers.MappingOptions(dedup=False)


def _changelog(*deliveries: tuple[dict[str, Any], str]) -> list[bytes | None]:
    """The wallet-state changelog values the live worker wrote for these deliveries."""
    values: list[bytes | None] = []
    state = None
    for doc, tag in deliveries:
        state = mappers.process(mappers.parse(orjson.dumps(doc)), state, LIVE, tag=tag).state
        values.append(None if state is None else orjson.dumps(state.to_dict()))
    return values


def _seeded(values: list[bytes | None]) -> Replayer:
    replayer = Replayer(REPLAY)
    for value in values:
        replayer.seed(WALLET, value)
    return replayer


def _later(doc: dict[str, Any], event_id: str, date: str) -> dict[str, Any]:
    doc["headers"].update(eesEventId=event_id, eventDate=date)
    return doc


def test_the_tag_is_the_workers() -> None:
    forwarded = [("airmp-source-topic", b"air"), ("airmp-source-partition", b"2")]
    forwarded.append(("airmp-source-offset", b"41"))
    assert tag_of("air", 2, 41, []) == "air[2]@41"
    assert tag_of("air-by-wallet", 0, 7, forwarded) == "air[2]@41"


def test_without_state_the_record_is_the_mappers() -> None:
    settle, expected = cases.settle()
    replayer = Replayer(REPLAY)
    assert replayer.handle(orjson.dumps(settle), "air[0]@0") == (WALLET, expected)
    assert replayer.totals == Totals(read=1, records=1)


def test_an_older_event_carries_the_newest_profile() -> None:
    settle, expected = cases.settle()
    refund = _later(cases.refund()[0], "evt-2", "2025-03-02T10:00:00.000000")
    replayer = _seeded(_changelog((settle, "air[0]@0"), (refund, "air[0]@1")))
    newest = {**expected["batch"]["user_attributes"], "points_balance": "100"}
    want = copy.deepcopy(expected)
    want["batch"]["user_attributes"] = newest
    assert replayer.handle(orjson.dumps(settle), "air[0]@0") == (WALLET, want)
    # AIR's second delivery of the same event (another tag) was dropped live: dropped again.
    assert replayer.handle(orjson.dumps(settle), "air[1]@7") is None
    assert replayer.totals == Totals(read=2, records=1, duplicates=1, seeded=1)


def test_a_deleted_wallet_stays_deleted() -> None:
    settle, expected = cases.settle()
    delete = _later(cases.wallet_delete()[0], "evt-3", "2025-03-03T10:00:00.000000")
    replayer = _seeded(_changelog((settle, "air[0]@0"), (delete, "air[0]@2")))
    want = copy.deepcopy(expected)
    del want["batch"]["user_attributes"]
    assert replayer.handle(orjson.dumps(settle), "air[0]@0") == (WALLET, want)


def test_a_changelog_tombstone_forgets_the_wallet() -> None:
    settle, expected = cases.settle()
    refund = _later(cases.refund()[0], "evt-2", "2025-03-02T10:00:00.000000")
    replayer = _seeded([*_changelog((settle, "air[0]@0"), (refund, "air[0]@1")), None])
    replayer.seed(None, b"{}")  # no key: not a wallet's state
    assert replayer.totals.seeded == 0
    assert replayer.handle(orjson.dumps(settle), "air[0]@0") == (WALLET, expected)


def test_bad_and_unmapped_inputs_are_only_counted() -> None:
    unknown = cases.settle()[0]
    unknown["headers"]["eventName"] = "SOMETHING.NEW"
    replayer = Replayer(REPLAY)
    assert replayer.handle(b"{broken", "air[0]@0") is None
    assert replayer.handle(None, "air[0]@1") is None
    assert replayer.handle(orjson.dumps(unknown), "air[0]@2") is None
    assert replayer.totals == Totals(read=3, dead_letters=2, unmapped=1)
