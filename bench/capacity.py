"""`python -m bench.capacity` (`make bench-capacity`): the figures docs/capacity.md sizes a
deployment from, measured on this machine's Kafka with real `airmp worker` processes.

1. **Fill**: one worker (rocksdb://, sink off, as `make bench`) works through N wallets'
   journeys (testkit/journeys.py, ~21 notifications per wallet, keyed by walletId), in
   stages; after each stage: events/s, CPU per event, and the bytes of its table store
   (the data dir, per table) and of each table's changelog (the broker's log dir).
2. **Read-back**: the wallet-state changelog read back: records, distinct keys, all bytes,
   and the bytes of each key's latest value (what a compacted changelog keeps).
3. **Recovery, no standby**: the data dir removed, a new worker of the same app rebuilds
   from the changelog; seconds from start to /readyz 200, and Faust's own restore span
   (its log), against a worker of an app with empty changelogs (start-up alone). Then the
   changelog is compacted by the broker and the recovery is measured again.
4. **Takeover**: two workers share a smaller fill; one is SIGKILLed and the other takes its
   partitions over, without and with a standby replica (`bench/standby_worker.py`).
5. **Edges**: AIR webhook posts and Firehose membership changes at rising rates against
   one worker (bench/edges.py's open-loop client): what one worker answers.

Everything goes to var/bench/capacity.json; one line per figure on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bench import edges, report
from bench.common import (
    CpuWindow,
    create_topics,
    end_offsets,
    median,
    producer,
    progress,
    say,
    unique,
    wait_drained,
    wallet_key,
    worker_env,
)
from bench.scaleout import _ready
from testkit import firehose, journeys
from testkit.localkafka import LocalKafka
from testkit.processes import AIRMP, ROOT, Worker, http_status, poll, scrape

TABLES = ("wallet-state", "sink-accepted", "rewards-granted", "audience-requests")
READY_TIMEOUT = 900.0
LOGS = {"AIRMP_LOG_LEVEL": "info", "AIRMP_LOG_FORMAT": "json"}  # Faust's recovery lines


# ---------------------------------------------------------------- sizes on disk


def tree_bytes(root: Path, needle: str = "") -> tuple[int, int]:
    """(apparent bytes, bytes allocated on disk) of the files under `root` whose path
    contains `needle`: the allocated figure is what a volume is charged (RocksDB
    preallocates its WAL and MANIFEST)."""
    size = used = 0
    if not root.exists():
        return 0, 0
    for path in root.rglob("*"):
        if path.is_file() and needle in str(path.relative_to(root)):
            stat = path.stat()
            size += stat.st_size
            used += stat.st_blocks * 512
    return size, used


def store_sizes(data_dir: Path) -> dict[str, tuple[int, int]]:
    return {table: tree_bytes(data_dir, table) for table in TABLES} | {"all": tree_bytes(data_dir)}


def changelog_sizes(kafka: LocalKafka, app_id: str) -> dict[str, tuple[int, int]]:
    """Each table's changelog on the broker's disk (all partitions: <topic>-<n>/)."""
    logs = kafka.workdir / "data"
    out = {}
    for table in TABLES:
        topic = f"{app_id}-{table}-changelog"
        parts = [
            tree_bytes(d) for d in logs.glob(f"{topic}-*") if d.name[len(topic) + 1 :].isdigit()
        ]
        out[table] = (sum(p[0] for p in parts), sum(p[1] for p in parts))
    return out


# ---------------------------------------------------------------- 1. fill


@dataclass
class Stage:
    wallets: int
    events: int
    seconds: float
    events_per_s: float
    cpu_us_per_event: float
    store: dict[str, tuple[int, int]]
    changelog: dict[str, tuple[int, int]]
    changelog_records: int


async def produce_wallets(bootstrap: str, topic: str, seeds: range) -> int:
    """Each seed's 1000 wallets' journeys, keyed by walletId; the number of events."""
    prod = producer(bootstrap)
    await prod.start()
    sent = 0
    try:
        for seed in seeds:
            for raw in journeys.build(1000, seed):
                await prod.send(topic, key=wallet_key(raw), value=raw)
                sent += 1
            progress("producing journeys", seed - seeds.start + 1, len(seeds))
        await prod.flush()
    finally:
        await prod.stop()
    return sent


def fill(
    kafka: LocalKafka, env: dict[str, str], worker: Worker, stages: Sequence[int]
) -> list[Stage]:
    """The worker through `stages` (cumulative wallets, multiples of 1000), one at a time."""
    bootstrap, app_id = kafka.bootstrap, env["AIRMP_APP_ID"]
    assert worker.process is not None
    out: list[Stage] = []
    done_wallets = done_events = 0
    for wallets in stages:
        seeds = range(done_wallets // 1000, wallets // 1000)
        cpu = CpuWindow([worker.process.pid])
        cpu.start = (done_events, cpu.sample()[1])  # before: it maps while we produce
        started = time.monotonic()
        events = asyncio.run(produce_wallets(bootstrap, env["AIRMP_INPUT_TOPIC"], seeds))
        topics = [env["AIRMP_INPUT_TOPIC"], f"{app_id}-air-by-wallet"]
        asyncio.run(
            wait_drained(
                bootstrap, app_id, topics, "worker", done_events + events, 3600, worker.process
            )
        )
        cpu.end = (done_events + events, cpu.sample()[1])
        seconds = time.monotonic() - started
        done_wallets, done_events = wallets, done_events + events
        ends = asyncio.run(end_offsets(bootstrap, f"{app_id}-wallet-state-changelog"))
        stage = Stage(
            wallets,
            done_events,
            seconds,
            events / seconds,
            cpu.us_per_event,
            store_sizes(Path(env["AIRMP_DATA_DIR"])),
            changelog_sizes(kafka, app_id),
            sum(ends.values()),
        )
        say(
            f"  {wallets:,} wallets ({done_events:,} events): {stage.events_per_s:,.0f} events/s,"
            f" {stage.cpu_us_per_event:,.0f} us CPU/event; store {stage.store['all'][1]:,} B,"
            f" wallet-state changelog {stage.changelog['wallet-state'][0]:,} B"
        )
        out.append(stage)
    return out


# ---------------------------------------------------------------- 2. read-back


@dataclass
class ReadBack:
    records: int = 0
    keys: int = 0
    record_bytes: int = 0  # keys + values of every record
    latest_bytes: int = 0  # keys + values of each key's latest record (compacted)
    tombstones: int = 0  # keys whose latest record is a delete
    dedup_ids: int = 0  # eesEventIds in the latest states (the dedup memory)
    dedup_bytes: int = 0  # their JSON bytes


async def read_back(bootstrap: str, topic: str) -> ReadBack:
    """Every record of `topic` up to its end offsets, streamed (sizes only are kept)."""
    ends = {p: e for p, e in (await end_offsets(bootstrap, topic)).items() if e}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=16 << 20
    )
    await consumer.start()
    latest: dict[bytes, bytes | None] = {}
    out = ReadBack()
    try:
        consumer.assign([TopicPartition(topic, p) for p in ends])
        await consumer.seek_to_beginning()
        while ends:
            batch = await consumer.getmany(timeout_ms=1000, max_records=20_000)
            for tp, records in batch.items():
                for r in records:
                    out.records += 1
                    out.record_bytes += len(r.key or b"") + len(r.value or b"")
                    latest[r.key or b""] = r.value
                if records and records[-1].offset >= ends.get(tp.partition, 0) - 1:
                    ends.pop(tp.partition, None)
    finally:
        await consumer.stop()
    _count_latest(out, latest)
    return out


def _count_latest(out: ReadBack, latest: dict[bytes, bytes | None]) -> None:
    import orjson

    out.keys = len(latest)
    for key, value in latest.items():
        if value is None:
            out.tombstones += 1
            continue
        out.latest_bytes += len(key) + len(value)
        seen = orjson.loads(value).get("seen")
        if isinstance(seen, dict):
            out.dedup_ids += len(seen)
            out.dedup_bytes += len(orjson.dumps(seen)) - 2


async def compact(kafka: LocalKafka, topic: str, timeout: float = 240) -> tuple[int, int]:
    """Have the broker compact `topic` now: segments roll at once, any dirt is cleanable,
    then a tombstone for a key no wallet has rolls each partition's active segment (the
    cleaner never touches the active one). Waits until its size on disk stops moving."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        # AlterConfigs replaces the topic's whole config: what Faust set must be given again.
        configs = {
            "cleanup.policy": "compact",
            "segment.ms": "100",
            "min.cleanable.dirty.ratio": "0.01",
            "max.message.bytes": str(16 << 20),
        }
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs)])
    finally:
        await admin.close()
    await asyncio.sleep(1.0)
    prod = producer(kafka.bootstrap)
    await prod.start()
    try:
        for p in await end_offsets(kafka.bootstrap, topic):
            await prod.send_and_wait(topic, key=b"capacity-roll", value=None, partition=p)
    finally:
        await prod.stop()
    logs = kafka.workdir / "data"
    before, last, since = _topic_bytes(logs, topic), -1, time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(5)
        now = _topic_bytes(logs, topic)[0]
        if now != last:
            last, since = now, time.monotonic()
        elif now < before[0] * 0.8 and time.monotonic() - since > 15:
            break
    return before[0], last


