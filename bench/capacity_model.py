"""`python -m bench.capacity_model [FILE ...]`: docs/capacity.md's sizing table, computed
from the figures `python -m bench.capacity` wrote (var/bench/capacity.json by default;
several files: sizes from the one with the most wallets, rates from all).

The formulas are those of docs/capacity.md ("The model"); the planning choices (how much
of a core a worker may use, headroom, partitions per worker) are the constants below,
stated there too. Printing the table from the measured file keeps the doc's numbers
reproducible: a new measurement gives a new table with the same command.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import median
from testkit.processes import ROOT

MEMBERS = (1_000_000, 10_000_000, 100_000_000)
RATES = (100, 1_000, 10_000)
# Events/s one worker is planned for: half of the 1,307/s `make bench` measured for the
# mapping alone (docs/benchmarks.md, 2026-12-01), and a quarter of this run's mapping-only
# rate: the shipped worker also runs the sink (mParticle), the reward agent and the edges on
# the same core, and a backlog after an outage or a replay must drain faster than it grows.
PLAN_EVENTS_PER_WORKER = 600
PARTITION_CHOICES = (6, 12, 24, 36, 48, 72, 96, 144)  # divisible by many worker counts
# sink-accepted per member (streams/accepted.py): {"ids": [...]} of 36-character
# source_request_ids, one per batch mParticle accepted, the latest 200 kept. Not in the
# measured fill (sink off there); computed from the format for the journey's batches.
ACCEPTED_IDS = 21  # the measured journey: ~21 notifications, about one batch each
ACCEPTED_ID_BYTES = 39  # '"<36 chars>",'
ACCEPTED_FIXED = 10 + 9  # '{"ids":[]}' and the walletId key
HEADROOM = 2.0  # volume: the store doubles during RocksDB compactions and restores
MIN_WORKERS = 2  # one node lost must not stop the pipeline
# Members per worker at most: keeps a worker's volume near 20 GiB (41 GiB with its standby
# copies) and a rebuild without a standby near 50 minutes at this machine's rate (compacted).
MAX_MEMBERS_PER_WORKER = 10_000_000
DIRTY = 2.0  # compacted changelog: up to 1 / min.cleanable.dirty.ratio (0.5) x the clean size
SEGMENT_MIB = 64  # active changelog segment per partition, if set (Kafka's default: 1 GiB)
TABLES_CHANGELOGGED = 2  # wallet-state and sink-accepted grow with members (records each)
SESSION_S = 30.0  # AIRMP_KAFKA_SESSION_TIMEOUT_SECONDS: detection of a lost worker


@dataclass(frozen=True)
class Figures:
    """Per-wallet and per-worker figures, from the measurement file."""

    store_per_wallet: float  # table store bytes on disk per wallet (sink-accepted included)
    latest_per_wallet: float  # changelog bytes per wallet once compacted (both tables)
    restore_records_per_s: float  # changelog records a rebuilding worker reads per second
    worker_events_per_s: float
    standby_tail_s: float  # survivor's assignment -> recovery complete, with a standby


def figures(runs: list[dict[str, Any]]) -> Figures:
    """Sizes from the run with the most wallets; the restore rate from the rebuilds of a
    compacted changelog where any run has them (what a running deployment's changelog
    mostly is: larger records, fewer per second), else from every rebuild."""
    results = max((r for r in runs if "stages" in r), key=lambda r: r["stages"][-1]["wallets"])
    rates = [rate for r in runs for rate in restore_rates(r, compacted=True)]
    rates = rates or [rate for r in runs for rate in restore_rates(r, compacted=False)]
    takeovers = [t for r in runs for t in r.get("takeover", []) if t.get("standby")]
    last = results["stages"][-1]
    wallets = last["wallets"]
    rebuilt = [r["store_after"][1] for r in results["recoveries"]]
    store = max([results["store_after_stop"]["all"][1], *rebuilt]) / wallets
    readback = results["readback"]
    latest = readback["latest_bytes"] / readback["keys"]
    accepted = ACCEPTED_FIXED + ACCEPTED_IDS * ACCEPTED_ID_BYTES
    # RocksDB keeps sink-accepted compressed as it keeps wallet-state (measured ratio).
    return Figures(
        store_per_wallet=store * (1 + accepted / latest),
        latest_per_wallet=latest + accepted,
        restore_records_per_s=median(rates),
        worker_events_per_s=median([s["events_per_s"] for s in results["stages"]]),
        standby_tail_s=median([t["rebalance_to_complete"] for t in takeovers]),
    )


def restore_rates(results: dict[str, Any], compacted: bool) -> list[float]:
    """Records/s of each rebuild; after the compaction the records read are the compacted
    changelog's (its end offsets, which `records` holds, stay where they were)."""
    out = []
    for rebuild in results.get("recoveries", []):
        if not rebuild["restore_seconds"] or ("compacted" in rebuild["label"]) != compacted:
            continue
        records = results["compacted"]["readback"]["records"] if compacted else rebuild["records"]
        out.append(records / rebuild["restore_seconds"])
    return out


