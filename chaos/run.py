"""One chaos round: Kafka, the local mParticle endpoint and three workers on this machine;
the seeded load produced at a steady rate while the seeded faults hit them; then wait for
everything `airmp map` expects, stop everything, judge.

Threads: the main thread drives processes and faults (blocking calls are fine there, and
the broker's JVM must be started from a thread that lives as long as it: LocalKafka ties it
to its parent thread). A background event loop produces and reads Kafka, so production
keeps its pace while the main thread waits on a stopping broker or worker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar

import httpx
import orjson

from chaos import faults as faults_mod
from chaos import kafka_io
from chaos import load as load_mod
from chaos.faults import Action, Plan
from chaos.verdict import Verdict, judge
from testkit import kafka as kafka_helper
from testkit.kafka import Message
from testkit.localkafka import LocalKafka
from testkit.processes import AIRMP, ROOT, Endpoint, Worker, free_port

T = TypeVar("T")
WORKERS = 3
PARTITIONS = 6
MAX_DETAILS = 20  # lost events described one by one
SHUTDOWN_RESERVE = 15.0  # seconds of a round's budget kept for stopping and judging
IDLE_SECONDS = 15.0  # no progress this long, with nothing uncommitted: the rest is lost
_EVENT_ID = re.compile(rb'"eesEventId":"([^"]+)"')
_RECORD_EVENT_ID = re.compile(rb'"event_id":"([^"]+)"')


@dataclass(frozen=True)
class Profile:
    name: str
    wallets: int
    min_events: int
    bad_inputs: int
    produce_seconds: float
    plan: Plan
    budget_seconds: float  # the whole round, start to verdict


QUICK = Profile("quick", 150, 3_000, 10, 40.0, Plan(gap=(10.0, 14.0)), 115.0)
DEFAULT = Profile("default", 1_000, 20_000, 25, 240.0, Plan(), 570.0)


def progress(message: str) -> None:
    print(f"chaos: {message}", file=sys.stderr, flush=True)


class Background:
    """An event loop in a daemon thread; the main thread hands it coroutines."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return self.submit(coro).result(timeout)

    def close(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=15)

        with contextlib.suppress(Exception):
            self.call(cancel_all(), timeout=20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.loop.close()


@dataclass
class Slot:
    """One of the three workers, through its kills and restarts."""

    index: int
    worker: Worker
    starts: int = 0
    restart_at: float | None = None  # monotonic time of the planned restart
    terminating_since: float | None = None  # SIGTERM sent, waiting for the exit
    pause: float = 1.0  # before the restart that follows the current fault
    started_at: float = 0.0
    exits: list[int] = field(default_factory=list)

    @property
    def running(self) -> bool:
        process = self.worker.process
        return process is not None and process.poll() is None

    def start(self, why: str) -> None:
        self.starts += 1
        with open(self.worker.log_path, "ab") as log:
            log.write(f"\n=== chaos: start #{self.starts} ({why}) {datetime.now()}\n".encode())
        self.worker.start()
        self.started_at = time.monotonic()
        self.restart_at = None


class Accepted:
    """What the local endpoint accepted, fetched incrementally (`?since=`)."""

    def __init__(self, base_url: str) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=60)
        self.batches: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.ids: set[str] = set()  # their source_request_ids

    def poll(self, all_requests: bool = False) -> None:
        """The batches accepted since the last poll. Request logs are fetched anew with
        `all_requests` (at the end): one still in progress at a poll has no status yet."""
        since = 0 if all_requests else len(self.requests)
        params = {"since": len(self.batches), "requests_since": since}
        body = self._client.get("/_mock/accepted", params=params).json()
        self.batches += body["batches"]
        self.requests[since:] = body["requests"]
        self.ids.update(b.get("source_request_id") for b in body["batches"])

    def close(self) -> None:
        self._client.close()


@dataclass
class Outcome:
    seed: int
    verdict: Verdict | None  # None: the harness itself failed (error says why)
    work: Path
    seconds: float
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict is not None and self.verdict.ok and not self.error


