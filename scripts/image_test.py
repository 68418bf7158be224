#!/usr/bin/env python3
"""`make image-test`: the image run as a platform team runs it, through the demo's loop.

The project's Kafka (testkit.localkafka, 127.0.0.1) and three containers of the image on the
host network: the worker, the local mParticle (`airmp mock-mparticle`) and the local AIR
(`airmp mock-air --emit-url` to the worker's AIR webhook edge). It plays:

1. a journey posted to the AIR webhook, then the loop: a consumer joins (webhook), mParticle
   connects an audience with WELCOME5000 and the user enters it (Firehose membership change),
   AIR (local) grants 5,000 points and posts SERVICE.TRIGGER back, mParticle (local) shows
   the points up;
2. a larger journey produced to the AIR input topic while mParticle (local) holds each 202
   for a while, and `docker stop` on the worker with deliveries in flight: it must exit 0
   before docker's SIGKILL (its delivery grace lets the held requests finish);
3. a new worker container on the same /data volume: another journey posted to the webhook,
   then everything `airmp map` says the input yields accepted once, nothing twice, the
   group's lag 0 and no dead letter.

Progress lines go to stdout; the last is `image-test ok: ...` (exit 0) or `image-test
failed: ...` (exit 1) with the failing container's log tail before it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from demo import mapped, profile_of

from config.settings import Settings
from mappers.errors import AirmpError
from testkit import firehose, journeys
from testkit.cases import CASES
from testkit.kafka import lag, produce, read_topic
from testkit.localkafka import LocalKafka
from testkit.processes import ROOT, Air, Endpoint, http_status, poll, worker_env

WEBHOOK_TOKEN, FIREHOSE_TOKEN = "image-test-webhook-token", "image-test-firehose-token"
LOOP_WALLET = 900_888  # the consumer who joins in the loop
AUDIENCE, TRIGGER, WELCOME_POINTS = 4343, "WELCOME5000", 5000
# The worker's own default, so the test proves the setting an operator gets.
GRACE = float(Settings.model_fields["delivery_grace_seconds"].default)
# docker stop's -t: the grace plus the 20 s the README asks a pod's termination grace to add.
STOP_TIMEOUT = int(GRACE) + 20
HOLD_SECONDS = 2.0  # mParticle (local) holds each 202 this long while the worker is stopped
TIMEOUT = 180.0


class Failed(AirmpError):
    """A check that did not hold: the message is the verdict line's reason."""


def say(message: str) -> None:
    print(f"image-test: {message}", flush=True)


def docker(*args: str, timeout: float = 120) -> str:
    """A docker command's stdout; a failure is the test's, in docker's own words."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise Failed(f"docker {args[0]} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout.strip()


@dataclass
class Container:
    """One container of the image, by name; kept after it exits for its status and log."""

    name: str

    def running(self) -> bool:
        return docker("inspect", "-f", "{{.State.Running}}", self.name) == "true"

    def stop(self, timeout: int) -> tuple[int, float]:
        """`docker stop -t timeout`: the exit status and the seconds it took."""
        started = time.monotonic()
        docker("stop", "-t", str(timeout), self.name, timeout=timeout + 60)
        elapsed = time.monotonic() - started
        return int(docker("wait", self.name)), elapsed

    def log(self) -> str:
        done = subprocess.run(
            ["docker", "logs", self.name], capture_output=True, text=True, timeout=60
        )
        return done.stdout + done.stderr

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True, timeout=60)


def run_container(
    image: str, name: str, args: list[str], env: dict[str, str], volume: str | None = None
) -> Container:
    """`docker run -d --network host`: the engine here has host networking only, and the
    containers reach the launcher's Kafka and each other on 127.0.0.1."""
    command = ["run", "-d", "--network", "host", "--name", name]
    for key, value in sorted(env.items()):
        command += ["-e", f"{key}={value}"]
    if volume is not None:
        command += ["-v", f"{volume}:/data"]
    docker(*command, image, *args)
    return Container(name)


