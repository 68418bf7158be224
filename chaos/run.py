"""One chaos round: Kafka, the local mParticle endpoint, the local AIR and three workers on
this machine; the seeded load (AIR notifications, and reward requests) fed at a steady rate
while the seeded faults hit them, each message produced to Kafka or posted to the workers'
HTTP edges as its route says (chaos/load.py, chaos/edges.py); then wait for everything
`airmp map` expects and every reward granted or dead-lettered, stop everything, judge.

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

from chaos import edges as edges_mod
from chaos import faults as faults_mod
from chaos import kafka_io
from chaos import load as load_mod
from chaos.faults import Action, Plan
from chaos.verdict import REWARD_STAGE, Verdict, judge, judge_rewards
from testkit import kafka as kafka_helper
from testkit.kafka import Message
from testkit.localkafka import LocalKafka
from testkit.processes import AIRMP, ROOT, Air, Endpoint, Worker, free_port

T = TypeVar("T")
PARTITIONS = 6
MAX_DETAILS = 20  # lost events described one by one
SHUTDOWN_RESERVE = 15.0  # seconds of a round's budget kept for stopping and judging
IDLE_SECONDS = 15.0  # no progress this long, with nothing uncommitted: the rest is lost
_EVENT_ID = re.compile(rb'"eesEventId":"([^"]+)"')
_RECORD_EVENT_ID = re.compile(rb'"event_id":"([^"]+)"')
_REFERENCE = re.compile(rb'"reference":"([^"]+)"')
WEBHOOK_TOKEN = "chaos-webhook-token"  # AIRMP_AIR_WEBHOOK_TOKEN
FIREHOSE_TOKEN = "chaos-firehose-token"  # AIRMP_MPARTICLE_FIREHOSE_TOKEN


@dataclass(frozen=True)
class Profile:
    name: str
    wallets: int
    min_events: int
    bad_inputs: int
    produce_seconds: float
    plan: Plan
    budget_seconds: float  # the whole round, start to verdict
    rewards: int  # about this many reward requests AIR can grant (chaos/load.py)
    audience: int = 0  # profiles in the large Firehose membership change (chaos/load.py)

    @property
    def exact(self) -> bool:
        """Graceful moves only (`Plan.rolling`): a batch accepted twice fails the round."""
        return self.plan.rolling


QUICK = Profile("quick", 150, 3_000, 10, 40.0, Plan(gap=(10.0, 14.0)), 115.0, 100, 300)
DEFAULT = Profile("default", 1_000, 20_000, 25, 240.0, Plan(), 570.0, 400, 5_000)
ROLLING = Profile("rolling", 600, 12_000, 10, 200.0, Plan(rolling=True), 480.0, 200, 1_000)
# Issue 22's measurement: two workers, six graceful restarts in a minute, no scaling.
TWO_WORKERS = Plan(workers=2, rolling=True, restart_rounds=3, scaling=False)
RESTARTS = Profile("restarts", 100, 2_400, 10, 60.0, TWO_WORKERS, 240.0, 50, 0)
PROFILES = {p.name: p for p in (QUICK, DEFAULT, ROLLING, RESTARTS)}


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
    down: bool = False  # scaled in: stays stopped until scaled out
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


class Granted:
    """What the local AIR granted (`GET /_mock/granted`) and its request log."""

    def __init__(self, air: Air) -> None:
        self._client = httpx.Client(base_url=air.base_url, timeout=60)
        self.counts: dict[str, int] = {}  # reference -> rewards given
        self.repeats: dict[str, int] = {}  # reference -> requests answered as the first

    def poll(self) -> None:
        body = self._client.get("/_mock/granted").json()
        self.counts, self.repeats = body["granted"], body["repeats"]

    def requests(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._client.get("/_mock/requests").json()["requests"]
        return found

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class Services:
    """The round's services beside the workers."""

    kafka: LocalKafka
    endpoint: Endpoint
    air: Air


@dataclass(frozen=True)
class Watch:
    """What the main thread reads while it waits: deliveries, grants, production."""

    accepted: Accepted
    granted: Granted
    production: kafka_io.Production
    rewards: kafka_io.Production


@dataclass
class Live:
    """What a round started, as far as it got: `_tear_down` stops it whatever happened."""

    services: Services
    slots: list[Slot] = field(default_factory=list)
    background: Background | None = None
    accepted: Accepted | None = None
    granted: Granted | None = None


@dataclass(frozen=True)
class Evidence:
    """What a failed verdict is diagnosed from: the topics are read again through
    `background`, with the round's settings `env`."""

    verdict: Verdict
    load: load_mod.Load
    dead: list[Message]
    background: Background
    env: dict[str, str]