class Round:
    def __init__(
        self, seed: int, profile: Profile, with_faults: bool, out: TextIO, reject: int = 0
    ) -> None:
        self.seed = seed
        self.reject = reject  # self-test: batches the endpoint refuses, so they must be lost
        self.profile = profile
        self.plan = profile.plan if with_faults else Plan.none(profile.plan.workers)
        self.out = out
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.work = ROOT / "var" / "chaos" / f"{stamp}-seed-{seed}"
        self.app_id = f"chaos-{seed}"
        self.notes: list[str] = []
        self.executed: Counter[str] = Counter()
        self.timed_out = False
        self.started = time.monotonic()

    # ------------------------------------------------------------------ the round

    def run(self) -> Outcome:
        print(f"chaos: seed {self.seed}", file=self.out, flush=True)
        self.work.mkdir(parents=True, exist_ok=True)
        load = load_mod.build(
            self.seed, self.profile.wallets, self.profile.min_events, self.profile.bad_inputs
        )
        actions = faults_mod.schedule(self.seed, self.profile.produce_seconds, self.plan)
        progress(
            f"{len(load.messages)} AIR notifications over {load.wallets} wallets "
            f"({load.count('late')} late, {load.count('redelivered')} re-delivered, "
            f"{len(load.bad)} bad at {load.bad_positions}), "
            f"{self.profile.produce_seconds:.0f}s of production, {len(actions)} faults; "
            f"work dir {self.work}"
        )
        kafka = LocalKafka(workdir=self.work / "kafka")
        endpoint = Endpoint(log_path=self.work / "endpoint.log", die_with_parent=True)
        slots: list[Slot] = []
        background: Background | None = None
        accepted: Accepted | None = None
        verdict: Verdict | None = None
        diagnostics: list[str] = []
        error = ""
        try:
            kafka.start()
            endpoint.start()
            env = self._env(kafka.bootstrap, endpoint)
            records, map_dead = mapped(load.good, env)
            known_bad = [*load.bad, *map_dead]
            if map_dead:
                self.notes.append(f"`airmp map` dead-letters {len(map_dead)} journey inputs")
            background = Background()
            background.call(_ensure_topics(env), timeout=60)
            slots = [self._slot(i, env) for i in range(WORKERS)]
            for slot in slots:
                slot.start("first start")
            self._wait_ready(slots, timeout=90)
            accepted = Accepted(endpoint.base_url)
            rejected = self._rejected(records)
            if rejected:
                # The sink dead-letters a batch mParticle refuses with 400: a loss the
                # verdict must report (lost and unexpected dead letters, one each).
                endpoint.faults(reject_source_request_ids=rejected)
            production = kafka_io.Production(total=len(load.messages))
            produced = background.submit(
                kafka_io.produce(
                    kafka.bootstrap,
                    env["AIRMP_INPUT_TOPIC"],
                    load.messages,
                    self.profile.produce_seconds,
                    production,
                )
            )
            self._inject(actions, slots, kafka, endpoint, accepted, production, produced)
            produced.result(timeout=0)  # raises a producing failure
            endpoint.faults(**faults_mod.ENDPOINT_AFTER_PRODUCTION)
            want = {r["batch"]["source_request_id"] for r in records}
            self._wait_done(want, known_bad, slots, accepted, background, env)
            self._stop_workers(slots)
            accepted.poll(all_requests=True)
            dead = background.call(
                kafka_helper.read_topic(kafka.bootstrap, env["AIRMP_DEAD_LETTER_TOPIC"]), 150
            )
            verdict = judge(
                len(load.messages),
                [r["batch"] for r in records],
                accepted.batches,
                [r.value for r in dead],
                known_bad,
            )
            self._fault_summary(accepted)
            if not verdict.ok:
                diagnostics = self._diagnose(
                    verdict, load, records, known_bad, dead, production, accepted, background, env
                )
        except Exception as exc:  # a harness failure: say so, keep the evidence
            error = f"{type(exc).__name__}: {exc}"
        finally:
            abandon = bool(error) or INTERRUPTED.is_set() or sys.exc_info()[0] is not None
            self._stop_workers(slots, quick=abandon)
            if accepted is not None:
                accepted.close()
            endpoint.stop()
            if background is not None:
                background.close()
            kafka.stop()
        return self._report(verdict, diagnostics, error)

    def _report(self, verdict: Verdict | None, diagnostics: list[str], error: str) -> Outcome:
        seconds = time.monotonic() - self.started
        outcome = Outcome(self.seed, verdict, self.work, seconds, error)
        for note in self.notes:
            print(f"  note: {note}", file=self.out)
        if verdict is not None and verdict.unexpected_batches:
            print(
                f"  note: {len(verdict.unexpected_batches)} accepted batches have a "
                "source_request_id `airmp map` did not produce",
                file=self.out,
            )
        if verdict is not None and verdict.differing:
            print(
                f"  note: {len(verdict.differing)} batches' first accepted copy carries other "
                f"events than `airmp map` says, e.g. {verdict.differing[0]}",
                file=self.out,
            )
        for line in diagnostics:
            print(f"  {line}", file=self.out)
        if error:
            print(f"  harness error: {error}", file=self.out)
        if outcome.ok:
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            print(f"  work dir kept (worker, endpoint and Kafka logs): {self.work}", file=self.out)
        print(f"  seed {self.seed}, {seconds:.0f}s", file=self.out)
        if verdict is None:
            print("chaos: harness failed, no verdict (see above)", file=self.out, flush=True)
        else:
            print(verdict.line(), file=self.out, flush=True)
        return outcome

    # ------------------------------------------------------------------ processes

    def _env(self, bootstrap: str, endpoint: Endpoint) -> dict[str, str]:
        """The settings every worker and `airmp map` share."""
        app = self.app_id
        return {
            **endpoint.env(),
            "AIRMP_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "AIRMP_APP_ID": app,
            "AIRMP_INPUT_TOPIC": f"{app}-air",
            "AIRMP_RECORDS_TOPIC": f"{app}-records",
            "AIRMP_DEAD_LETTER_TOPIC": f"{app}-dead-letters",
            "AIRMP_TOPIC_PARTITIONS": str(PARTITIONS),
            "AIRMP_STORE": "rocksdb://",
            "AIRMP_KAFKA_SESSION_TIMEOUT_SECONDS": "8",  # a killed worker's partitions move fast
            "AIRMP_LOG_LEVEL": "info",
            "AIRMP_IDENTITY_TYPE": "CARD",
            "AIRMP_CURRENCY": "GBP",
            "AIRMP_MPARTICLE_ENVIRONMENT": "development",
            "AIRMP_SINK_TIMEOUT_SECONDS": f"{self.profile.plan.sink_timeout:g}",
            # Retries never give up; a short cap keeps the catch-up within the budget.
            "AIRMP_SINK_MAX_BACKOFF_SECONDS": "4",
            "AIRMP_SINK_SHUTDOWN_GRACE_SECONDS": "5",
        }

    def _slot(self, index: int, env: dict[str, str]) -> Slot:
        data = self.work / f"worker-{index}"
        data.mkdir(parents=True, exist_ok=True)
        own = {"AIRMP_DATA_DIR": str(data / "data"), "AIRMP_WEB_PORT": str(free_port())}
        worker = Worker(
            env={**env, **own}, log_path=self.work / f"worker-{index}.log", die_with_parent=True
        )
        return Slot(index, worker)

    def _wait_ready(self, slots: list[Slot], timeout: float) -> None:
        """Until every worker's /readyz answers 200 (partitions assigned): production then
        starts on a settled group."""
        deadline = time.monotonic() + timeout
        waiting = list(slots)
        while waiting and time.monotonic() < deadline:
            check_interrupted()
            for slot in list(waiting):
                if not slot.running:
                    raise RuntimeError(f"worker {slot.index} exited at start: {_tail(slot)}")
                port = slot.worker.env["AIRMP_WEB_PORT"]
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                        waiting.remove(slot)
            time.sleep(0.5)
        if waiting:
            self.notes.append(f"workers {[s.index for s in waiting]} not ready after {timeout}s")
        progress(f"{len(slots) - len(waiting)}/{len(slots)} workers ready ({self._t():.0f}s)")

    def _stop_workers(self, slots: list[Slot], quick: bool = False) -> None:
        """SIGTERM all (SIGKILL when the round is being abandoned), then wait for each."""
        for slot in slots:
            slot.restart_at = None
            if slot.running and slot.worker.process is not None:
                slot.worker.process.send_signal(signal.SIGKILL if quick else signal.SIGTERM)
        deadline = time.monotonic() + 40
        for slot in slots:
            process = slot.worker.process
            if process is None:
                continue
            try:
                status = process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                status = process.wait()
                self.notes.append(f"worker {slot.index} ignored SIGTERM for 40s: killed")
            slot.worker.process = None
            if not quick and status not in (0, 75):
                self.notes.append(f"worker {slot.index} exited with {status} on the final SIGTERM")

    # ------------------------------------------------------------------ faults

    def _inject(
        self,
        actions: list[Action],
        slots: list[Slot],
        kafka: LocalKafka,
        endpoint: Endpoint,
        accepted: Accepted,
        production: kafka_io.Production,
        produced: concurrent.futures.Future[None],
    ) -> None:
        """Run the schedule while production goes on; keep every worker running between
        faults (restarting one that died by itself, which is noted)."""
        t0 = time.monotonic()
        pending = list(actions)
        deadline = t0 + self.profile.produce_seconds + 240
        last = 0.0
        while time.monotonic() < deadline:
            check_interrupted()
            while pending and pending[0].at <= time.monotonic() - t0:
                action = pending.pop(0)
                # The fault clock stops while the broker restarts (the main thread waits on
                # it), so the faults after it keep their spacing instead of firing at once.
                t0 += self._act(action, slots, kafka, endpoint)
            self._tend(slots)
            if time.monotonic() - last >= 5:
                last = time.monotonic()
                accepted.poll()
                up = sum(s.running for s in slots)
                progress(
                    f"[{self._t():4.0f}s] produced {production.acked}/{production.total}, "
                    f"accepted {len(accepted.batches)} batches, workers up {up}/{len(slots)}"
                )
            settling = any(s.restart_at is not None or s.terminating_since for s in slots)
            if produced.done() and not pending and not settling:
                return
            time.sleep(0.1)
        raise TimeoutError("production and the fault schedule did not finish in time")

    def _act(
        self, action: Action, slots: list[Slot], kafka: LocalKafka, endpoint: Endpoint
    ) -> float:
        """Do one fault; return the seconds it held the main thread (a broker restart)."""
        progress(f"[{self._t():4.0f}s] {action.describe()}")
        self.executed[action.label or action.kind] += 1
        if action.kind == faults_mod.ENDPOINT:
            endpoint.faults(**dict(action.changes))
            return 0.0
        if action.kind == faults_mod.BROKER_RESTART:
            down = time.monotonic()
            kafka.stop()  # keeps its data and port: the workdir is ours
            time.sleep(action.pause)
            kafka.start()
            held = time.monotonic() - down
            progress(f"[{self._t():4.0f}s] broker back after {held:.1f}s")
            return held
        # The planned worker, or the next one running (the planned one may be restarting).
        order = [slots[(action.worker + i) % len(slots)] for i in range(len(slots))]
        slot = next((s for s in order if s.running and not s.terminating_since), None)
        if slot is None or slot.worker.process is None:
            self.notes.append(f"{action.describe()}: no worker running, skipped")
            return 0.0
        process = slot.worker.process
        if action.kind == faults_mod.SIGKILL:
            process.send_signal(signal.SIGKILL)
            slot.exits.append(process.wait(timeout=30))
            slot.restart_at = time.monotonic() + action.pause
        else:
            process.send_signal(signal.SIGTERM)
            slot.terminating_since = time.monotonic()
            slot.restart_at = None
        slot.pause = action.pause
        return 0.0

    def _tend(self, slots: list[Slot]) -> None:
        """Advance each worker's stop/restart; notice workers that died by themselves."""
        now = time.monotonic()
        for slot in slots:
            process = slot.worker.process
            if slot.terminating_since is not None and process is not None:
                status = process.poll()
                if status is None and now - slot.terminating_since > 45:
                    process.kill()
                    self.notes.append(f"worker {slot.index} ignored SIGTERM for 45s: killed")
                    status = process.wait()
                if status is not None:
                    slot.exits.append(status)
                    if status == -signal.SIGTERM:
                        age = slot.terminating_since - slot.started_at
                        self.notes.append(
                            f"worker {slot.index} was ended by SIGTERM itself ({status}) "
                            f"{age:.1f}s after its start, before it handled the signal"
                        )
                    elif status not in (0, 75):
                        self.notes.append(f"worker {slot.index} exited {status} on SIGTERM")
                    progress(f"[{self._t():4.0f}s] worker {slot.index} exited with {status}")
                    slot.terminating_since = None
                    slot.restart_at = now + slot.pause
                continue
            if slot.restart_at is not None:
                if now >= slot.restart_at:
                    slot.start("restart after a fault")
                    progress(f"[{self._t():4.0f}s] worker {slot.index} restarted")
                continue
            if process is not None and process.poll() is not None:
                status = process.returncode
                slot.exits.append(status)
                self.notes.append(f"worker {slot.index} exited by itself with {status}")
                progress(f"[{self._t():4.0f}s] worker {slot.index} exited by itself ({status})")
                slot.restart_at = now + 1

    # ------------------------------------------------------------------ waiting

    def _wait_done(
        self,
        want: set[str],
        known_bad: list[bytes],
        slots: list[Slot],
        accepted: Accepted,
        background: Background,
        env: dict[str, str],
    ) -> None:
        """Until every expected batch was accepted and every bad input dead-lettered; or
        nothing is left to come (the group committed every topic to its end and nothing
        arrived for a while); or the round's budget runs out. Then a moment for late
        duplicates to land."""
        deadline = self.started + self.profile.budget_seconds - SHUTDOWN_RESERVE
        bootstrap = env["AIRMP_KAFKA_BOOTSTRAP_SERVERS"]
        topics = [env["AIRMP_INPUT_TOPIC"], f"{self.app_id}-air-by-wallet"]
        topics.append(env["AIRMP_RECORDS_TOPIC"])
        bad = set(known_bad)
        dead_seen: set[bytes] = set()
        last_check = last_line = 0.0
        last_change, seen = time.monotonic(), (-1, -1)
        while True:
            check_interrupted()
            self._tend(slots)
            accepted.poll()
            got = len(want & accepted.ids)
            if (got, len(dead_seen)) != seen:
                last_change, seen = time.monotonic(), (got, len(dead_seen))
            idle = time.monotonic() - last_change >= IDLE_SECONDS
            settled = False
            if time.monotonic() - last_check >= 4:
                last_check = time.monotonic()
                dlq = background.call(kafka_helper.read_topic(bootstrap, _dlq(env)), 60)
                dead_seen = {r.value for r in dlq} & bad
                if idle and all(s.running and not s.terminating_since for s in slots):
                    lag = background.call(kafka_helper.lag(bootstrap, self.app_id, topics), 60)
                    settled = lag == 0
            done = got == len(want) and dead_seen >= bad
            if done or settled or time.monotonic() - last_line >= 5:
                last_line = time.monotonic()
                progress(
                    f"[{self._t():4.0f}s] waiting: accepted {got}/{len(want)} expected batches "
                    f"({len(accepted.batches)} in all), dead letters {len(dead_seen)}/{len(bad)}"
                    f", workers up {sum(s.running for s in slots)}/{len(slots)}"
                )
            if done:
                time.sleep(2)  # a re-send still in flight lands now, and is judged
                return
            if settled:
                progress(
                    f"[{self._t():4.0f}s] stopped waiting: every input is committed and nothing "
                    f"arrived for {IDLE_SECONDS:.0f}s, so what is missing will not come"
                )
                return
            if time.monotonic() > deadline:
                progress(f"[{self._t():4.0f}s] gave up waiting: the round's budget is spent")
                self.timed_out = True
                return
            time.sleep(1)

    # ------------------------------------------------------------------ diagnostics

    def _fault_summary(self, accepted: Accepted) -> None:
        statuses = Counter(_answer(r) for r in accepted.requests)
        done = ", ".join(f"{k} {v}" for k, v in sorted(self.executed.items())) or "none"
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
        progress(f"faults injected: {done}; endpoint answers: {answers}")

    def _diagnose(
        self,
        verdict: Verdict,
        load: load_mod.Load,
        records: list[dict[str, Any]],
        known_bad: list[bytes],
        dead: list[Message],
        production: kafka_io.Production,
        accepted: Accepted,
        background: Background,
        env: dict[str, str],
    ) -> list[str]:
        """Where each lost event got to: the input topic, the by-wallet topic, the records
        topic, and whether the group committed past it there."""
        bootstrap = env["AIRMP_KAFKA_BOOTSTRAP_SERVERS"]
        by_wallet_topic = f"{self.app_id}-air-by-wallet"
        by_wallet = background.call(kafka_helper.read_topic(bootstrap, by_wallet_topic), 150)
        out_records = background.call(
            kafka_helper.read_topic(bootstrap, env["AIRMP_RECORDS_TOPIC"]), 150
        )
        offsets = background.call(kafka_helper.committed(bootstrap, self.app_id), 60)
        on_by_wallet = _index(by_wallet, _EVENT_ID)
        on_records = _index(out_records, _RECORD_EVENT_ID)
        on_dlq = {**_index(dead, _EVENT_ID), **_index(dead, _RECORD_EVENT_ID)}
        lines: list[str] = []
        by_id = {r["batch"]["source_request_id"]: r for r in records}
        produced_at: dict[str, list[int]] = {}
        for i, m in enumerate(load.messages):
            event_id = _event_id(m.value) if m.kind not in load_mod.BAD_KINDS else None
            if event_id is not None:
                produced_at.setdefault(event_id, []).append(i)
        sent: dict[str, Counter[str]] = {}  # what the endpoint answered each request with it
        for request in accepted.requests:
            for srid in request.get("source_request_ids") or []:
                sent.setdefault(srid, Counter())[_answer(request)] += 1
        stages: Counter[str] = Counter()
        names: Counter[str] = Counter()
        details: list[tuple[bool, str]] = []
        for srid in verdict.lost:
            air = by_id[srid]["air"]
            event_id = air["event_id"]
            inputs = [(i, production.placed[i]) for i in produced_at.get(event_id, [])]
            where_in = ", ".join(
                f"#{i} p{p[0]}@{p[1]}" if p else f"#{i} (not acked)" for i, p in inputs
            )
            wallet_hits = on_by_wallet.get(event_id, [])
            record_hits = on_records.get(event_id, [])
            stage = _stage(
                inputs, wallet_hits, record_hits, offsets, env["AIRMP_INPUT_TOPIC"],
                by_wallet_topic, env["AIRMP_RECORDS_TOPIC"],
            )  # fmt: skip
            if event_id in on_dlq:
                reasons = {r.header("airmp-reason")[:80] for r in on_dlq[event_id]}
                stage += f", dead-lettered ({'; '.join(sorted(reasons))})"
            stages[stage] += 1
            names[air["event_name"]] += 1
            details.append(
                (
                    "yet" in stage,  # still on its way: less telling than a committed loss
                    f"lost {srid}: {air['event_name']} wallet {air['wallet_id']} "
                    f"(eesEventId {event_id}); input {where_in}; "
                    f"by-wallet {_hits(wallet_hits, by_wallet_topic, offsets)}; "
                    f"records {_hits(record_hits, env['AIRMP_RECORDS_TOPIC'], offsets)}; "
                    f"sent to the endpoint: {_answers(sent.get(srid))} -> {stage}",
                )
            )
        if stages:
            lines.append(
                "where the lost events stopped: "
                + ", ".join(f"{k} {v}" for k, v in stages.most_common())
            )
            lines.append(
                "lost by eventName: " + ", ".join(f"{k} {v}" for k, v in names.most_common())
            )
            if self.timed_out and any(still for still, _ in details):
                lines.append(
                    "the wait ran out of time: an event 'not ... yet' was still uncommitted "
                    "on its way (slow, not dropped by a commit)"
                )
            ordered = [text for _, text in sorted(details, key=lambda d: d[0])]
            lines += ordered[:MAX_DETAILS]
            if len(details) > MAX_DETAILS:
                every = self.work / "lost.txt"
                every.write_text("\n".join(ordered) + "\n")
                lines.append(f"... and {len(details) - MAX_DETAILS} more lost, all in {every}")
        for index in verdict.missing_dead_letters:
            value = known_bad[index]
            positions = [i for i, m in enumerate(load.messages) if m.value == value]
            placed = [production.placed[i] for i in positions]
            lines.append(
                f"lost bad input {value[:60]!r}: produced at #{positions} {placed}, "
                "never reached the dead-letter topic"
            )
        why = {r.value: (r.header("airmp-stage"), r.header("airmp-reason")) for r in dead}
        for value in verdict.unexpected_dead_letters[:20]:
            stage, reason = why.get(value, ("?", "?"))
            lines.append(f"unexpected dead letter ({stage}: {reason[:100]}): {value[:160]!r}")
        for dup in [d for d in verdict.duplicates if not d.same][:20]:
            lines.append(
                f"duplicate with another id or other events: accepted batch #{dup.index} "
                f"({dup.source_request_id}) repeats events of #{list(dup.earlier)}"
            )
        committed = sorted((t, p, o) for (t, p), o in offsets.items() if t.startswith(self.app_id))
        lines.append("committed offsets: " + " ".join(f"{t}[{p}]={o}" for t, p, o in committed))
        return lines

    def _rejected(self, records: list[dict[str, Any]]) -> list[str]:
        ids = [r["batch"]["source_request_id"] for r in records]
        return random.Random(f"chaos-reject/{self.seed}").sample(ids, min(self.reject, len(ids)))

    def _t(self) -> float:
        return time.monotonic() - self.started


