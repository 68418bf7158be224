"""The fault schedule is a function of the seed alone (`--seed N` replays a round)."""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import sys

import pytest

from chaos.faults import (
    AIR,
    AIR_KINDS,
    BROKER_RESTART,
    ENDPOINT,
    ENDPOINT_KINDS,
    SCALE_IN,
    SCALE_OUT,
    SIGKILL,
    SIGTERM,
    Plan,
    schedule,
)
from chaos.run import DEFAULT, QUICK, RESTARTS, ROLLING, Profile
from testkit.processes import ROOT

_SNIPPET = (
    "import chaos.faults as f; from chaos.run import QUICK; "
    "print(f.schedule(1234, QUICK.produce_seconds, QUICK.plan))"
)


def test_the_same_seed_gives_the_same_schedule_in_another_process() -> None:
    outputs = {
        subprocess.run(
            [sys.executable, "-c", _SNIPPET],
            cwd=ROOT,
            env={"PYTHONHASHSEED": str(hash_seed), "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for hash_seed in (1, 2)
    }
    assert outputs == {repr(schedule(1234, QUICK.produce_seconds, QUICK.plan)) + "\n"}
    assert schedule(1234, 45, QUICK.plan) != schedule(1235, 45, QUICK.plan)


@pytest.mark.parametrize("profile", [QUICK, DEFAULT], ids=["quick", "default"])
@pytest.mark.parametrize("seed", range(1, 30))
def test_every_schedule_has_what_the_round_promises(profile: Profile, seed: int) -> None:
    duration, plan = profile.produce_seconds, profile.plan
    actions = schedule(seed, duration, plan)
    assert actions == sorted(actions, key=lambda a: a.at)
    assert all(0 < a.at <= duration for a in actions)
    kinds = [a.kind for a in actions]
    assert kinds.count(SIGKILL) >= 2 and kinds.count(SIGTERM) >= 1
    assert kinds.count(BROKER_RESTART) == 1
    assert {a.label for a in actions if a.kind == ENDPOINT} >= set(ENDPOINT_KINDS)
    assert {a.label for a in actions if a.kind == AIR} >= set(AIR_KINDS)
    for kind, timeout in ((ENDPOINT, plan.sink_timeout), (AIR, plan.air_timeout)):
        slow = [dict(a.changes) for a in actions if (a.kind, a.label) == (kind, "slow")]
        delays = [float(c["delay_seconds"] or 0) for c in slow]
        # Beyond the client's timeout (it gives up, the server still acts), or within it.
        assert all(d == timeout + 1.5 or 0.3 <= d <= 2.0 for d in delays), delays
    worker_times = [a.at for a in actions if a.kind in (SIGKILL, SIGTERM)]
    gaps = [b - a for a, b in itertools.pairwise(worker_times)]
    assert all(plan.gap[0] <= g <= plan.gap[1] for g in gaps)
    assert all(0 <= a.worker < plan.workers for a in actions if a.kind in (SIGKILL, SIGTERM))
    for action in actions:
        if action.kind in (SIGKILL, SIGTERM):
            assert plan.restart_pause[0] <= action.pause <= plan.restart_pause[1]


@pytest.mark.parametrize("seed", [1, 2, 1234])
def test_air_faults_leave_the_other_faults_of_a_seed_as_they_were(seed: int) -> None:
    plan = QUICK.plan
    with_air = schedule(seed, QUICK.produce_seconds, plan)
    without = schedule(seed, QUICK.produce_seconds, dataclasses.replace(plan, air_slot=0))
    assert [a for a in with_air if a.kind != AIR] == without
    air = [a for a in with_air if a.kind == AIR]
    slots = max(len(AIR_KINDS), int((QUICK.produce_seconds - 4) // plan.air_slot))
    slow = sum(a.label == "slow" for a in air)
    assert len(air) == slots + slow  # one episode a slot, and each slow one's end ("fast")
    assert air[0].describe().startswith("AIR ")


def test_no_faults_and_too_short_a_run() -> None:
    assert schedule(7, 45, Plan.none()) == []
    with pytest.raises(ValueError, match="worker faults"):
        schedule(7, 12, Plan())


def test_the_rolling_plan_restarts_each_worker_then_scales_in_out_and_in() -> None:
    actions = schedule(5, 200.0, ROLLING.plan)
    assert [(a.kind, a.worker) for a in actions] == [
        (SIGTERM, 0),
        (SIGTERM, 1),
        (SIGTERM, 2),
        (SCALE_IN, 2),
        (SCALE_IN, 1),
        (SCALE_OUT, 1),
        (SCALE_OUT, 2),
        (SCALE_IN, 2),
        (SCALE_IN, 1),
    ]
    times = sorted({a.at for a in actions})
    assert times == pytest.approx([170 / 6 * (i + 0.5) for i in range(6)])
    assert schedule(5, 200.0, ROLLING.plan) == schedule(6, 200.0, ROLLING.plan)  # no seed
    assert ROLLING.exact and not DEFAULT.exact


def test_the_restarts_plan_restarts_two_workers_six_times() -> None:
    actions = schedule(5, 60.0, RESTARTS.plan)
    assert [(a.kind, a.worker) for a in actions] == [(SIGTERM, 0), (SIGTERM, 1)] * 3
    assert all(a.pause == 0.5 for a in actions) and RESTARTS.plan.workers == 2