@dataclass
class Stack:
    """The containers of one run, their settings, and the local endpoints' HTTP views."""

    image: str
    bootstrap: str
    work: Path
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    containers: list[Container] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.endpoint = Endpoint(
            self.work / "mparticle.log", api_key="image-test-key", api_secret="image-test-secret"
        )
        self.air = Air(self.work / "air.log", emit_token=WEBHOOK_TOKEN)
        self.env = worker_env(
            self.bootstrap,
            self.work,
            AIRMP_APP_ID=f"image-test-{self.run_id}",
            AIRMP_STORE="rocksdb://",  # the image's default store, on the /data volume
            AIRMP_DATA_DIR="/data",
            AIRMP_CONNECTOR_ID=firehose.CONNECTOR_ID,
            AIRMP_EXTERNAL_KEY=firehose.EXTERNAL_KEY,
            AIRMP_MPARTICLE_FIREHOSE_TOKEN=FIREHOSE_TOKEN,
            AIRMP_AIR_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
            **self.endpoint.env(),
            **self.air.env(),
        )
        self.air.emit_url = f"{self.worker_url}/air/notifications"

    @property
    def worker_url(self) -> str:
        return f"http://127.0.0.1:{self.env['AIRMP_WEB_PORT']}"

    @property
    def volume(self) -> str:
        return f"airmp-image-test-{self.run_id}"

    def start(self, role: str, args: list[str], env: dict[str, str], volume: bool) -> Container:
        name = f"airmp-image-test-{self.run_id}-{role}"
        container = run_container(self.image, name, args, env, self.volume if volume else None)
        self.containers.append(container)
        return container

    def remove(self) -> None:
        for container in self.containers:
            container.remove()
        subprocess.run(["docker", "volume", "rm", "-f", self.volume], capture_output=True)


def wait_until(what: str, check: Callable[[], bool], container: Container) -> None:
    """Until `check()` holds; a container that exits or a timeout fails the test."""

    def settled() -> str | None:
        if check():
            return "ok"
        return None if container.running() else "exited"

    outcome = poll(settled, timeout=TIMEOUT, interval=0.5)
    if outcome != "ok":
        why = "its container exited" if outcome else f"not in {TIMEOUT:.0f} s"
        raise Failed(f"{what}: {why}\n{container.log()[-4000:]}")


def answers(url: str) -> Callable[[], bool]:
    return lambda: http_status(url) == 200


def start_endpoints(stack: Stack) -> None:
    """The local mParticle and the local AIR, each the image with its `airmp mock-...`."""
    mparticle_env = {k: v for k, v in stack.endpoint.env().items() if "API_KEY" in k}
    mparticle_env["AIRMP_MPARTICLE_API_SECRET"] = stack.endpoint.api_secret
    mparticle = stack.start(
        "mparticle",
        ["mock-mparticle", "--host", "127.0.0.1", "--port", str(stack.endpoint.port)],
        mparticle_env,
        volume=False,
    )
    air_args = ["mock-air", "--host", "127.0.0.1", "--port", str(stack.air.port)]
    air_args += [
        f"--trigger={TRIGGER}=points:{WELCOME_POINTS}",
        "--emit-url",
        str(stack.air.emit_url),
    ]
    air = stack.start(
        "air", air_args, {**stack.air.env(), "AIRMP_AIR_WEBHOOK_TOKEN": WEBHOOK_TOKEN}, False
    )
    for base, container in ((stack.endpoint.base_url, mparticle), (stack.air.base_url, air)):
        wait_until(f"{container.name} healthy", answers(f"{base}/_mock/health"), container)
    say(f"local mParticle on {stack.endpoint.base_url}, local AIR on {stack.air.base_url}")


def start_worker(stack: Stack, number: int) -> Container:
    started = time.monotonic()
    worker = stack.start(f"worker{number}", [], stack.env, volume=True)  # the image's CMD
    wait_until(f"worker {number} ready", answers(f"{stack.worker_url}/readyz"), worker)
    say(f"worker {number} ({worker.name}) ready in {time.monotonic() - started:.1f} s")
    return worker