def row(f: Figures, members: int, rate: int) -> dict[str, Any]:
    by_rate = math.ceil(rate / PLAN_EVENTS_PER_WORKER)
    workers = max(MIN_WORKERS, by_rate, math.ceil(members / MAX_MEMBERS_PER_WORKER))
    # Two partitions per worker: KEDA may double the workers before the topic is too small.
    partitions = next(p for p in PARTITION_CHOICES if p >= 2 * workers)
    store = members * f.store_per_wallet
    volume = store / workers * HEADROOM
    changelog = members * f.latest_per_wallet * DIRTY
    changelog += partitions * TABLES_CHANGELOGGED * SEGMENT_MIB * 2**20
    # Without a standby the lost worker's partitions are read again from the changelog:
    # members/workers wallets, one to DIRTY records each, by one reader (conservative).
    lost = members / workers
    records = lost * TABLES_CHANGELOGGED
    rebuild = (records / f.restore_records_per_s, records * DIRTY / f.restore_records_per_s)
    return {
        "members": members,
        "rate": rate,
        "partitions": partitions,
        "workers": workers,
        "store_gib": store / 2**30,
        "volume_gib": volume / 2**30,
        "volume_standby_gib": volume * 2 / 2**30,
        "changelog_gib": changelog / 2**30,
        "rebuild_s": rebuild,
        "standby_s": SESSION_S + f.standby_tail_s,
    }


def table(f: Figures) -> str:
    lines = [
        "| members | events/s | partitions | workers | table store, all | PVC per worker"
        " (no standby / 1 standby) | changelog topics (per replica) | lose a node, no standby"
        " (detection + rebuild) | lose a node, 1 standby |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for members in MEMBERS:
        for rate in RATES:
            r = row(f, members, rate)
            low, high = r["rebuild_s"]
            lines.append(
                f"| {members:,} | {rate:,} | {r['partitions']} | {r['workers']} |"
                f" {r['store_gib']:,.1f} GiB |"
                f" {_gib(r['volume_gib'])} / {_gib(r['volume_standby_gib'])} |"
                f" {r['changelog_gib']:,.0f} GiB | {SESSION_S:.0f} s + {_dur(low)}-{_dur(high)} |"
                f" ~{r['standby_s']:.0f} s |"
            )
    return "\n".join(lines)


def _gib(value: float) -> str:
    return f"{max(1, math.ceil(value)):,} GiB"


def _dur(seconds: float) -> str:
    return f"{seconds:,.0f} s" if seconds < 120 else f"{seconds / 60:,.0f} min"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    paths = [Path(a) for a in args] or [ROOT / "var" / "bench" / "capacity.json"]
    f = figures([json.loads(path.read_text()) for path in paths])
    print(f)
    print()
    print(table(f))
    return 0


if __name__ == "__main__":
    sys.exit(main())
