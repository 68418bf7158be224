"""The packer: mParticle's size and count limits on every request, and user merging."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sinks import RefusalReason, RequestLimits
from sinks.packer import MERGED_ID_NAMESPACE, Packing, halves, pack
from tests.sinks.records import record, records, srid

LIMITS = RequestLimits()


def _check_limits(packing: Packing, count: int) -> None:
    seen: list[int] = []
    for request in packing.requests:
        assert 1 <= len(request.batches) <= LIMITS.max_batches_per_request
        assert len(request.body) <= LIMITS.max_request_bytes
        decoded = orjson.loads(request.body)
        assert len(decoded) == len(request.batches)
        for batch, data in zip(request.batches, decoded, strict=True):
            assert len(batch.data) <= LIMITS.max_batch_bytes
            assert orjson.loads(batch.data) == data
        seen.extend(request.records)
    # Every record exactly once, sent in input order or rejected.
    assert seen == sorted(seen)
    assert sorted(seen + [r.index for r in packing.refused]) == list(range(count))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pads=st.lists(
        st.one_of(
            st.integers(0, 3_000),
            st.integers(0, 40_000),
            st.integers(LIMITS.max_batch_bytes - 600, LIMITS.max_batch_bytes + 200),
        ),
        min_size=0,
        max_size=250,
    ),
    wallets=st.lists(st.sampled_from(["a", "b", "c"]), min_size=250, max_size=250),
    merge=st.booleans(),
)
def test_no_request_or_batch_exceeds_the_limits(
    pads: list[int], wallets: list[str], merge: bool
) -> None:
    recs = [record(n, pad=p, wallet=wallets[n]) for n, p in enumerate(pads)]
    packing = pack(recs, merge=merge)
    _check_limits(packing, len(recs))
    for refused in packing.refused:
        assert refused.reason == RefusalReason.batch_too_large
        assert refused.record is recs[refused.index]
        assert len(orjson.dumps(refused.record["batch"])) > LIMITS.max_batch_bytes


def test_full_requests_hold_100_batches() -> None:
    packing = pack(records(250, pad=100))
    assert [len(r.batches) for r in packing.requests] == [100, 100, 50]


def test_bytes_close_a_request_before_the_count_does() -> None:
    packing = pack(records(30, pad=20_000))
    _check_limits(packing, 30)
    assert len(packing.requests) > 1
    # Greedy: a request is closed only when the next batch would not fit.
    first = packing.requests[0]
    next_size = len(packing.requests[1].batches[0].data)
    assert len(first.body) + 1 + next_size > LIMITS.max_request_bytes


def test_a_batch_over_128000_bytes_is_refused_and_the_rest_is_sent() -> None:
    recs = [record(0), record(1, pad=LIMITS.max_batch_bytes), record(2)]
    packing = pack(recs)
    assert [(r.index, r.reason) for r in packing.refused] == [(1, RefusalReason.batch_too_large)]
    assert packing.requests[0].records == (0, 2)


def test_a_record_without_a_batch_is_refused() -> None:
    packing = pack([{"air": {}}, "nonsense", record(2)])
    assert [(r.index, r.record, r.reason, r.detail) for r in packing.refused] == [
        (0, {"air": {}}, RefusalReason.invalid_record, "record has no 'batch' object"),
        (1, "nonsense", RefusalReason.invalid_record, "record has no 'batch' object"),
    ]
    assert packing.requests[0].records == (2,)


def test_without_merging_each_record_is_its_own_batch_with_its_own_id() -> None:
    packing = pack(records(5), merge=False)
    ids = [orjson.loads(b.data)["source_request_id"] for b in packing.requests[0].batches]
    assert ids == [srid(n) for n in range(5)]


def _batches(packing: Packing) -> list[dict[str, Any]]:
    return [orjson.loads(b.data) for r in packing.requests for b in r.batches]


def test_consecutive_records_of_one_user_merge_in_order() -> None:
    recs = [record(0, wallet="a"), record(1, wallet="a", events=2), record(2, wallet="a")]
    recs[2]["batch"]["user_attributes"] = {"points_balance": "2", "tier": "platinum"}
    packing = pack(recs, merge=True)
    (merged,) = _batches(packing)
    assert [e["data"]["source_message_id"] for e in merged["events"]] == [
        e["data"]["source_message_id"] for r in recs for e in r["batch"]["events"]
    ]
    assert merged["user_attributes"] == {"points_balance": "2", "tier": "platinum"}
    assert merged["user_identities"] == recs[0]["batch"]["user_identities"]
    expected = uuid.uuid5(MERGED_ID_NAMESPACE, "\n".join(srid(n) for n in range(3)))
    assert merged["source_request_id"] == str(expected)
    assert packing.requests[0].records == (0, 1, 2)
    # The same flush packs to the same bytes: a re-send is de-duplicated by mParticle.
    assert pack(recs, merge=True).requests[0].body == packing.requests[0].body


def test_only_consecutive_records_of_the_same_user_merge() -> None:
    wallets = ["a", "a", "b", "a", "a", "a", "c"]
    recs = [record(n, wallet=w) for n, w in enumerate(wallets)]
    batches = _batches(pack(recs, merge=True))
    assert [len(b["events"]) for b in batches] == [2, 1, 3, 1]
    assert [b["user_identities"]["customer_id"] for b in batches] == ["a", "b", "a", "c"]


def test_a_record_with_deleted_user_attributes_is_never_merged() -> None:
    recs = [record(0), record(1), record(2, deleted=True), record(3), record(4)]
    batches = _batches(pack(recs, merge=True))
    assert [len(b["events"]) for b in batches] == [2, 1, 2]
    assert batches[1]["source_request_id"] == srid(2)
    assert "deleted_user_attributes" in batches[1]


def test_different_environments_do_not_merge() -> None:
    recs = records(2)
    recs[1]["batch"]["environment"] = "production"
    assert len(_batches(pack(recs, merge=True))) == 2


def test_merged_batches_stay_under_the_batch_limit() -> None:
    recs = records(40, pad=10_000)
    packing = pack(recs, merge=True)
    _check_limits(packing, 40)
    batches = _batches(packing)
    assert 1 < len(batches) < 40
    assert sum(len(b["events"]) for b in batches) == 40


def test_halves_bisects_and_unmerges_a_lone_merged_batch() -> None:
    request = pack(records(5), merge=False).requests[0]
    left, right = halves(request)
    assert (left.records, right.records) == ((0, 1), (2, 3, 4))
    merged = pack(records(3), merge=True).requests[0]
    assert len(merged.batches) == 1
    parts = halves(merged)
    assert [p.records for p in parts] == [(0,), (1, 2)]
    assert orjson.loads(parts[0].body)[0]["source_request_id"] == srid(0)
    single = pack(records(1)).requests[0]
    assert halves(single) == []


def test_custom_limits() -> None:
    packing = pack(records(23), limits=RequestLimits(max_batches_per_request=5))
    assert [len(r.batches) for r in packing.requests] == [5, 5, 5, 5, 3]


def test_limits_that_leave_no_room_for_a_batch_are_refused() -> None:
    with pytest.raises(ValueError, match="no room for a single batch"):
        RequestLimits(max_request_bytes=1000, max_batch_bytes=999)
    with pytest.raises(ValueError, match="no room for a single batch"):
        RequestLimits(max_batches_per_request=0)
    assert RequestLimits(max_request_bytes=1000, max_batch_bytes=998).max_batch_bytes == 998
    assert RequestLimits() == RequestLimits(100, 256_000, 128_000)