def _topic_bytes(logs: Path, topic: str) -> tuple[int, int]:
    parts = [tree_bytes(d) for d in logs.glob(f"{topic}-*") if d.name[len(topic) + 1 :].isdigit()]
    return sum(p[0] for p in parts), sum(p[1] for p in parts)


# ---------------------------------------------------------------- 3. recovery


@dataclass
class Recovery:
    label: str
    ready_seconds: float  # worker start to /readyz 200
    restore_seconds: float  # Faust: "Restoring state" to "Done reading from changelog topics"
    records: int  # changelog records of all tables at the time
    store_after: tuple[int, int]  # the rebuilt store, once the worker stopped


def log_times(text: str, after: float = 0.0) -> dict[str, float]:
    """First time (epoch seconds) after `after` of each recovery milestone in a JSON log."""
    import orjson

    marks = {
        "rebalance": "generation id",
        "restore": "Restoring state from changelog topics",
        "done": "Done reading from changelog topics",
        "complete": "Recovery complete",
    }
    found: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        at = datetime.fromisoformat(entry["time"]).timestamp()
        for name, needle in marks.items():
            if name not in found and at >= after and needle in entry.get("message", ""):
                found[name] = at
    return found


def start_until_ready(
    env: dict[str, str], log: Path, timeout: float = READY_TIMEOUT
) -> tuple[Worker, float]:
    worker = Worker(env=env, log_path=log)
    started = time.monotonic()
    worker.start()
    url = f"http://127.0.0.1:{env['AIRMP_WEB_PORT']}/readyz"
    if not poll(lambda: http_status(url) == 200, timeout, 0.1):
        worker.stop()
        raise RuntimeError(f"not ready after {timeout:.0f}s: {log}")
    return worker, time.monotonic() - started


