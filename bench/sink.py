"""Sink: records topic -> the local mParticle endpoint, under backlog.

Records (mapped offline from a realistic mix, keyed by walletId like the worker's) are
pre-produced to the records topic; a worker with the sink enabled and an empty AIR topic
delivers them to the project's local endpoint (`testkit.local_mparticle.LocalEndpoint`,
served in this process), which logs every request's arrival time, batches and bytes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

import mappers
from bench.common import (
    Sizes,
    create_topics,
    median,
    notifications,
    produce,
    say,
    unique,
    wait_drained,
    worker_env,
)
from mappers.vocabulary import API_MAX_REQUEST_BYTES
from sinks import RequestLimits
from testkit.local_mparticle import LocalEndpoint, RequestLog
from testkit.processes import Worker

KEY, SECRET = "bench-key", "bench-secret"
LIMITS = RequestLimits()  # what the worker's sink packs to
FULL_BYTES = int(LIMITS.max_request_bytes * 0.95)  # "near 256 KB": within 5% of the target


@dataclass
class SinkRun:
    merge: bool
    records: int
    rate_limit: float
    requests: int
    batches: int
    body_bytes: int
    seconds: float  # first to last request arrival
    full: int  # requests at 100 batches or within 5% of the byte target
    max_window_batches: int  # most batches arriving in any rate-limit window
    window: float
    non_202: int

    @property
    def batches_per_s(self) -> float:
        return self.batches / self.seconds if self.seconds > 0 else float("nan")

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else float("nan")

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("nan")

    @property
    def full_share(self) -> float:
        return self.full / self.requests if self.requests else float("nan")

    @property
    def within_rate(self) -> bool:
        return self.max_window_batches <= int(self.rate_limit * self.window + 1e-9)

    def as_json(self) -> dict[str, Any]:
        return {
            **{k: getattr(self, k) for k in self.__dataclass_fields__},
            "batches_per_s": self.batches_per_s,
            "requests_per_s": self.requests_per_s,
            "records_per_s": self.records_per_s,
            "batches_per_request": self.batches / max(self.requests, 1),
            "bytes_per_request": self.body_bytes / max(self.requests, 1),
            "full_share": self.full_share,
            "within_rate": self.within_rate,
        }


def summarise(merge: bool, records: int, rate: float, log: list[RequestLog]) -> SinkRun:
    accepted = sorted((r for r in log if r.status == 202), key=lambda r: r.arrival_monotonic)
    window = max(1, int(rate)) / rate  # the client's limiter window (sinks.throttle)
    most, j, in_window = 0, 0, 0
    for r in accepted:  # sliding window over arrivals: batches in [t - window, t]
        in_window += r.batches
        while accepted[j].arrival_monotonic <= r.arrival_monotonic - window:
            in_window -= accepted[j].batches
            j += 1
        most = max(most, in_window)
    seconds = accepted[-1].arrival_monotonic - accepted[0].arrival_monotonic if accepted else 0.0
    return SinkRun(
        merge=merge,
        records=records,
        rate_limit=rate,
        requests=len(accepted),
        batches=sum(r.batches for r in accepted),
        body_bytes=sum(r.body_bytes for r in accepted),
        seconds=seconds,
        full=sum(
            1
            for r in accepted
            if r.batches >= LIMITS.max_batches_per_request or r.body_bytes >= FULL_BYTES
        ),
        max_window_batches=most,
        window=window,
        non_202=len(log) - len(accepted),
    )


def records_for(count: int) -> list[tuple[bytes | None, bytes]]:
    """At least `count` records as the worker writes them: (walletId, record JSON)."""
    mapper = mappers.Mapper(mappers.MappingOptions())
    out: list[tuple[bytes | None, bytes]] = []
    seed = 500
    while len(out) < count:
        for raw in notifications(20_000, seed_base=seed):
            outcome = mapper.map_bytes(raw)
            if outcome.record is not None:
                wallet = outcome.record["air"]["wallet_id"]
                out.append((str(wallet).encode(), orjson.dumps(outcome.record)))
        seed += 100
    return out[:count]


async def _one(
    bootstrap: str,
    workdir: Path,
    records: list[tuple[bytes | None, bytes]],
    merge: bool,
    rate: float,
) -> SinkRun:
    app_id = unique("bench-sink")
    env = worker_env(bootstrap, workdir, app_id)
    await create_topics(bootstrap, [env["AIRMP_INPUT_TOPIC"], env["AIRMP_RECORDS_TOPIC"]])
    await produce(bootstrap, env["AIRMP_RECORDS_TOPIC"], records, "pre-filling records")
    async with LocalEndpoint(KEY, SECRET) as endpoint:
        env.update(
            AIRMP_SINK_ENABLED="true",
            AIRMP_MPARTICLE_API_ENDPOINT=endpoint.base_url,
            AIRMP_MPARTICLE_API_KEY=KEY,
            AIRMP_MPARTICLE_API_SECRET=SECRET,
            AIRMP_SINK_RATE_LIMIT=f"{rate:g}",
            AIRMP_SINK_MERGE_USER_BATCHES="true" if merge else "false",
        )
        worker = Worker(env=env, log_path=workdir / f"{app_id}.log").start()
        try:
            await wait_drained(
                bootstrap,
                app_id,
                [env["AIRMP_RECORDS_TOPIC"]],
                f"sink merge={str(merge).lower()}",
                len(records),
                600,
                process=worker.process,
            )
        finally:
            await asyncio.to_thread(worker.stop)
        return summarise(merge, len(records), rate, list(endpoint.state.requests))


def run(bootstrap: str, workdir: Path, sizes: Sizes) -> list[SinkRun]:
    say(f"sink: mapping records for a backlog of {sizes.sink_records:,}")
    records = records_for(sizes.sink_records)
    runs: list[SinkRun] = []
    for repetition in range(sizes.sink_runs):
        for merge in (False, True):
            say(f"sink run {repetition + 1}/{sizes.sink_runs}, merge={merge}")
            one = asyncio.run(_one(bootstrap, workdir, records, merge, sizes.sink_rate_limit))
            say(
                f"  {one.batches_per_s:,.0f} batches/s, {one.requests_per_s:,.1f} requests/s, "
                f"{one.full_share:.0%} full, most in a window {one.max_window_batches}"
            )
            runs.append(one)
    return runs


def medians(runs: list[SinkRun], merge: bool) -> dict[str, float]:
    mine = [r for r in runs if r.merge == merge]
    keys = (
        "batches_per_s",
        "requests_per_s",
        "records_per_s",
        "batches_per_request",
        "bytes_per_request",
        "full_share",
        "max_window_batches",
    )
    out = {k: median([float(r.as_json()[k]) for r in mine]) for k in keys}
    out["within_rate_all"] = float(all(r.within_rate for r in mine))
    out["api_max_request_bytes"] = float(API_MAX_REQUEST_BYTES)
    return out
