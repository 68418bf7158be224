"""MParticleSink against the local endpoint over real loopback HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from config.settings import load_settings
from mappers.vocabulary import CUSTOM_EVENT_TYPES
from sinks import (
    AuthenticationFailed,
    DeliveryError,
    MParticleSink,
    Pacing,
    RefusalReason,
    Refused,
    RequestLimits,
    Retries,
)
from sinks.metrics import sink_metrics
from testkit.local_mparticle import LocalEndpoint, RequestLog
from tests.sinks.conftest import KEY, SECRET, MakeSink
from tests.sinks.records import record, records, srid

EPSILON = 0.005  # clock granularity only: bounds below are imposed, never machine speed


def _accepted_ids(endpoint: LocalEndpoint) -> list[str]:
    return [b["source_request_id"] for b in endpoint.state.accepted]


def _done(endpoint: LocalEndpoint) -> list[RequestLog]:
    return [r for r in endpoint.state.requests if r.status == 202]


async def test_every_record_is_delivered_in_bulk(
    endpoint: LocalEndpoint, make_sink: MakeSink
) -> None:
    sink = await make_sink()
    report = await sink.deliver(records(250))
    assert sorted(_accepted_ids(endpoint)) == sorted(srid(n) for n in range(250))
    assert (report.accepted, report.refused, report.requests) == (250, [], 3)
    assert (report.batches, report.batches_accepted, report.retries) == (250, 250, 0)
    assert sorted(r.batches for r in endpoint.state.requests) == [50, 100, 100]


async def test_merged_user_batches_arrive_whole(
    endpoint: LocalEndpoint, make_sink: MakeSink
) -> None:
    sink = await make_sink(merge_user_batches=True)
    wallets = ["a"] * 5 + ["b"] * 3 + ["a"] * 2
    report = await sink.deliver([record(n, wallet=w) for n, w in enumerate(wallets)])
    assert (report.accepted, report.batches) == (10, 3)
    events = [len(b["events"]) for b in endpoint.state.accepted]
    assert events == [5, 3, 2]


async def test_429_retry_after_is_honoured_and_pauses_every_send(
    endpoint: LocalEndpoint, make_sink: MakeSink
) -> None:
    endpoint.faults.update({"rate_limit_next": 2, "retry_after": 2})
    sink = await make_sink(
        pacing=Pacing(max_in_flight=2), limits=RequestLimits(max_batches_per_request=5)
    )
    report = await sink.deliver(records(20))
    assert sorted(_accepted_ids(endpoint)) == sorted(srid(n) for n in range(20))
    assert report.rate_limit_waits == 2
    log = sorted(endpoint.state.requests, key=lambda r: r.arrival_monotonic)
    throttled = [r for r in log if r.status == 429]
    assert len(throttled) == 2 and log[:2] == throttled
    first_429 = throttled[0].arrival_monotonic
    # Nothing was sent before Retry-After elapsed (only the first two were in flight).
    for later in log[2:]:
        assert later.arrival_monotonic - first_429 >= 2 - EPSILON
    # Each throttled request went again, with the same batches.
    for request in throttled:
        again = [r for r in log if r.source_request_ids == request.source_request_ids]
        assert [r.status for r in again] == [429, 202]
        assert again[1].arrival_monotonic - request.arrival_monotonic >= 2 - EPSILON


async def test_429_without_retry_after_backs_off(
    endpoint: LocalEndpoint, make_sink: MakeSink
) -> None:
    endpoint.faults.update({"rate_limit_next": 3, "retry_after": None})
    report = await (await make_sink()).deliver(records(5))
    assert (report.accepted, report.rate_limit_waits, report.statuses["429"]) == (5, 3, 3)


async def test_server_errors_are_retried_with_the_same_ids(
    endpoint: LocalEndpoint, make_sink: MakeSink
) -> None:
    endpoint.faults.update({"server_error_next": 4, "server_error_status": 503})
    report = await (await make_sink(limits=RequestLimits(max_batches_per_request=10))).deliver(
        records(30)
    )
    assert sorted(_accepted_ids(endpoint)) == sorted(srid(n) for n in range(30))
    assert report.retries == 4 and report.statuses["503"] == 4
    for failed in (r for r in endpoint.state.requests if r.status == 503):
        assert any(d.source_request_ids == failed.source_request_ids for d in _done(endpoint))


async def test_dropped_connections_are_retried(
    endpoint: LocalEndpoint, make_sink: MakeSink
) -> None:
    endpoint.faults.update({"drop_next": 3})
    report = await (await make_sink(limits=RequestLimits(max_batches_per_request=10))).deliver(
        records(30)
    )
    assert sorted(_accepted_ids(endpoint)) == sorted(srid(n) for n in range(30))
    assert report.statuses["connection_error"] == 3 and report.accepted == 30
    dropped = [r for r in endpoint.state.requests if r.status == -1]
    assert len(dropped) == 3
    for failed in dropped:
        assert any(d.source_request_ids == failed.source_request_ids for d in _done(endpoint))


async def test_timeouts_are_retried_and_duplicates_keep_their_id(
    endpoint: LocalEndpoint, make_sink: MakeSink
) -> None:
    endpoint.faults.update({"delay_seconds": 0.5})
    sink = await make_sink(timeout=0.1)
    delivery = asyncio.create_task(sink.deliver(records(3)))
    while not any(r.status == 202 for r in endpoint.state.requests):  # the slow one landed
        await asyncio.sleep(0.01)
    endpoint.faults.update({"delay_seconds": 0})  # at runtime, as POST /_mock/faults does
    report = await delivery
    assert report.accepted == 3 and report.statuses["timeout"] >= 1
    # A timed-out send may have landed: the re-send carries the same ids for mParticle.
    assert set(_accepted_ids(endpoint)) == {srid(n) for n in range(3)}
    assert len(_accepted_ids(endpoint)) > 3


async def test_400_bisection_isolates_exactly_the_bad_batches(
    endpoint: LocalEndpoint, make_sink: MakeSink
) -> None:
    recs = records(40)
    recs[17]["batch"]["events"][0]["data"]["custom_event_type"] = "loyalty"
    endpoint.faults.update({"reject_source_request_ids": [srid(31)]})
    report = await (await make_sink()).deliver(recs)
    refused = sorted((r.index, r.record["air"]["event_id"], r.reason) for r in report.refused)
    assert refused == [
        (17, "event-17", RefusalReason.invalid_batch),
        (31, "event-31", RefusalReason.invalid_batch),
    ]
    details = {r.index: r.detail for r in report.refused}
    assert orjson.loads(details[17]) == {
        "errors": [
            {
                "code": "BAD_REQUEST",
                "batch_index": 0,
                "message": "events[0]: data.custom_event_type must be one of "
                + ", ".join(CUSTOM_EVENT_TYPES),
            }
        ]
    }
    assert orjson.loads(details[31])["errors"][0]["message"] == "rejected by fault injection"
    assert sorted(_accepted_ids(endpoint)) == sorted(
        srid(n) for n in range(40) if n not in (17, 31)
    )
    assert report.accepted == 38 and report.splits > 0


async def test_a_rejected_merged_batch_is_unmerged_to_find_the_bad_record(
    endpoint: LocalEndpoint, make_sink: MakeSink
) -> None:
    recs = records(3)
    recs[1]["batch"]["events"][0]["data"]["source_message_id"] = "not-a-uuid"
    report = await (await make_sink(merge_user_batches=True)).deliver(recs)
    assert [(r.index, r.record is recs[1]) for r in report.refused] == [(1, True)]
    assert sorted(_accepted_ids(endpoint)) == sorted([srid(0), srid(2)])


async def test_413_splits_the_request(endpoint: LocalEndpoint, make_sink: MakeSink) -> None:
    # Pack beyond the API's 256 KiB on purpose, so the endpoint answers 413.
    sink = await make_sink(limits=RequestLimits(max_request_bytes=1_000_000))
    report = await sink.deliver(records(40, pad=10_000))
    assert report.statuses["413"] >= 1 and report.splits >= 1
    assert sorted(_accepted_ids(endpoint)) == sorted(srid(n) for n in range(40))
    assert all(r.body_bytes <= 256 * 1024 for r in _done(endpoint))


async def test_oversized_and_invalid_records_are_refused_before_sending(
    endpoint: LocalEndpoint, make_sink: MakeSink
) -> None:
    registry = CollectorRegistry()
    recs: list[Any] = [record(0), record(1, pad=130_000), {"air": {}}, record(3)]
    report = await (await make_sink(observer=sink_metrics(registry))).deliver(recs)
    assert report.refused == [
        Refused(
            index=1,
            record=recs[1],
            reason=RefusalReason.batch_too_large,
            detail=f"batch is {len(orjson.dumps(recs[1]['batch']))} bytes; the limit is 128000",
        ),
        Refused(
            index=2,
            record=recs[2],
            reason=RefusalReason.invalid_record,
            detail="record has no 'batch' object",
        ),
    ]
    assert report.accepted == 2 and sorted(_accepted_ids(endpoint)) == [srid(0), srid(3)]
    counted = {
        reason: registry.get_sample_value("airmp_sink_dead_letters_total", {"reason": reason})
        for reason in RefusalReason
    }
    assert counted == {
        RefusalReason.invalid_batch: None,
        RefusalReason.request_too_large: None,
        RefusalReason.invalid_record: 1.0,
        RefusalReason.batch_too_large: 1.0,
    }


async def test_bad_credentials_raise_and_are_not_retried(
    endpoint: LocalEndpoint, make_sink: MakeSink
) -> None:
    sink = await make_sink(
        api_secret="wrong-secret", limits=RequestLimits(max_batches_per_request=10)
    )
    with pytest.raises(AuthenticationFailed) as failure:
        await sink.deliver(records(30))
    assert failure.value.status == 401
    assert len(endpoint.state.requests) <= 3  # the first answers; nothing is re-sent
    assert all(r.status == 401 for r in endpoint.state.requests)
    assert "wrong-secret" not in repr(sink) + str(failure.value)
    assert SECRET not in repr(sink)


async def test_an_unexpected_status_is_fatal(endpoint: LocalEndpoint, make_sink: MakeSink) -> None:
    sink = await make_sink(base_url=endpoint.base_url + "/nowhere")
    with pytest.raises(DeliveryError) as failure:
        await sink.deliver(records(2))
    assert failure.value.status == 404


async def test_rate_limit_is_respected(endpoint: LocalEndpoint, make_sink: MakeSink) -> None:
    rate = 20
    sink = await make_sink(
        pacing=Pacing(rate_limit=rate), limits=RequestLimits(max_batches_per_request=5)
    )
    report = await sink.deliver(records(60))
    assert report.accepted == 60
    log = sorted(endpoint.state.requests, key=lambda r: r.arrival_monotonic)
    times = [r.arrival_monotonic for r in log]
    # No sliding second (less a little arrival jitter) sees more than `rate` batches.
    for i, start in enumerate(times):
        in_window = sum(r.batches for r in log[i:] if r.arrival_monotonic < start + 0.95)
        assert in_window <= rate
    # 60 batches at 20 per second: the last 20 cannot start before two seconds passed.
    assert times[-1] - times[0] >= 2 - EPSILON


async def test_concurrent_deliveries_share_the_sink(
    endpoint: LocalEndpoint, make_sink: MakeSink
) -> None:
    sink = await make_sink(limits=RequestLimits(max_batches_per_request=7))
    chunks = [records(20)[i::2] for i in range(2)]
    reports = await asyncio.gather(*(sink.deliver(c) for c in chunks))
    assert [r.accepted for r in reports] == [10, 10]
    assert sorted(_accepted_ids(endpoint)) == sorted(srid(n) for n in range(20))


async def test_built_from_settings_with_metrics(endpoint: LocalEndpoint) -> None:
    registry = CollectorRegistry()
    settings = load_settings(
        mparticle_api_endpoint=endpoint.base_url,
        mparticle_api_key=KEY,
        mparticle_api_secret=SECRET,
    )
    endpoint.faults.update({"server_error_next": 1})
    async with MParticleSink.from_settings(
        settings, retries=Retries(backoff_base=0.01), observer=sink_metrics(registry)
    ) as sink:
        report = await sink.deliver(records(4))
    assert report.accepted == 4
    assert sink_metrics(registry) is sink_metrics(registry)  # no duplicate registration

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("airmp_sink_requests_total", status="202") == 1
    assert value("airmp_sink_requests_total", status="503") == 1
    assert value("airmp_sink_retries_total", reason="503") == 1
    assert value("airmp_sink_records_accepted_total") == 4
    assert value("airmp_sink_batches_per_request_count") == 2


async def test_nothing_to_deliver(endpoint: LocalEndpoint, make_sink: MakeSink) -> None:
    report = await (await make_sink()).deliver([])
    assert (report.records, report.requests, endpoint.state.requests) == (0, 0, [])


async def test_user_batches_are_not_merged_unless_asked(endpoint: LocalEndpoint) -> None:
    """The documented safe default (AIRMP_SINK_MERGE_USER_BATCHES=false): one batch per
    record, each with its own source_request_id, however the records are grouped."""
    async with MParticleSink(endpoint.base_url, KEY, SECRET) as sink:
        report = await sink.deliver(records(3, wallet="a"))
    assert (report.accepted, report.batches) == (3, 3)
    assert _accepted_ids(endpoint) == [srid(0), srid(1), srid(2)]


def test_options_refuse_impossible_values() -> None:
    with pytest.raises(ValueError, match="rate_limit must be positive"):
        Pacing(rate_limit=0)
    with pytest.raises(ValueError, match="max_in_flight must be at least 1"):
        Pacing(max_in_flight=0)
    with pytest.raises(ValueError, match="must not be negative"):
        Retries(backoff_base=-1)
    assert (Pacing(), Retries()) == (Pacing(270.0, 4), Retries(0.5, 60.0, None))