def recover(kafka: LocalKafka, env: dict[str, str], workdir: Path, label: str) -> Recovery:
    """A worker of the same app with its data dir removed: it rebuilds every table."""
    data = Path(env["AIRMP_DATA_DIR"])
    shutil.rmtree(data, ignore_errors=True)
    env = {**env, **LOGS, "AIRMP_WEB_PORT": str(_port())}
    log = workdir / f"{unique('recover')}.log"
    worker, seconds = start_until_ready(env, log)
    times = log_times(worker.log())
    worker.stop()
    app_id = env["AIRMP_APP_ID"]
    records = sum(changelog_records(kafka.bootstrap, app_id).values())
    restore = times.get("done", 0.0) - times.get("restore", 0.0) if "done" in times else 0.0
    result = Recovery(label, seconds, restore, records, store_sizes(data)["all"])
    say(
        f"  {label}: ready in {seconds:.1f} s"
        f" (Faust's restore {restore:.1f} s, {records:,} records)"
    )
    return result


def changelog_records(bootstrap: str, app_id: str) -> dict[str, int]:
    """Records in each table's changelog; the tables of paths that are off (sink, rewards)
    have none and are left out."""
    existing = asyncio.run(_topics(bootstrap))
    out = {}
    for table in TABLES:
        topic = f"{app_id}-{table}-changelog"
        if topic in existing:
            out[table] = sum(asyncio.run(end_offsets(bootstrap, topic)).values())
    return out


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def _port() -> int:
    from testkit.processes import free_port

    return free_port()


