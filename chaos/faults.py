"""The fault schedule of a round: a pure function of the seed, so `--seed N` replays it.

Times are seconds after production starts. Worker faults come every `gap` seconds (the
first after half a gap): SIGKILL mostly, SIGTERM now and then, each followed by a restart
after a short pause. The broker is stopped and started once mid-run. The local mParticle
endpoint cycles through 429 + Retry-After, 5xx, slow answers (some beyond the sink's
timeout), dropped connections, and accept-then-drop, one episode per slot, so every kind
occurs whenever there are at least as many slots as kinds. The local AIR gets the same kinds
of episode on slots of its own (accept-then-drop: AIR granted, the worker never heard), drawn
from a random generator of their own, so a seed's other faults stay what they were.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

SIGKILL = "sigkill"
SIGTERM = "sigterm"
BROKER_RESTART = "broker_restart"
SCALE_IN = "scale_in"  # SIGTERM, and the worker stays down
SCALE_OUT = "scale_out"  # a worker that was down starts
MOVES = (SIGTERM, SCALE_IN, SCALE_OUT)
ENDPOINT = "endpoint"
ENDPOINT_KINDS = ("rate_limit", "server_error", "slow", "drop", "drop_after_accept")
AIR = "air"  # the local AIR's POST /_mock/faults
AIR_KINDS = ENDPOINT_KINDS

FaultValue = int | float | None


@dataclass(frozen=True)
class Action:
    at: float
    kind: str
    worker: int = -1  # SIGKILL / SIGTERM: which worker
    pause: float = 0.0  # worker: seconds before the restart; broker: seconds down
    changes: tuple[tuple[str, FaultValue], ...] = ()  # endpoint, AIR: the /_mock/faults body
    label: str = ""  # endpoint, AIR: which kind of episode

    def describe(self) -> str:
        if self.kind in (SIGKILL, SIGTERM):
            return f"{self.kind.upper()} worker {self.worker}, restart after {self.pause:.1f}s"
        if self.kind == SCALE_IN:
            return f"scale in: SIGTERM worker {self.worker}, no restart"
        if self.kind == SCALE_OUT:
            return f"scale out: start worker {self.worker}"
        if self.kind == BROKER_RESTART:
            return f"stop the Kafka broker for {self.pause:.1f}s, then start it again"
        body = ", ".join(f"{k}={v}" for k, v in self.changes)
        return f"{'AIR' if self.kind == AIR else 'endpoint'} {self.label}: {body}"


@dataclass(frozen=True)
class Plan:
    """What to inject; `Plan.none()` is the sanity check with no faults at all."""

    workers: int = 3
    gap: tuple[float, float] = (10.0, 30.0)
    min_kills: int = 2
    min_terms: int = 1
    term_share: float = 0.25  # of the worker faults beyond the minimums
    restart_pause: tuple[float, float] = (1.0, 5.0)
    broker_restarts: int = 1
    broker_down: tuple[float, float] = (2.0, 6.0)
    endpoint_slot: float = 7.0  # seconds per endpoint episode
    sink_timeout: float = 5.0  # AIRMP_SINK_TIMEOUT_SECONDS: some slow answers exceed it
    air_slot: float = 8.0  # seconds per AIR episode; 0: no AIR faults
    air_timeout: float = 3.0  # AIRMP_AIR_TIMEOUT_SECONDS: some slow answers exceed it
    enabled: bool = True
    rolling: bool = False  # the moves of a deploy and of autoscaling, no faults
    restart_rounds: int = 1  # rolling: restarts of every worker in turn
    scaling: bool = True  # rolling: then 1 -> all -> 1 workers

    @staticmethod
    def none(workers: int = 3) -> Plan:
        return Plan(workers=workers, enabled=False)


def schedule(seed: int, duration: float, plan: Plan) -> list[Action]:
    """Every fault of a round, in time order, from the seed alone."""
    if not plan.enabled:
        return []
    if plan.rolling:
        return rolling(duration, plan.workers, plan.restart_rounds, plan.scaling)
    if min(plan.gap) <= 0 or plan.endpoint_slot <= 0 or plan.air_slot < 0:
        raise ValueError("fault gaps must be positive")
    rng = random.Random(f"chaos-faults/{seed}")
    actions = _worker_faults(rng, duration, plan)
    for _ in range(plan.broker_restarts):
        at = rng.uniform(0.35, 0.65) * duration
        actions.append(Action(at, BROKER_RESTART, pause=rng.uniform(*plan.broker_down)))
    actions += _episodes(rng, duration, plan.endpoint_slot, plan.sink_timeout, ENDPOINT)
    if plan.air_slot > 0:
        air_rng = random.Random(f"chaos-air-faults/{seed}")
        actions += _episodes(air_rng, duration, plan.air_slot, plan.air_timeout, AIR)
    order = {SIGKILL: 0, SIGTERM: 0, BROKER_RESTART: 1, ENDPOINT: 2, AIR: 3}
    return sorted(actions, key=lambda a: (a.at, order[a.kind], a.worker))


def rolling(duration: float, workers: int, rounds: int = 1, scaling: bool = True) -> list[Action]:
    """`rounds` rolling restarts of every worker, then (`scaling`) scale in to one, out to
    all, in to one; evenly over the first 85% of `duration`, so the last move settles
    under load."""
    extra = range(workers - 1, 0, -1)  # the highest first, as a StatefulSet scales in
    steps = [
        [Action(0, SIGTERM, worker=w, pause=0.5)] for _ in range(rounds) for w in range(workers)
    ]
    if scaling:
        steps.append([Action(0, SCALE_IN, worker=w) for w in extra])
        steps.append([Action(0, SCALE_OUT, worker=w) for w in reversed(extra)])
        steps.append([Action(0, SCALE_IN, worker=w) for w in extra])
    gap = duration * 0.85 / len(steps)
    return [replace(a, at=gap * (i + 0.5)) for i, step in enumerate(steps) for a in step]


def _worker_faults(rng: random.Random, duration: float, plan: Plan) -> list[Action]:
    times: list[float] = []
    t = rng.uniform(*plan.gap) / 2
    while t <= duration - 2:
        times.append(t)
        t += rng.uniform(*plan.gap)
    needed = plan.min_kills + plan.min_terms
    if len(times) < needed:
        raise ValueError(
            f"{duration:.0f}s of production fits {len(times)} worker faults, "
            f"{needed} needed: lengthen the run or shorten the gap"
        )
    forced = rng.sample(range(len(times)), needed)
    terms, kills = set(forced[: plan.min_terms]), set(forced[plan.min_terms :])
    actions = []
    for i, at in enumerate(times):
        if i in terms:
            kind = SIGTERM
        elif i in kills:
            kind = SIGKILL
        else:
            kind = SIGTERM if rng.random() < plan.term_share else SIGKILL
        worker = rng.randrange(plan.workers)
        actions.append(Action(at, kind, worker=worker, pause=rng.uniform(*plan.restart_pause)))
    return actions


def _episodes(
    rng: random.Random, duration: float, slot_seconds: float, timeout: float, target: str
) -> list[Action]:
    """One episode per slot for the endpoint or AIR (`target`), every kind in each cycle."""
    slots = max(len(ENDPOINT_KINDS), int((duration - 4) // slot_seconds))
    width = (duration - 4) / slots
    kinds: list[str] = []
    while len(kinds) < slots:
        cycle = list(ENDPOINT_KINDS)
        rng.shuffle(cycle)
        kinds += cycle
    actions = []
    for slot, kind in zip(range(slots), kinds, strict=False):
        start = 2 + slot * width
        at = start + rng.uniform(0, width / 2)
        changes: tuple[tuple[str, FaultValue], ...]
        if kind == "rate_limit":
            changes = (("rate_limit_next", rng.randint(1, 5)), ("retry_after", rng.choice([1, 2])))
        elif kind == "server_error":
            status = rng.choice([500, 502, 503, 504])
            changes = (("server_error_next", rng.randint(2, 6)), ("server_error_status", status))
        elif kind == "slow":
            # Now and then slower than the client's timeout: it gives up, the endpoint still
            # accepts (the re-send is a duplicate with the same source_request_id), AIR
            # still grants (the re-send carries the same reference).
            slow = timeout + 1.5 if rng.random() < 0.3 else rng.uniform(0.3, 2.0)
            changes = (("delay_seconds", round(slow, 2)),)
            end = min(at + rng.uniform(3.0, 8.0), start + width)
            actions.append(Action(end, target, changes=(("delay_seconds", 0.0),), label="fast"))
        elif kind == "drop":
            changes = (("drop_next", rng.randint(1, 4)),)
        else:
            changes = (("drop_after_accept_next", rng.randint(1, 4)),)
        actions.append(Action(at, target, changes=changes, label=kind))
    return actions


# Sent to the endpoint and to AIR when production ends: no more slow answers. The counted
# faults (`*_next`) stay armed until requests use them up, so a late episode is still
# exercised.
ENDPOINT_AFTER_PRODUCTION: dict[str, FaultValue] = {"delay_seconds": 0.0}