@dataclass
class Waiting:
    """What the end of a round waits for, and how much of it has come."""

    want: set[str]  # source_request_ids of the batches `airmp map` expects
    bad: set[bytes]  # inputs to be dead-lettered
    refused: set[bytes]  # reward requests to be dead-lettered
    grantable: set[str]  # references to be granted
    got: int = 0
    rewarded: int = 0
    dead_seen: set[bytes] = field(default_factory=set)
    refused_seen: set[bytes] = field(default_factory=set)

    def count(self, watch: Watch) -> None:
        self.got = len(self.want & watch.accepted.ids)
        self.rewarded = len(self.grantable & watch.granted.counts.keys())

    @property
    def counts(self) -> tuple[int, int, int, int]:
        """What changes when progress is made (the idle timer restarts)."""
        return (self.got, len(self.dead_seen), self.rewarded, len(self.refused_seen))

    @property
    def arrived(self) -> bool:
        return self.got == len(self.want) and self.rewarded == len(self.grantable)

    def line(self, watch: Watch, slots: list[Slot]) -> str:
        return (
            f"accepted {self.got}/{len(self.want)} expected batches "
            f"({len(watch.accepted.batches)} in all), dead letters "
            f"{len(self.dead_seen)}/{len(self.bad)}, rewards granted "
            f"{self.rewarded}/{len(self.grantable)}, refused dead-lettered "
            f"{len(self.refused_seen)}/{len(self.refused)}, "
            f"workers up {sum(s.running for s in slots)}/{len(slots)}"
        )


@dataclass
class Outcome:
    seed: int
    verdict: Verdict | None  # None: the harness itself failed (error says why)
    work: Path
    seconds: float
    error: str = ""
    exact: bool = False  # a duplicate fails the round too (graceful moves only)

    @property
    def ok(self) -> bool:
        if self.verdict is None or self.error:
            return False
        return self.verdict.ok and not (self.exact and self.verdict.duplicates)