def baseline(kafka: LocalKafka, workdir: Path) -> float:
    """Start to /readyz 200 of a worker whose app has empty changelogs: start-up alone."""
    app_id = unique("cap-empty")
    env = {**worker_env(kafka.bootstrap, workdir, app_id), **LOGS}
    worker, seconds = start_until_ready(env, workdir / f"{app_id}.log")
    worker.stop()
    say(f"  empty changelogs: ready in {seconds:.1f} s")
    return seconds


# ---------------------------------------------------------------- 4. takeover


@dataclass
class Takeover:
    standby: int
    wallets: int
    kill_to_complete: float  # SIGKILL of one worker to the other's "Recovery complete"
    rebalance_to_complete: float  # the survivor's new assignment to "Recovery complete"
    restore_seconds: float  # Faust's restore span in it (0: nothing to read)
    read_from: dict[str, float] = field(default_factory=dict)  # changelog partition -> offset
    ends: dict[str, int] = field(default_factory=dict)  # its end offsets


class StandbyWorker(Worker):
    """The shipped worker through bench/standby_worker.py (Faust's table_standby_replicas):
    Worker.start with the harness in place of the `airmp` script."""

    def start(self) -> StandbyWorker:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.standby_worker", "worker"],
            env={**os.environ, **self.env},
            cwd=str(ROOT),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        return self


def pair(
    kafka: LocalKafka, workdir: Path, app_id: str, standby: int
) -> tuple[list[Worker], list[dict[str, str]]]:
    topic = f"{app_id}-air"
    asyncio.run(create_topics(kafka.bootstrap, [topic]))
    envs = [
        {
            **worker_env(
                kafka.bootstrap,
                workdir / f"{app_id}-{n}",
                app_id,
                AIRMP_KAFKA_SESSION_TIMEOUT_SECONDS="10",
                AIRMP_BENCH_STANDBY_REPLICAS=str(standby),
            ),
            **LOGS,
        }
        for n in range(2)
    ]
    # Faust's own default is one standby (table_standby_replicas=1, also read from
    # TABLE_STANDBY_REPLICAS) and the app does not set it: the shipped worker keeps a
    # standby already, so both sides of the A/B go through the harness with the count.
    workers: list[Worker] = [
        StandbyWorker(env=e, log_path=workdir / f"{app_id}-{n}.log") for n, e in enumerate(envs)
    ]
    for worker in workers:
        worker.start()
    if not poll(lambda: _ready(workers, envs, kafka.bootstrap, app_id), 180, 1.0):
        raise RuntimeError(f"takeover: the pair never got ready ({workdir})")
    return workers, envs


def _recovered(worker: Worker, after: float) -> dict[str, float] | None:
    times = log_times(worker.log(), after)
    return times if "complete" in times else None