# ---------------------------------------------------------------------- helpers


def mapped(
    notifications: list[bytes], env: dict[str, str]
) -> tuple[list[dict[str, Any]], list[bytes]]:
    """`airmp map` over the journey inputs with the workers' settings (as scripts/demo.py's
    `mapped`): the expected records, and the inputs it dead-letters (from their line)."""
    result = subprocess.run(
        [AIRMP, "map"],
        input=b"\n".join(notifications),
        capture_output=True,
        env={**os.environ, **env},
        check=True,
        timeout=300,
    )
    records = [orjson.loads(line) for line in result.stdout.splitlines()]
    dead: list[bytes] = []
    for line in result.stderr.splitlines():
        source = orjson.loads(line)["source"]
        dead.append(notifications[int(source.rsplit(":", 1)[1]) - 1])
    return records, dead


async def _ensure_topics(env: dict[str, str]) -> None:
    """The topics the workers use, created the workers' way before the producer can
    auto-create the input topic with the broker's single partition."""
    from config import load_settings
    from streams.topics import ensure_topics

    settings = load_settings(
        **{k.removeprefix("AIRMP_").lower(): v for k, v in env.items() if k.startswith("AIRMP_")}
    )
    await ensure_topics(settings)


def _dlq(env: dict[str, str]) -> str:
    return env["AIRMP_DEAD_LETTER_TOPIC"]