class Round:
    def __init__(
        self,
        seed: int,
        profile: Profile,
        with_faults: bool,
        out: TextIO,
        reject: int = 0,
        regrant: bool = False,
        keep: bool = False,
    ) -> None:
        self.seed = seed
        self.reject = reject  # self-test: batches the endpoint refuses, so they must be lost
        self.regrant = regrant  # self-test: AIR rewards a repeated reference again
        self.keep = keep  # the work dir stays even when the round passes
        self.profile = profile
        self.plan = profile.plan if with_faults else Plan.none(profile.plan.workers)
        self.out = out
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.work = ROOT / "var" / "chaos" / f"{stamp}-seed-{seed}"
        self.app_id = f"chaos-{seed}"
        self.notes: list[str] = []
        self.summary: list[str] = []  # lines printed before the verdict
        self.executed: Counter[str] = Counter()
        self.timed_out = False
        self.started = time.monotonic()
        self.targets = edges_mod.Targets()  # the live workers, for the edges' callers
        self.poster = edges_mod.Poster(seed, self.targets, WEBHOOK_TOKEN, FIREHOSE_TOKEN)

    # ------------------------------------------------------------------ the round

    def run(self) -> Outcome:
        print(f"chaos: seed {self.seed}", file=self.out, flush=True)
        self.work.mkdir(parents=True, exist_ok=True)
        load, actions = self._plan_load()
        live = self._services(load)
        verdict: Verdict | None = None
        diagnostics: list[str] = []
        error = ""
        try:
            verdict, diagnostics = self._play(load, actions, live)
        except Exception as exc:  # a harness failure: say so, keep the evidence
            error = f"{type(exc).__name__}: {exc}"
        finally:
            abandon = bool(error) or INTERRUPTED.is_set() or sys.exc_info()[0] is not None
            self._tear_down(live, quick=abandon)
        return self._report(verdict, diagnostics, error)

    def _plan_load(self) -> tuple[load_mod.Load, list[Action]]:
        """The seeded load and faults, said in one progress line."""
        profile = self.profile
        load = load_mod.build(
            self.seed,
            profile.wallets,
            profile.min_events,
            profile.bad_inputs,
            profile.rewards,
            profile.audience,
        )
        actions = faults_mod.schedule(self.seed, profile.produce_seconds, self.plan)
        progress(
            f"{len(load.messages)} AIR notifications over {load.wallets} wallets "
            f"({load.count('late')} late, {load.count('redelivered')} re-delivered, "
            f"{len(load.bad)} bad at {load.bad_positions}), {len(load.rewards)} reward "
            f"requests for {len(load.customers)} customers ({len(load.grantable)} to grant, "
            f"{load.count(load_mod.REWARD_REDELIVERED)} re-delivered, {len(load.refused)} to "
            f"refuse); to the edges: {load.routed(load_mod.WEBHOOK)} notifications to the AIR "
            f"webhook, {load.routed(load_mod.FIREHOSE)} Firehose membership changes"
            f"{f' (one of {load.audience} profiles, sent twice)' if load.audience else ''}, "
            f"{load.routed(load_mod.CONNECT)} Connect calls; {profile.produce_seconds:.0f}s of "
            f"production, {len(actions)} faults; work dir {self.work}"
        )
        return load, actions

    def _services(self, load: load_mod.Load) -> Live:
        """Kafka, the endpoint and the local AIR, not started yet."""
        kafka = LocalKafka(workdir=self.work / "kafka")
        endpoint = Endpoint(log_path=self.work / "endpoint.log", die_with_parent=True)
        wallets = self.work / "air-wallets.json"
        wallets.write_bytes(orjson.dumps(load.air_wallets()))
        air = Air(
            self.work / "air.log",
            wallets_file=wallets,
            triggers=load_mod.REWARD_TRIGGERS,
            die_with_parent=True,
        )
        return Live(Services(kafka, endpoint, air))

    def _play(
        self, load: load_mod.Load, actions: list[Action], live: Live
    ) -> tuple[Verdict, list[str]]:
        """Start everything, feed the load through the faults, wait, stop the workers and
        judge; `live` keeps what was started, for `_tear_down` whatever happens here."""
        services = live.services
        services.kafka.start()
        services.endpoint.start()
        services.air.start()
        env = self._env(services.kafka.bootstrap, services.endpoint, services.air)
        records, map_dead = mapped(load.good, env)
        known_bad = [*load.bad, *map_dead]
        if map_dead:
            self.notes.append(f"`airmp map` dead-letters {len(map_dead)} journey inputs")
        background = live.background = Background()
        background.call(_ensure_topics(env), timeout=60)
        slots = live.slots = [self._slot(i, env) for i in range(self.plan.workers)]
        for slot in slots:
            slot.start("first start")
        self._wait_ready(slots, timeout=90)
        self._publish_live(slots)
        live.accepted = Accepted(services.endpoint.base_url)
        live.granted = Granted(services.air)
        self._self_test_faults(records, services)
        watch = Watch(
            live.accepted,
            live.granted,
            kafka_io.Production(total=len(load.messages)),
            kafka_io.Production(total=len(load.rewards)),
        )
        streams = [
            (env["AIRMP_INPUT_TOPIC"], load.messages, watch.production),
            (env["AIRMP_REWARD_TOPIC"], load.rewards, watch.rewards),
        ]
        produced = background.submit(self._feed(services.kafka.bootstrap, streams))
        self._inject(actions, slots, services, watch, produced)
        produced.result(timeout=0)  # raises a producing failure
        services.endpoint.faults(**faults_mod.ENDPOINT_AFTER_PRODUCTION)
        services.air.faults(**faults_mod.ENDPOINT_AFTER_PRODUCTION)
        want = {r["batch"]["source_request_id"] for r in records}
        self._wait_done(want, known_bad, load, slots, watch, background, env)
        if self.profile.exact:
            self._moves_summary(background, env)
        self._stop_workers(slots)
        return self._judge(load, records, known_bad, watch, background, env)

    def _self_test_faults(self, records: list[dict[str, Any]], services: Services) -> None:
        """The faults of the self-tests (--reject, --regrant): rounds that must fail."""
        rejected = self._rejected(records)
        if rejected:
            # The sink dead-letters a batch mParticle refuses with 400: a loss the
            # verdict must report (lost and unexpected dead letters, one each).
            services.endpoint.faults(reject_source_request_ids=rejected)
        if self.regrant:
            # An AIR that does not de-duplicate references: every re-send after a grant
            # (an answer AIR dropped, a timeout) rewards again, so the round must fail.
            services.air.faults(regrant_repeats=True)

    def _judge(
        self,
        load: load_mod.Load,
        records: list[dict[str, Any]],
        known_bad: list[bytes],
        watch: Watch,
        background: Background,
        env: dict[str, str],
    ) -> tuple[Verdict, list[str]]:
        """With the workers stopped: what mParticle and AIR took and the dead letters,
        judged; the diagnostics when the verdict fails."""
        accepted, granted = watch.accepted, watch.granted
        accepted.poll(all_requests=True)
        granted.poll()
        air_requests = granted.requests()
        (self.work / "air-granted.json").write_bytes(
            orjson.dumps(
                {"granted": granted.counts, "repeats": granted.repeats, "requests": air_requests}
            )
        )
        bootstrap = env["AIRMP_KAFKA_BOOTSTRAP_SERVERS"]
        dead = background.call(
            kafka_helper.read_topic(bootstrap, env["AIRMP_DEAD_LETTER_TOPIC"]), 150
        )
        self._count_edge_copies(load, background, env)
        verdict = judge(
            len(load.messages),
            [r["batch"] for r in records],
            accepted.batches,
            [(r.value, r.header("airmp-stage")) for r in dead],
            known_bad,
            load.refused,
            judge_rewards(load.grantable, granted.counts),
        )
        self._fault_summary(accepted, granted, air_requests)
        if verdict.ok:
            return verdict, []
        evidence = Evidence(verdict, load, dead, background, env)
        diagnostics = self._diagnose(evidence, records, known_bad, watch.production, accepted)
        diagnostics += self._diagnose_rewards(evidence, watch.rewards, granted, air_requests)
        return verdict, diagnostics

    def _tear_down(self, live: Live, quick: bool) -> None:
        """Everything that was started, stopped: workers first, Kafka last."""
        self._stop_workers(live.slots, quick=quick)
        for view in (live.accepted, live.granted):
            if view is not None:
                view.close()
        live.services.endpoint.stop()
        live.services.air.stop()
        if live.background is not None:
            live.background.close()
        live.services.kafka.stop()

    async def _feed(
        self,
        bootstrap: str,
        streams: list[tuple[str, tuple[load_mod.Message, ...], kafka_io.Production]],
    ) -> None:
        """Each stream at its steady rate: its Kafka-routed messages produced, the rest
        posted to the workers' edges, side by side over the same seconds."""
        seconds = self.profile.produce_seconds
        await asyncio.gather(
            kafka_io.produce_all(bootstrap, streams, seconds),
            self.poster.run([(messages, state) for _, messages, state in streams], seconds),
        )

    def _count_edge_copies(
        self, load: load_mod.Load, background: Background, env: dict[str, str]
    ) -> None:
        """How many of what the edges took landed in Kafka more than once (the summary's
        "extra copies": duplicates the worker must drop, or rewards it must grant once)."""
        bootstrap = env["AIRMP_KAFKA_BOOTSTRAP_SERVERS"]
        on_input = background.call(
            kafka_helper.read_topic(bootstrap, env["AIRMP_INPUT_TOPIC"]), 150
        )
        on_rewards = background.call(
            kafka_helper.read_topic(bootstrap, env["AIRMP_REWARD_TOPIC"]), 150
        )
        copies = edges_mod.repeats(load, [m.value for m in on_input], [m.value for m in on_rewards])
        for route, count in copies.items():
            self.poster.stats[route].twice = count

    def _report(self, verdict: Verdict | None, diagnostics: list[str], error: str) -> Outcome:
        seconds = time.monotonic() - self.started
        outcome = Outcome(self.seed, verdict, self.work, seconds, error, self.profile.exact)
        print(f"  edges: {self.poster.summary()}", file=self.out)
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
        for line in diagnostics + self.summary:
            print(f"  {line}", file=self.out)
        if error:
            print(f"  harness error: {error}", file=self.out)
        if outcome.ok and not self.keep:
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

    def _env(self, bootstrap: str, endpoint: Endpoint, air: Air) -> dict[str, str]:
        """The settings every worker and `airmp map` share (plain `airmp map` stays offline,
        AIR credentials or not)."""
        app = self.app_id
        return {
            **endpoint.env(),
            **air.env(),  # every worker runs the reward agent
            "AIRMP_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "AIRMP_APP_ID": app,
            "AIRMP_INPUT_TOPIC": f"{app}-air",
            "AIRMP_RECORDS_TOPIC": f"{app}-records",
            "AIRMP_DEAD_LETTER_TOPIC": f"{app}-dead-letters",
            "AIRMP_REWARD_TOPIC": f"{app}-rewards",
            "AIRMP_AUDIENCE_TOPIC": f"{app}-audiences",
            "AIRMP_TOPIC_PARTITIONS": str(PARTITIONS),
            "AIRMP_STORE": "rocksdb://",
            "AIRMP_LOG_LEVEL": "info",
            "AIRMP_IDENTITY_TYPE": "CARD",
            "AIRMP_CURRENCY": "GBP",
            "AIRMP_MPARTICLE_ENVIRONMENT": "development",
            "AIRMP_SINK_TIMEOUT_SECONDS": f"{self.profile.plan.sink_timeout:g}",
            # Retries never give up; a short cap keeps the catch-up within the budget (and
            # still honours AIR's Retry-After, 1-2 s here).
            "AIRMP_SINK_MAX_BACKOFF_SECONDS": "4",
            "AIRMP_AIR_MAX_BACKOFF_SECONDS": "4",
            "AIRMP_AIR_TIMEOUT_SECONDS": f"{self.profile.plan.air_timeout:g}",
            # The edges, as the harness calls them (chaos/edges.py).
            "AIRMP_AIR_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
            "AIRMP_MPARTICLE_FIREHOSE_TOKEN": FIREHOSE_TOKEN,
            "AIRMP_CONNECTOR_ID": load_mod.CONNECTOR_ID,
            "AIRMP_EXTERNAL_KEY": load_mod.EXTERNAL_KEY,
            "AIRMP_MPARTICLE_IDENTITY_TYPE": load_mod.MPARTICLE_IDENTITY_TYPE,
            **self._fault_timings(),
        }

    def _fault_timings(self) -> dict[str, str]:
        """Shorter than the defaults where faults are: a killed worker's partitions move
        fast, a stuck delivery is abandoned soon. Graceful moves only (the rolling plan) run
        with the defaults, as the Helm chart deploys them."""
        if self.plan.rolling:
            return {}
        return {"AIRMP_KAFKA_SESSION_TIMEOUT_SECONDS": "8", "AIRMP_DELIVERY_GRACE_SECONDS": "5"}

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

    def _publish_live(self, slots: list[Slot]) -> None:
        """The workers a load balancer would send the edges' callers to: running, and not
        stopping (it drains a worker told to stop; one SIGKILLed mid-request is a dropped
        connection the caller retries)."""
        self.targets.live = tuple(
            (s.index, int(s.worker.env["AIRMP_WEB_PORT"]))
            for s in slots
            if s.running and not s.terminating_since
        )

    def _stop_workers(self, slots: list[Slot], quick: bool = False) -> None:
        """SIGTERM all (SIGKILL when the round is being abandoned), then wait for each."""
        self.targets.live = ()
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
        services: Services,
        watch: Watch,
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
                t0 += self._act(action, slots, services)
                self._publish_live(slots)
            self._tend(slots)
            if time.monotonic() - last >= 5:
                last = time.monotonic()
                watch.accepted.poll()
                watch.granted.poll()
                up = sum(s.running for s in slots)
                made, rewards = watch.production, watch.rewards
                progress(
                    f"[{self._t():4.0f}s] produced {made.acked}/{made.total} + "
                    f"{rewards.acked}/{rewards.total} reward requests, accepted "
                    f"{len(watch.accepted.batches)} batches, {len(watch.granted.counts)} "
                    f"rewards granted, workers up {up}/{len(slots)}"
                )
            settling = any(s.restart_at is not None or s.terminating_since for s in slots)
            if produced.done() and not pending and not settling:
                return
            time.sleep(0.1)
        raise TimeoutError("production and the fault schedule did not finish in time")

    def _act(self, action: Action, slots: list[Slot], services: Services) -> float:
        """Do one fault; return the seconds it held the main thread (a broker restart)."""
        progress(f"[{self._t():4.0f}s] {action.describe()}")
        if action.kind == faults_mod.AIR:
            self.executed[f"AIR {action.label}"] += 1
            services.air.faults(**dict(action.changes))
            return 0.0
        self.executed[action.label or action.kind] += 1
        kafka = services.kafka
        if action.kind == faults_mod.ENDPOINT:
            services.endpoint.faults(**dict(action.changes))
            return 0.0
        if action.kind == faults_mod.BROKER_RESTART:
            down = time.monotonic()
            kafka.stop()  # keeps its data and port: the workdir is ours
            time.sleep(action.pause)
            kafka.start()
            held = time.monotonic() - down
            progress(f"[{self._t():4.0f}s] broker back after {held:.1f}s")
            return held
        if action.kind in (faults_mod.SCALE_IN, faults_mod.SCALE_OUT):
            return self._scale(action, slots[action.worker])
        # The planned worker, or the next one running (the planned one may be restarting).
        order = [slots[(action.worker + i) % len(slots)] for i in range(len(slots))]
        if self.plan.rolling:  # a rolling restart's order is the plan's
            order = order[:1]
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

    def _scale(self, action: Action, slot: Slot) -> float:
        """Scale in (SIGTERM, no restart) or out (start a worker that was down)."""
        if action.kind == faults_mod.SCALE_OUT:
            slot.down = False
            slot.start("scale out")
        elif slot.running and slot.worker.process is not None:
            slot.down = True
            slot.worker.process.send_signal(signal.SIGTERM)
            slot.terminating_since = time.monotonic()
        else:
            self.notes.append(f"{action.describe()}: not running, skipped")
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
                    slot.restart_at = None if slot.down else now + slot.pause
                    if slot.down:
                        slot.worker.process = None
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
        self._publish_live(slots)

    # ------------------------------------------------------------------ waiting

    def _wait_done(
        self,
        want: set[str],
        known_bad: list[bytes],
        load: load_mod.Load,
        slots: list[Slot],
        watch: Watch,
        background: Background,
        env: dict[str, str],
    ) -> None:
        """Until every expected batch was accepted, every bad input dead-lettered, every
        reward granted, every refused reward request dead-lettered and the reward topic
        committed to its end; or nothing is left to come (the group committed every topic
        to its end and nothing arrived for a while); or the round's budget runs out. Then a
        moment for late duplicates (and second grants) to land."""
        deadline = self.started + self.profile.budget_seconds - SHUTDOWN_RESERVE
        wait = Waiting(want, set(known_bad), set(load.refused), set(load.grantable))
        last_check = last_line = 0.0
        last_change, seen = time.monotonic(), (-1, -1, -1, -1)
        while True:
            check_interrupted()
            self._tend(slots)
            watch.accepted.poll()
            watch.granted.poll()
            wait.count(watch)
            if wait.counts != seen:
                last_change, seen = time.monotonic(), wait.counts
            idle = time.monotonic() - last_change >= IDLE_SECONDS
            settled = committed = False
            if time.monotonic() - last_check >= (2 if wait.arrived else 4):
                last_check = time.monotonic()
                committed, settled = self._check_topics(wait, idle, slots, background, env)
            if committed or settled or time.monotonic() - last_line >= 5:
                last_line = time.monotonic()
                progress(f"[{self._t():4.0f}s] waiting: {wait.line(watch, slots)}")
            if self._wait_over(committed, settled, deadline):
                return
            time.sleep(1)

    def _check_topics(
        self,
        wait: Waiting,
        idle: bool,
        slots: list[Slot],
        background: Background,
        env: dict[str, str],
    ) -> tuple[bool, bool]:
        """(committed: everything arrived and the reward topic is committed to its end,
        settled: idle, and the group committed every topic to its end), the dead-letter
        topic read again for `wait`."""
        bootstrap = env["AIRMP_KAFKA_BOOTSTRAP_SERVERS"]
        dlq = background.call(kafka_helper.read_topic(bootstrap, _dlq(env)), 60)
        wait.dead_seen = {r.value for r in dlq} & wait.bad
        wait.refused_seen = {
            r.value for r in dlq if r.header("airmp-stage") == REWARD_STAGE
        } & wait.refused
        if wait.arrived and wait.dead_seen >= wait.bad and wait.refused_seen >= wait.refused:
            reward_topic = env["AIRMP_REWARD_TOPIC"]
            lag = background.call(kafka_helper.lag(bootstrap, self.app_id, [reward_topic]), 60)
            return lag == 0, False
        if idle and all(s.down or (s.running and not s.terminating_since) for s in slots):
            lag = background.call(kafka_helper.lag(bootstrap, self.app_id, self._topics(env)), 60)
            return False, lag == 0
        return False, False

    def _wait_over(self, committed: bool, settled: bool, deadline: float) -> bool:
        """Whether the wait ends now, said in one line when it ends for want of anything."""
        if committed:
            time.sleep(2)  # a re-send still in flight lands now, and is judged
            return True
        if settled:
            progress(
                f"[{self._t():4.0f}s] stopped waiting: every input is committed and nothing "
                f"arrived for {IDLE_SECONDS:.0f}s, so what is missing will not come"
            )
            return True
        if time.monotonic() > deadline:
            progress(f"[{self._t():4.0f}s] gave up waiting: the round's budget is spent")
            self.timed_out = True
            return True
        return False

    def _topics(self, env: dict[str, str]) -> list[str]:
        """Every topic the group consumes."""
        topics = [env["AIRMP_INPUT_TOPIC"], f"{self.app_id}-air-by-wallet"]
        return [
            *topics,
            env["AIRMP_RECORDS_TOPIC"],
            env["AIRMP_AUDIENCE_TOPIC"],
            env["AIRMP_REWARD_TOPIC"],
        ]

    def _moves_summary(self, background: Background, env: dict[str, str]) -> None:
        """After graceful moves: the records produced more than once (what the sink would
        send twice), and the group's lag, waited for until 0 (at most 60 s)."""
        bootstrap = env["AIRMP_KAFKA_BOOTSTRAP_SERVERS"]
        on_records = background.call(
            kafka_helper.read_topic(bootstrap, env["AIRMP_RECORDS_TOPIC"]), 150
        )
        copies = Counter(m.value for m in on_records)
        twice = sum(n - 1 for n in copies.values())
        deadline, lag = time.monotonic() + 60, -1
        while lag != 0 and time.monotonic() < deadline:
            lag = background.call(kafka_helper.lag(bootstrap, self.app_id, self._topics(env)), 60)
            time.sleep(0 if lag == 0 else 2)
        moves = ", ".join(f"{k} {n}" for k, n in sorted(self.executed.items()))
        self.summary.append(
            f"moves: {moves}; records produced twice {twice} of {len(on_records)}; "
            f"group lag at the end {lag}"
        )

    # ------------------------------------------------------------------ diagnostics

    def _fault_summary(
        self, accepted: Accepted, granted: Granted, air_requests: list[dict[str, Any]]
    ) -> None:
        statuses = Counter(_answer(r) for r in accepted.requests)
        done = ", ".join(f"{k} {v}" for k, v in sorted(self.executed.items())) or "none"
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
        air = Counter(
            f"{'trigger' if r['method'] == 'POST' else 'look-up'} {_air_answer(r)}"
            for r in air_requests
        )
        air_answers = ", ".join(f"{k}: {v}" for k, v in sorted(air.items())) or "none"
        dropped = {r["reference"] for r in air_requests if r.get("dropped_after_accept")}
        repeated = set(granted.repeats)
        progress(
            f"faults injected: {done}; endpoint answers: {answers}; AIR answers: {air_answers}; "
            f"AIR asked again for {len(repeated)} references it had granted "
            f"({sum(granted.repeats.values())} requests, answered as the first; "
            f"{len(repeated & dropped)} of them after it dropped the answer to a grant)"
        )

    def _diagnose(
        self,
        evidence: Evidence,
        records: list[dict[str, Any]],
        known_bad: list[bytes],
        production: kafka_io.Production,
        accepted: Accepted,
    ) -> list[str]:
        """Where each lost event got to: the AIR webhook's answer (for one posted there),
        the input topic, the by-wallet topic, the records topic, and whether the group
        committed past it there."""
        verdict, load = evidence.verdict, evidence.load
        trail = self._trail(evidence)
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
            indices = produced_at.get(air["event_id"], [])
            stage, detail = _where_lost(srid, air, indices, load, production, sent, trail)
            stages[stage] += 1
            names[air["event_name"]] += 1
            details.append(("yet" in stage, detail))  # still on its way: less telling
        lines = self._lost_lines(stages, names, details) if stages else []
        lines += _other_losses(evidence, known_bad, production)
        offsets = trail.offsets
        committed = sorted((t, p, o) for (t, p), o in offsets.items() if t.startswith(self.app_id))
        lines.append("committed offsets: " + " ".join(f"{t}[{p}]={o}" for t, p, o in committed))
        return lines

    def _trail(self, evidence: Evidence) -> Trail:
        """The topics a lost event passes, read again, and the group's commits."""
        env, background = evidence.env, evidence.background
        bootstrap = env["AIRMP_KAFKA_BOOTSTRAP_SERVERS"]
        by_wallet_topic = f"{self.app_id}-air-by-wallet"
        on_input = background.call(
            kafka_helper.read_topic(bootstrap, env["AIRMP_INPUT_TOPIC"]), 150
        )
        by_wallet = background.call(kafka_helper.read_topic(bootstrap, by_wallet_topic), 150)
        out_records = background.call(
            kafka_helper.read_topic(bootstrap, env["AIRMP_RECORDS_TOPIC"]), 150
        )
        offsets = background.call(kafka_helper.committed(bootstrap, self.app_id), 60)
        dead = evidence.dead
        return Trail(
            input_topic=env["AIRMP_INPUT_TOPIC"],
            by_wallet_topic=by_wallet_topic,
            records_topic=env["AIRMP_RECORDS_TOPIC"],
            on_input=_index(on_input, _EVENT_ID),
            on_by_wallet=_index(by_wallet, _EVENT_ID),
            on_records=_index(out_records, _RECORD_EVENT_ID),
            on_dlq={**_index(dead, _EVENT_ID), **_index(dead, _RECORD_EVENT_ID)},
            offsets=offsets,
        )

    def _lost_lines(
        self, stages: Counter[str], names: Counter[str], details: list[tuple[bool, str]]
    ) -> list[str]:
        """The lost events by stage and by eventName, then each (the first MAX_DETAILS;
        every one in lost.txt)."""
        lines = [
            "where the lost events stopped: "
            + ", ".join(f"{k} {v}" for k, v in stages.most_common()),
            "lost by eventName: " + ", ".join(f"{k} {v}" for k, v in names.most_common()),
        ]
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
        return lines

    def _diagnose_rewards(
        self,
        evidence: Evidence,
        production: kafka_io.Production,
        granted: Granted,
        air_requests: list[dict[str, Any]],
    ) -> list[str]:
        """Where each missing reward got to (the reward topic, the group's commit there,
        what AIR was asked), each reward granted twice with AIR's log of it, and each
        refused request that never reached the dead-letter topic."""
        verdict, load, env = evidence.verdict, evidence.load, evidence.env
        if verdict.rewards.ok and not verdict.missing_refusals:
            return []
        bootstrap, topic = env["AIRMP_KAFKA_BOOTSTRAP_SERVERS"], env["AIRMP_REWARD_TOPIC"]
        background = evidence.background
        offsets = background.call(kafka_helper.committed(bootstrap, self.app_id), 60)
        asked: dict[str, list[dict[str, Any]]] = {}
        for request in air_requests:
            if request.get("reference"):
                asked.setdefault(request["reference"], []).append(request)
        # Where the edges put the requests they made (found by reference).
        on_topic = _index(
            background.call(kafka_helper.read_topic(bootstrap, topic), 150), _REFERENCE
        )
        story = RewardStory(
            topic=topic,
            offsets=offsets,
            on_topic=on_topic,
            asked=asked,
            by_asks={m.value: m.asks for m in load.rewards},
            on_dlq={r.value: r for r in evidence.dead},
        )
        story.place(load, production)
        return _reward_lines(evidence, granted, story)

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
    posted_ok: bool = False,
) -> str:
    """`posted_ok`: the AIR webhook edge answered 200 for it."""

    def passed(topic: str, partition: int, offset: int) -> bool:
        return offsets.get((topic, partition), 0) > offset

    if not any(p for _, p in inputs):
        if posted_ok:
            return "lost at the AIR webhook edge (answered 200, not on the input topic)"
        return "never produced (harness)"
    if not wallet_hits and not record_hits:  # a record: it was re-keyed (the search missed)
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