def post_notifications(stack: Stack, notifications: list[bytes]) -> None:
    """AIR's side of the webhook: each notification in order, each answered 200."""
    headers = {"X-Auth-Token": WEBHOOK_TOKEN}
    with httpx.Client(base_url=stack.worker_url, timeout=30) as client:
        for notification in notifications:
            answer = client.post("/air/notifications", content=notification, headers=headers)
            if answer.status_code != 200:
                raise Failed(f"the AIR webhook answered {answer.status_code}: {answer.text}")


def points_of(stack: Stack, card: str) -> int | None:
    profile = profile_of(stack.endpoint.accepted()["batches"], card, "other")
    return int(profile["points_balance"]) if "points_balance" in profile else None


def wait_points(stack: Stack, card: str, above: int, worker: Container) -> int:
    """The card's points_balance in mParticle (local) once it is above `above`."""

    def risen() -> bool:
        points = points_of(stack, card)
        return points is not None and points > above

    wait_until(f"points_balance of {card} above {above}", risen, worker)
    return points_of(stack, card) or 0


def the_loop(stack: Stack, worker: Container) -> tuple[bytes, int, int]:
    """AIR -> mParticle -> audience -> AIR reward -> mParticle: the join notification sent,
    and the points_balance mParticle (local) showed before and after the reward."""
    joined = journeys.rewrite(
        CASES["SERVICE.WALLET.ACCOUNTS.CREATE"]()[0], LOOP_WALLET, "image-join-1", datetime.now()
    )
    card = f"6301{LOOP_WALLET:012d}"
    stack.air.tell([joined])  # AIR knows its own wallets: the local AIR learns this one here
    post_notifications(stack, [joined])
    before = wait_points(stack, card, -1, worker)  # any balance: the join carries one
    say(f"loop: card {card} joined (AIR webhook): points_balance {before} in mParticle")
    headers = {"Authorization": f"Token {FIREHOSE_TOKEN}"}
    member = firehose.profile([firehose.identity("other", card)], [firehose.audience(AUDIENCE)])
    for what, body in (
        ("audience connected with " + TRIGGER, firehose.subscription_request(AUDIENCE, TRIGGER)),
        ("the user entered it", firehose.membership_request([member])),
    ):
        answer = httpx.post(f"{stack.worker_url}/mparticle/firehose", json=body, headers=headers)
        if answer.status_code != 200:
            raise Failed(f"Firehose ({what}) answered {answer.status_code}: {answer.text}")
        say(f"loop: Firehose: {what}: 200")
    wait_until("a reward granted", lambda: bool(stack.air.granted()["grants"]), worker)
    grant = stack.air.granted()["grants"][0]
    say(f"loop: AIR (local) granted {grant['points']} points (reference {grant['reference']})")
    after = wait_points(stack, card, before, worker)
    say(f"loop: SERVICE.TRIGGER came back: points_balance {before} -> {after} in mParticle")
    if after != before + WELCOME_POINTS:
        raise Failed(f"points_balance {before} -> {after}, not +{WELCOME_POINTS}")
    return joined, before, after


def accepted_ids(stack: Stack) -> Counter[str]:
    """How often mParticle (local) accepted each source_request_id."""
    batches = stack.endpoint.accepted()["batches"]
    return Counter(str(b.get("source_request_id")) for b in batches)


def produce_journey(stack: Stack, notifications: list[bytes]) -> None:
    """As an AIR producer on Kafka: one key per wallet (not its id: the worker re-keys)."""
    items = [(journeys.producer_key(n), n) for n in notifications]
    asyncio.run(produce(stack.bootstrap, stack.env["AIRMP_INPUT_TOPIC"], items))


@dataclass(frozen=True)
class Stopped:
    """Worker 1's `docker stop`: its exit status, how long it took, and how many of the
    Kafka journey's batches it had not delivered (the next worker's to deliver)."""

    status: int
    seconds: float
    left: int
    of: int


