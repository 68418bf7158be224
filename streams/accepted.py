"""What mParticle accepted, per user: a batch it accepted is not sent again.

The sink-accepted table (keyed by walletId, as the records topic; changelogged like the
wallet state) keeps, per user, the `source_request_id`s of the latest batches mParticle
accepted from this connector. The sink writes them once mParticle answered 202 and before
it completes the records, so they reach Kafka before the commit. A record met again (its
records-topic partition read again after a crash or a rebalance past the grace period, or
its input mapped again upstream: the same id) is then completed without a request, and
counted by `airmp_sink_repeated_batches_total`: what a deploy or a crash cost.

What this cannot see: a batch accepted in the moment before a crash, whose write did not
reach Kafka; it goes out again and mParticle drops it by its `source_request_id`.

Faust's table writes take the partition from the event being processed (a context
variable its streams set per event). The sink takes records in batches, so each write is
made in the context of the record it is for (`as_current`).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

from faust import streams as faust_streams
from faust.types import EventT, TableT

MAX_PER_USER = 200  # batch ids remembered per user: far beyond a re-read's reach


def source_request_id(record: dict[str, Any]) -> str | None:
    found = record.get("batch", {}).get("source_request_id")
    return found if isinstance(found, str) else None


def accepted_ids(table: TableT[bytes, Any], key: bytes) -> list[str]:
    stored = table.get(key)
    ids = stored.get("ids") if isinstance(stored, dict) else None
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def repeated(
    table: TableT[bytes, Any], events: Sequence[EventT], records: Sequence[dict[str, Any]]
) -> list[bool]:
    """Per record: whether mParticle accepted its batch already (or it came twice here)."""
    known: dict[bytes, set[str]] = {}
    out = []
    for event, record in zip(events, records, strict=True):
        key = bytes(event.key or b"")
        ids = known.setdefault(key, set(accepted_ids(table, key)))
        rid = source_request_id(record)
        out.append(rid is not None and rid in ids)
        if rid is not None:
            ids.add(rid)
    return out


def remember(
    table: TableT[bytes, Any], events: Sequence[EventT], records: Sequence[dict[str, Any]]
) -> None:
    """Add the accepted records' batch ids to their users' entries: one write per user."""
    new: dict[bytes, list[str]] = {}
    last: dict[bytes, EventT] = {}  # a user's records share a partition: any one will do
    for event, record in zip(events, records, strict=True):
        rid = source_request_id(record)
        if rid is not None:
            key = bytes(event.key or b"")
            new.setdefault(key, []).append(rid)
            last[key] = event
    for key, ids in new.items():
        kept = [i for i in accepted_ids(table, key) if i not in ids]
        with as_current(last[key]):
            table[key] = {"ids": [*kept, *ids][-MAX_PER_USER:]}


@contextlib.contextmanager
def as_current(event: EventT) -> Iterator[None]:
    """`event` as Faust's current event (faust.streams' context variable, which its
    streams set for each event they yield): table writes go to its partition."""
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)