@dataclass(frozen=True)
class Trail:
    """Where a lost event could be: each topic it passes, indexed by its event id, and the
    group's committed offsets."""

    input_topic: str
    by_wallet_topic: str
    records_topic: str
    on_input: dict[str, list[Message]]
    on_by_wallet: dict[str, list[Message]]
    on_records: dict[str, list[Message]]
    on_dlq: dict[str, list[Message]]
    offsets: dict[tuple[str, int], int]


def _inputs_of(
    event_id: str,
    indices: list[int],
    load: load_mod.Load,
    production: kafka_io.Production,
    trail: Trail,
) -> tuple[list[tuple[int, tuple[int, int] | None]], list[str], bool]:
    """(where each copy of a lost event was produced, as told, the webhook answered 200)."""
    inputs: list[tuple[int, tuple[int, int] | None]] = []
    told: list[str] = []
    posted_ok = False  # the webhook answered 200 for it
    for i in indices:
        placed = production.placed[i]
        if load.messages[i].route == load_mod.WEBHOOK:
            hits = trail.on_input.get(event_id, [])  # the edge chose where
            placed = (hits[0].partition, hits[0].offset) if hits else None
            answer = production.posted.get(i, "posted, never answered 200")
            posted_ok = posted_ok or i in production.posted
            where = f"p{placed[0]}@{placed[1]}" if placed else "not on the input topic"
            told.append(f"#{i} {answer}, {where}")
        else:
            told.append(f"#{i} p{placed[0]}@{placed[1]}" if placed else f"#{i} (not acked)")
        inputs.append((i, placed))
    return inputs, told, posted_ok