def stop_mid_flight(stack: Stack, worker: Container, notifications: list[bytes]) -> Stopped:
    """The Kafka journey in, mParticle (local) holding each 202 for HOLD_SECONDS, and
    `docker stop` as soon as its first batch is accepted: requests are then in flight."""
    want = expected_ids(stack, notifications)
    stack.endpoint.faults(delay_after_accept_seconds=HOLD_SECONDS)
    produce_journey(stack, notifications)
    say(f"produced {len(notifications)} notifications to {stack.env['AIRMP_INPUT_TOPIC']}")
    wait_until(
        "the Kafka journey's first batch", lambda: bool(want & set(accepted_ids(stack))), worker
    )
    status, seconds = worker.stop(STOP_TIMEOUT)
    stack.endpoint.faults(delay_after_accept_seconds=0.0)
    left = len(want - set(accepted_ids(stack)))
    say(
        f"docker stop -t {STOP_TIMEOUT}: worker 1 exited {status} in {seconds:.1f} s "
        f"(delivery grace {GRACE:g} s), {left} of {len(want)} batches left for worker 2"
    )
    if status != 0 or seconds >= STOP_TIMEOUT:
        raise Failed(
            f"worker 1 exited {status} after {seconds:.1f} s of docker stop -t {STOP_TIMEOUT}, "
            f"not 0 within it\n{worker.log()[-4000:]}"
        )
    return Stopped(status, seconds, left, len(want))


def group_lag(stack: Stack) -> int:
    """What the connector's group has not committed on every topic it consumes."""
    env, app_id = stack.env, stack.env["AIRMP_APP_ID"]
    topics = [env["AIRMP_INPUT_TOPIC"], f"{app_id}-air-by-wallet", env["AIRMP_RECORDS_TOPIC"]]
    topics += [env["AIRMP_AUDIENCE_TOPIC"], env["AIRMP_REWARD_TOPIC"]]
    return asyncio.run(lag(stack.bootstrap, app_id, topics))


@dataclass(frozen=True)
class Delivered:
    """What mParticle (local) accepted against what `airmp map` says the input yields."""

    expected: int
    once: int
    lost: int
    twice: int
    unexpected: int
    dead_letters: int


def delivered(stack: Stack, want: set[str], worker: Container) -> Delivered:
    """Once every expected batch arrived and the group committed everything (nothing is
    left to re-send), each source_request_id counted."""
    wait_until("every expected batch accepted", lambda: want <= set(accepted_ids(stack)), worker)
    wait_until("the group's lag 0", lambda: group_lag(stack) == 0, worker)
    counts = accepted_ids(stack)
    dead = asyncio.run(read_topic(stack.bootstrap, stack.env["AIRMP_DEAD_LETTER_TOPIC"]))
    return Delivered(
        expected=len(want),
        once=sum(1 for i in want if counts[i] == 1),
        lost=len(want - set(counts)),
        twice=sum(1 for n in counts.values() if n > 1),
        unexpected=len(set(counts) - want),
        dead_letters=len(dead),
    )


def expected_ids(stack: Stack, notifications: list[bytes]) -> set[str]:
    """The source_request_ids `airmp map` (this machine's venv) says the input yields, with
    the workers' settings; its data dir here, not the containers' /data."""
    env = {**os.environ, **stack.env, "AIRMP_DATA_DIR": str(stack.work / "map-data")}
    return {r["batch"]["source_request_id"] for r in mapped(notifications, env)}


def check_image(image: str) -> str:
    """The image's user, default command and labels as the Dockerfile promises them."""
    fields = "{{.Config.User}}|{{json .Config.Cmd}}|{{json .Config.Labels}}"
    user, cmd, labels = docker("image", "inspect", "-f", fields, image).split("|", 2)
    version = orjson.loads(labels).get("org.opencontainers.image.version")
    if user in ("", "0", "root") or orjson.loads(cmd) != ["worker"] or not version:
        raise Failed(f"image {image}: user {user!r}, CMD {cmd}, version label {version!r}")
    say(f"image {image}: user {user}, CMD {cmd}, version {version}")
    return user


