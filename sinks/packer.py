"""Pack mParticle-ready records into S2S requests: pure, no I/O.

Every batch is serialised once (orjson) and requests are built by joining those bytes, so
the limits (`sinks.options.RequestLimits`) are checked on exactly what goes on the wire.

Merging (optional): consecutive records of the same user become one batch. mParticle's
rate limit counts batches, not events, and a loyalty burst (a purchase earns points,
completes a campaign, unlocks a reward) is several records for one wallet in a row; one
batch per burst sends the same events in the same order at a fraction of the rate budget.
A merged batch gets a source_request_id derived (uuid5) from its members' ids, so
re-sending the same flush is still de-duplicated by mParticle. The price: a replay that
groups records differently produces a different id, and mParticle cannot de-duplicate
across the two. So merging is off by default (`AIRMP_SINK_MERGE_USER_BATCHES=false`); turn
it on where throughput matters more than exact replay de-duplication.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from sinks.options import RequestLimits
from sinks.report import RefusalReason, Refused

# Fixed namespace for merged batches' source_request_id: changing it breaks de-duplication.
MERGED_ID_NAMESPACE = uuid.UUID("8f0e6a52-7c1d-5b8e-9a57-4d2f0c3b6e11")

# Fields a merge combines; every other field must be equal for two batches to merge.
_MERGED_FIELDS = frozenset({"events", "user_attributes", "source_request_id"})
# Room for a merged batch's own source_request_id, when members had none.
_ID_OVERHEAD = 64


@dataclass(frozen=True, slots=True)
class Batch:
    """One outgoing batch: its bytes, and the input records (indexes) it carries."""

    data: bytes
    records: tuple[int, ...]
    source_request_id: str | None = None
    # The unmerged member batches when this one is a merge; empty otherwise.
    parts: tuple[Batch, ...] = ()


@dataclass(frozen=True, slots=True)
class Request:
    """One /v2/bulkevents body: a JSON array of batches."""

    batches: tuple[Batch, ...]
    body: bytes

    @property
    def records(self) -> tuple[int, ...]:
        return tuple(i for b in self.batches for i in b.records)


@dataclass(slots=True)
class Packing:
    requests: list[Request] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)  # records that cannot be sent at all


def encode(batch: Mapping[str, Any]) -> bytes:
    return orjson.dumps(batch)


def make_request(batches: Sequence[Batch]) -> Request:
    return Request(tuple(batches), b"[" + b",".join(b.data for b in batches) + b"]")


def halves(request: Request) -> list[Request]:
    """Split a request for 400 bisection or after a 413; a lone merged batch is unmerged."""
    batches = request.batches
    if len(batches) == 1:
        parts = batches[0].parts
        if len(parts) < 2:
            return []
        batches = parts
    middle = len(batches) // 2
    return [make_request(batches[:middle]), make_request(batches[middle:])]


def pack(
    records: Sequence[Any], *, merge: bool = False, limits: RequestLimits = RequestLimits()
) -> Packing:
    """Records -> requests within the limits, in input order; unsendable records refused."""
    packing = Packing()
    max_batch_bytes = limits.max_batch_bytes

    def refuse(index: int, reason: RefusalReason, detail: str) -> None:
        packing.refused.append(
            Refused(index=index, record=records[index], reason=reason, detail=detail)
        )

    singles: list[tuple[Batch, Mapping[str, Any]]] = []
    for index, record in enumerate(records):
        batch = record.get("batch") if isinstance(record, Mapping) else None
        if not isinstance(batch, Mapping):
            refuse(index, RefusalReason.invalid_record, "record has no 'batch' object")
            continue
        try:
            data = encode(batch)
        except orjson.JSONEncodeError as exc:
            refuse(index, RefusalReason.invalid_record, str(exc))
            continue
        if len(data) > max_batch_bytes:
            detail = f"batch is {len(data)} bytes; the limit is {max_batch_bytes}"
            refuse(index, RefusalReason.batch_too_large, detail)
            continue
        srid = batch.get("source_request_id")
        singles.append((Batch(data, (index,), srid if isinstance(srid, str) else None), batch))
    batches = _merge_runs(singles, max_batch_bytes) if merge else [b for b, _ in singles]
    packing.requests = _group(batches, limits.max_batches_per_request, limits.max_request_bytes)
    return packing


def _group(batches: Sequence[Batch], max_batches: int, max_bytes: int) -> list[Request]:
    requests: list[Request] = []
    current: list[Batch] = []
    size = 2
    for batch in batches:
        added = len(batch.data) + (1 if current else 0)
        if current and (len(current) >= max_batches or size + added > max_bytes):
            requests.append(make_request(current))
            current, size, added = [], 2, len(batch.data)
        current.append(batch)
        size += added
    if current:
        requests.append(make_request(current))
    return requests


def _merge_key(batch: Mapping[str, Any]) -> bytes | None:
    """Batches merge only when everything but events/attributes/id is equal."""
    if batch.get("deleted_user_attributes") is not None:
        return None  # a deletion's order against attribute sets must stay explicit
    if not isinstance(batch.get("events", []), list):
        return None
    rest = {k: v for k, v in batch.items() if k not in _MERGED_FIELDS}
    return orjson.dumps(rest, option=orjson.OPT_SORT_KEYS)


def _merge_runs(
    singles: Sequence[tuple[Batch, Mapping[str, Any]]], max_batch_bytes: int
) -> list[Batch]:
    out: list[Batch] = []
    run: list[tuple[Batch, Mapping[str, Any]]] = []
    run_key: bytes | None = None
    run_bound = 0
    for single, batch in singles:
        key = _merge_key(batch)
        # The members' bytes plus an id bound the merged size from above, so one check
        # per record keeps merged batches under the limit without re-serialising.
        bound = run_bound + len(single.data)
        if run and (key is None or key != run_key or bound + _ID_OVERHEAD > max_batch_bytes):
            out.append(_merged(run))
            run, bound = [], len(single.data)
        run.append((single, batch))
        run_key, run_bound = key, bound
        if key is None:
            out.append(_merged(run))
            run, run_key, run_bound = [], None, 0
    if run:
        out.append(_merged(run))
    return out


def merged_source_request_id(member_ids: Sequence[str]) -> str:
    return str(uuid.uuid5(MERGED_ID_NAMESPACE, "\n".join(member_ids)))


def _merged(run: Sequence[tuple[Batch, Mapping[str, Any]]]) -> Batch:
    if len(run) == 1:
        return run[0][0]
    ids = [b.source_request_id or hashlib.sha256(b.data).hexdigest() for b, _ in run]
    merged: dict[str, Any] = dict(run[0][1])
    merged["events"] = [e for _, batch in run for e in batch.get("events") or []]
    attributes: dict[str, Any] = {}
    for _, batch in run:
        # Later records win; with full-profile records this is the latest record's set,
        # and in general it is what sending the batches one by one would leave behind.
        attributes.update(batch.get("user_attributes") or {})
    if attributes or any("user_attributes" in batch for _, batch in run):
        merged["user_attributes"] = attributes
    srid = merged_source_request_id(ids)
    merged["source_request_id"] = srid
    parts = tuple(b for b, _ in run)
    return Batch(encode(merged), tuple(i for b in parts for i in b.records), srid, parts)