def _where_lost(
    srid: str,
    air: dict[str, Any],
    indices: list[int],
    load: load_mod.Load,
    production: kafka_io.Production,
    sent: dict[str, Counter[str]],
    trail: Trail,
) -> tuple[str, str]:
    """(the stage a lost event stopped at, its line)."""
    event_id = air["event_id"]
    inputs, told, posted_ok = _inputs_of(event_id, indices, load, production, trail)
    wallet_hits = trail.on_by_wallet.get(event_id, [])
    record_hits = trail.on_records.get(event_id, [])
    offsets = trail.offsets
    stage = _stage(
        inputs, wallet_hits, record_hits, offsets, trail.input_topic,
        trail.by_wallet_topic, trail.records_topic, posted_ok,
    )  # fmt: skip
    if event_id in trail.on_dlq:
        reasons = {r.header("airmp-reason")[:80] for r in trail.on_dlq[event_id]}
        stage += f", dead-lettered ({'; '.join(sorted(reasons))})"
    detail = (
        f"lost {srid}: {air['event_name']} wallet {air['wallet_id']} "
        f"(eesEventId {event_id}); input {', '.join(told)}; "
        f"by-wallet {_hits(wallet_hits, trail.by_wallet_topic, offsets)}; "
        f"records {_hits(record_hits, trail.records_topic, offsets)}; "
        f"sent to the endpoint: {_answers(sent.get(srid))} -> {stage}"
    )
    return stage, detail