def compose_healthcheck(worker: Container) -> None:
    """docker-compose.yml's healthcheck of the worker, run in this worker's container."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    kind, *command = compose["services"]["worker"]["healthcheck"]["test"]
    if kind != "CMD":
        raise Failed(f"the compose healthcheck is {kind}, not CMD")
    docker("exec", worker.name, *command, timeout=30)  # exit 0: healthy
    say(f"compose's healthcheck ({' '.join(command[:2])} ... /readyz) passes in {worker.name}")


def emitted(stack: Stack) -> list[bytes]:
    """The SERVICE.TRIGGER notifications the local AIR posted back to the webhook."""
    view = httpx.get(f"{stack.air.base_url}/_mock/emitted", timeout=10).json()
    return [orjson.dumps(n) for n in view["notifications"]]


def judge(result: Delivered, granted: dict[str, Any]) -> None:
    clean = result.lost == result.twice == result.unexpected == result.dead_letters == 0
    if not clean or result.once != result.expected:
        raise Failed(f"delivered: {result}")
    if len(granted["grants"]) != 1 or list(granted["granted"].values()) != [1]:
        raise Failed(f"rewards: {granted['granted']} (grants {len(granted['grants'])})")


def play(stack: Stack) -> str:
    """The three acts of the module's docstring; the verdict line's counts."""
    user = check_image(stack.image)
    start_endpoints(stack)
    worker = start_worker(stack, 1)
    compose_healthcheck(worker)
    first = journeys.build(wallets=3, seed=31)
    post_notifications(stack, first)
    say(f"posted a journey of {len(first)} notifications (3 wallets) to the AIR webhook")
    joined, before, after = the_loop(stack, worker)
    on_kafka = journeys.build(wallets=20, seed=32)
    stopped = stop_mid_flight(stack, worker, on_kafka)
    worker = start_worker(stack, 2)
    last = journeys.build(wallets=3, seed=33)
    post_notifications(stack, last)
    say(f"posted a journey of {len(last)} notifications (3 wallets) to worker 2's webhook")
    want = expected_ids(stack, [*first, joined, *emitted(stack), *on_kafka, *last])
    result = delivered(stack, want, worker)
    say(f"mParticle (local) against `airmp map`: {result}")
    judge(result, stack.air.granted())
    status, seconds = worker.stop(STOP_TIMEOUT)
    if status != 0:
        raise Failed(f"worker 2 exited {status} on docker stop\n{worker.log()[-4000:]}")
    return (
        f"{result.once} batches accepted once ({result.lost} lost, {result.twice} twice, "
        f"{result.unexpected} unexpected), 1 reward granted once, points {before} -> {after} "
        f"in mParticle, worker stopped in {stopped.seconds:.1f}s (exit {stopped.status}, "
        f"docker stop -t {STOP_TIMEOUT}) with {stopped.left}/{stopped.of} Kafka batches left, "
        f"which worker 2 delivered, lag 0, {result.dead_letters} dead letters, "
        f"worker 2 stopped in {seconds:.1f}s (exit {status}), compose healthcheck ok, user {user}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--image", default="air-mparticle:dev")
    image = parser.parse_args().image
    docker("version", "--format", "{{.Server.Version}}")  # no engine: one line, not a trace
    work = Path(tempfile.mkdtemp(prefix="airmp-image-test-"))
    with LocalKafka() as kafka:
        say(f"Kafka on {kafka.bootstrap}; logs in {work}")
        stack = Stack(image, kafka.bootstrap, work)
        try:
            line = play(stack)
        except Failed as exc:
            print(f"image-test failed: {exc}", flush=True)
            return 1
        finally:
            for container in stack.containers:
                (work / f"{container.name}.log").write_text(container.log())
            stack.remove()
    print(f"image-test ok: {line}", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as exc:  # before the stack exists: docker itself
        print(f"image-test failed: {exc}", flush=True)
        sys.exit(1)