def _event_id(value: bytes) -> str | None:
    match = _EVENT_ID.search(value)
    return match.group(1).decode() if match else None


def _index(records: list[Message], pattern: re.Pattern[bytes]) -> dict[str, list[Message]]:
    out: dict[str, list[Message]] = {}
    for record in records:
        match = pattern.search(record.value)
        if match:
            out.setdefault(match.group(1).decode(), []).append(record)
    return out


def _hits(hits: list[Message], topic: str, offsets: dict[tuple[str, int], int]) -> str:
    if not hits:
        return "none"
    return ", ".join(
        f"p{h.partition}@{h.offset} (committed {offsets.get((topic, h.partition), 0)})"
        for h in hits
    )


def _stage(
    inputs: list[tuple[int, tuple[int, int] | None]],
    wallet_hits: list[Message],
    record_hits: list[Message],
    offsets: dict[tuple[str, int], int],
    input_topic: str,
    by_wallet_topic: str,
    records_topic: str,
) -> str:
    def passed(topic: str, partition: int, offset: int) -> bool:
        return offsets.get((topic, partition), 0) > offset

    if not any(p for _, p in inputs):
        return "never produced (harness)"
    if not wallet_hits:
        placed = [p for _, p in inputs if p]
        if any(passed(input_topic, p, o) for p, o in placed):
            return "lost in ingest (committed, never re-keyed)"
        return "not ingested yet (input uncommitted)"
    if not record_hits:
        if any(passed(by_wallet_topic, h.partition, h.offset) for h in wallet_hits):
            return "lost in wallet_events (committed, no record)"
        return "not processed yet (by-wallet uncommitted)"
    if any(passed(records_topic, h.partition, h.offset) for h in record_hits):
        return "lost in the sink (committed, never accepted)"
    return "not delivered yet (record uncommitted)"


def _answers(answers: Counter[str] | None) -> str:
    if not answers:
        return "never"
    return ", ".join(f"{n}x {answer}" for answer, n in sorted(answers.items()))


def _answer(request: dict[str, Any]) -> str:
    if request.get("dropped_after_accept"):
        return "accepted then dropped"
    status = request["status"]
    return {-1: "dropped", 0: "client gone first"}.get(status, str(status))


def _tail(slot: Slot) -> str:
    return slot.worker.log()[-2000:]


INTERRUPTED = threading.Event()


def check_interrupted() -> None:
    """For the loops: an interrupt something swallowed still ends the round."""
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Ctrl-C and SIGTERM unwind the round once, so the finally blocks stop every
    subprocess; a second signal does not break off that clean-up. Our own SIGINT handler
    also keeps asyncio.run (in LocalKafka's readiness probe) from installing one that turns
    a Ctrl-C into a cancellation the probe swallows."""

    def handler(signum: int, frame: object) -> None:
        if not INTERRUPTED.is_set():
            INTERRUPTED.set()
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