def _other_losses(
    evidence: Evidence, known_bad: list[bytes], production: kafka_io.Production
) -> list[str]:
    """Bad inputs never dead-lettered, dead letters not expected, and duplicates that are
    not plain re-sends."""
    verdict, load, dead = evidence.verdict, evidence.load, evidence.dead
    lines: list[str] = []
    for index in verdict.missing_dead_letters:
        value = known_bad[index]
        positions = [i for i, m in enumerate(load.messages) if m.value == value]
        places = [production.posted.get(i) or production.placed[i] for i in positions]
        lines.append(
            f"lost bad input {value[:60]!r}: produced at #{positions} {places}, "
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
    return lines


@dataclass
class RewardStory:
    """What became of one reward request, told from the reward topic, the group's commits,
    AIR's log and the dead letters; `place` first says where each request was produced."""

    topic: str
    offsets: dict[tuple[str, int], int]
    on_topic: dict[str, list[Message]]
    asked: dict[str, list[dict[str, Any]]]
    by_asks: dict[bytes, tuple[str, ...]]
    on_dlq: dict[bytes, Message]
    produced: dict[bytes, list[str]] = field(default_factory=dict)
    passed: set[bytes] = field(default_factory=set)  # the group committed past (somewhere)

    def place(self, load: load_mod.Load, production: kafka_io.Production) -> None:
        topic, offsets = self.topic, self.offsets
        for i, message in enumerate(load.rewards):
            placed = production.placed[i] if i < len(production.placed) else None
            where = f"#{i} (not acked)"
            if message.route != load_mod.KAFKA:
                hits = [h for r in message.asks for h in self.on_topic.get(r, [])]
                where = f"#{i} {production.posted.get(i, 'posted, never answered 200')}: "
                if message.references:  # each reference's hits are in its own story
                    where += f"{len(hits)} requests for {len(message.asks)} on the reward topic"
                else:
                    where += _hits(hits, topic, offsets) if hits else "not on the reward topic"
                if any(offsets.get((topic, h.partition), 0) > h.offset for h in hits):
                    self.passed.add(message.value)
            elif placed is not None:
                committed = offsets.get((topic, placed[0]), 0)
                where = f"#{i} p{placed[0]}@{placed[1]} (committed {committed})"
                if committed > placed[1]:
                    self.passed.add(message.value)
            self.produced.setdefault(message.value, []).append(where)

    def __call__(self, value: bytes, reference: str) -> str:
        many = len(self.by_asks.get(value, ())) > 1  # one of many: where its own request went
        own = f"; its request {_hits(self.on_topic.get(reference, []), self.topic, self.offsets)}"
        requests = self.asked.get(reference, [])
        answers = ", ".join(_air_answer(r) for r in requests) or "never"
        letter = self.on_dlq.get(value)
        dead_lettered = (
            f"; dead-lettered at {letter.header('airmp-stage')}: "
            f"{letter.header('airmp-reason')[:100]}"
            if letter is not None
            else ""
        )
        where = ", ".join(self.produced.get(value, [])) or "never produced"
        state = "committed past it" if value in self.passed else "not committed yet"
        where += own if many else ""
        return f"produced {where}, {state}; AIR answered: {answers}{dead_lettered}"


def _reward_lines(evidence: Evidence, granted: Granted, story: RewardStory) -> list[str]:
    """A line for each reward missing, granted twice or not to be granted, and for each
    refused request never dead-lettered."""
    rewards, load = evidence.verdict.rewards, evidence.load
    by_reference = {r: m.value for m in load.rewards for r in m.asks}
    lines: list[str] = []
    for reference in rewards.missing[:MAX_DETAILS]:
        lines.append(
            f"reward {reference} never granted: {story(by_reference[reference], reference)}"
        )
    if len(rewards.missing) > MAX_DETAILS:
        lines.append(f"... and {len(rewards.missing) - MAX_DETAILS} more rewards never granted")
    for reference in rewards.twice[:MAX_DETAILS]:
        count = granted.counts[reference]
        value = by_reference.get(reference, b"")
        lines.append(f"reward {reference} granted {count} times: {story(value, reference)}")
    for reference in rewards.unexpected[:MAX_DETAILS]:
        value = by_reference.get(reference, b"")
        lines.append(f"reward {reference} granted, not to be granted: {story(value, reference)}")
    for index in evidence.verdict.missing_refusals:
        value = load.refused[index]
        reference = next((m.reference for m in load.rewards if m.value == value), "")
        lines.append(
            f"refused reward request {value[:80]!r} never dead-lettered at stage "
            f"{REWARD_STAGE}: {story(value, reference)}"
        )
    return lines


def _answers(answers: Counter[str] | None) -> str:
    if not answers:
        return "never"
    return ", ".join(f"{n}x {answer}" for answer, n in sorted(answers.items()))


def _answer(request: dict[str, Any]) -> str:
    if request.get("dropped_after_accept"):
        return "accepted then dropped"
    status = request["status"]
    return {-1: "dropped", 0: "client gone first"}.get(status, str(status))


def _air_answer(request: dict[str, Any]) -> str:
    """One request in the local AIR's log, as a reader wants it."""
    if request.get("dropped_after_accept"):
        return "granted then dropped"
    status = request["status"]
    if status == -1:
        return "dropped"
    if request.get("repeat"):
        return f"{status} (repeat)"
    return f"{status} granted" if request.get("granted") else str(status)


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