def takeover(kafka: LocalKafka, workdir: Path, wallets: int, standby: int) -> Takeover:
    app_id = unique(f"cap-take{standby}")
    workers, envs = pair(kafka, workdir, app_id, standby)
    try:
        events = asyncio.run(
            produce_wallets(kafka.bootstrap, envs[0]["AIRMP_INPUT_TOPIC"], range(wallets // 1000))
        )
        topics = [envs[0]["AIRMP_INPUT_TOPIC"], f"{app_id}-air-by-wallet"]
        asyncio.run(
            wait_drained(kafka.bootstrap, app_id, topics, "pair", events, 3600, workers[1].process)
        )
        time.sleep(5)  # standbys read the changelog continuously: let them reach its end
        killed = time.time()
        workers[0].stop(signal.SIGKILL)
        survivor = workers[1]
        found = poll(lambda: _recovered(survivor, killed), 300, 0.2)
        if not found:
            raise RuntimeError(f"takeover: no recovery after the kill ({survivor.log_path})")
        metrics = scrape(envs[1]["AIRMP_WEB_PORT"]) or {}
        topic = f"{app_id}-wallet-state-changelog"
        starts = {
            dict(k)["partition"]: v
            for k, v in metrics.get("airmp_table_recovery_start_offset", {}).items()
            if dict(k).get("topic") == topic
        }
        ends = {str(p): e for p, e in asyncio.run(end_offsets(kafka.bootstrap, topic)).items()}
    finally:
        for worker in workers:
            worker.stop()
    restore = found.get("done", found["complete"]) - found.get("restore", found["complete"])
    result = Takeover(
        standby,
        wallets,
        found["complete"] - killed,
        found["complete"] - found.get("rebalance", killed),
        restore,
        starts,
        ends,
    )
    say(
        f"  standby {standby}: kill -> recovery complete {result.kill_to_complete:.1f} s,"
        f" assignment -> complete {result.rebalance_to_complete:.1f} s;"
        f" read from {starts} of {ends}"
    )
    return result


# ---------------------------------------------------------------- 5. edges


def edge_rates(
    kafka: LocalKafka, workdir: Path, rates: Sequence[float], seconds: float
) -> list[dict[str, Any]]:
    app_id = unique("cap-edges")
    env = worker_env(
        kafka.bootstrap,
        workdir,
        app_id,
        AIRMP_AIR_WEBHOOK_TOKEN=edges.WEBHOOK_TOKEN,
        AIRMP_MPARTICLE_FIREHOSE_TOKEN=edges.FIREHOSE_TOKEN,
        AIRMP_CONNECTOR_ID=firehose.CONNECTOR_ID,
        AIRMP_EXTERNAL_KEY=firehose.EXTERNAL_KEY,
    )
    topics = [env["AIRMP_INPUT_TOPIC"], env["AIRMP_REWARD_TOPIC"], env["AIRMP_DEAD_LETTER_TOPIC"]]
    asyncio.run(create_topics(kafka.bootstrap, topics))
    worker, _ = start_until_ready(env, workdir / f"{app_id}.log")
    base = f"http://127.0.0.1:{env['AIRMP_WEB_PORT']}"
    out = []
    try:
        for rate in rates:
            times, statuses, elapsed = asyncio.run(edges._load(base, rate, seconds))
            ok = statuses.get("200", 0)
            row = {
                "asked": rate,
                "answered_per_s": len(times) / elapsed if elapsed else 0.0,
                "ok_per_s": ok / elapsed if elapsed else 0.0,
                "p50_ms": median(times),
                "p99_ms": sorted(times)[int(len(times) * 0.99) - 1] if times else float("nan"),
                "statuses": dict(statuses),
            }
            say(
                f"  edges asked {rate:g}/s: answered {row['answered_per_s']:,.0f}/s,"
                f" p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, {dict(statuses)}"
            )
            out.append(row)
            time.sleep(3)  # the fan-out and ingest agents catch up between rates
    finally:
        worker.stop()
    return out


# ---------------------------------------------------------------- the run


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.capacity", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", default=str(ROOT / "var" / "bench" / "capacity.json"))
    parser.add_argument("--stages", default="5000,10000", help="cumulative wallets per fill stage")
    parser.add_argument("--recoveries", type=int, default=3, help="repetitions of the rebuild")
    parser.add_argument("--takeover-wallets", type=int, default=3000)
    parser.add_argument("--takeover-runs", type=int, default=2, help="pairs without/with")
    parser.add_argument("--edge-rates", default="300,600,1000", help="requests/s asked, in turn")
    parser.add_argument("--edge-seconds", type=float, default=10.0)
    parser.add_argument(
        "--skip", action="append", default=[], choices=["state", "takeover", "edges", "compact"]
    )
    return parser.parse_args(argv)


def measure_state(
    kafka: LocalKafka, workdir: Path, args: argparse.Namespace, results: dict[str, Any]
) -> None:
    app_id = unique("cap-fill")
    env = worker_env(kafka.bootstrap, workdir, app_id)
    asyncio.run(create_topics(kafka.bootstrap, [env["AIRMP_INPUT_TOPIC"]]))
    stages = [int(s) for s in args.stages.split(",")]
    worker, _ = start_until_ready(env, workdir / f"{app_id}.log")
    say(f"fill: {stages[-1]:,} wallets' journeys, stages {stages}")
    try:
        results["stages"] = [asdict(s) for s in fill(kafka, env, worker, stages)]
    finally:
        worker.stop()
    results["store_after_stop"] = store_sizes(Path(env["AIRMP_DATA_DIR"]))
    topic = f"{app_id}-wallet-state-changelog"
    results["readback"] = asdict(asyncio.run(read_back(kafka.bootstrap, topic)))
    say(f"  read back: {results['readback']}")
    results["baseline_ready_seconds"] = [baseline(kafka, workdir)]
    results["recoveries"] = []
    for n in range(args.recoveries):
        results["recoveries"].append(asdict(recover(kafka, env, workdir, f"rebuild {n + 1}")))
        results["baseline_ready_seconds"].append(baseline(kafka, workdir))
    if "compact" not in args.skip:
        for table in ("wallet-state",):
            before, after = asyncio.run(compact(kafka, f"{app_id}-{table}-changelog"))
            say(f"  compacted {table} changelog: {before:,} -> {after:,} bytes on disk")
            results["compacted"] = {"table": table, "before": before, "after": after}
        results["compacted"]["readback"] = asdict(asyncio.run(read_back(kafka.bootstrap, topic)))
        for n in range(2):
            results["recoveries"].append(
                asdict(recover(kafka, env, workdir, f"rebuild compacted {n + 1}"))
            )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.monotonic()
    results: dict[str, Any] = {
        "command": "python -m bench.capacity "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": report.machine(),
        "airmp": AIRMP,
    }
    workdir = Path(tempfile.mkdtemp(prefix="airmp-capacity-"))
    kafka = LocalKafka(heap="1g").start()
    try:
        if "state" not in args.skip:
            measure_state(kafka, workdir, args, results)
        if "takeover" not in args.skip:
            say(f"takeover: two workers, {args.takeover_wallets:,} wallets, one SIGKILLed")
            results["takeover"] = []
            for standby in [0, 1] * args.takeover_runs:
                try:  # one failed takeover should not cost the other figures
                    found = takeover(kafka, workdir, args.takeover_wallets, standby)
                    results["takeover"].append(asdict(found))
                except (RuntimeError, TimeoutError) as exc:
                    say(f"  takeover with standby {standby} failed: {exc}")
                    results["takeover"].append({"standby": standby, "error": str(exc)})
        if "edges" not in args.skip:
            rates = [float(r) for r in args.edge_rates.split(",")]
            results["edges"] = edge_rates(kafka, workdir, rates, args.edge_seconds)
    finally:
        kafka.stop()
        results["seconds"] = time.monotonic() - started
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1, default=str))
        say(f"results in {out}; worker logs in {workdir}; {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
