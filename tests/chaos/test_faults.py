"""The fault schedule is a function of the seed alone (`--seed N` replays a round)."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from chaos.faults import (
    BROKER_RESTART,
    ENDPOINT,
    ENDPOINT_KINDS,
    SIGKILL,
    SIGTERM,
    Plan,
    schedule,
)
from chaos.run import DEFAULT, QUICK, Profile
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
    worker_times = [a.at for a in actions if a.kind in (SIGKILL, SIGTERM)]
    gaps = [b - a for a, b in itertools.pairwise(worker_times)]
    assert all(plan.gap[0] <= g <= plan.gap[1] for g in gaps)
    assert all(0 <= a.worker < plan.workers for a in actions if a.kind in (SIGKILL, SIGTERM))
    for action in actions:
        if action.kind in (SIGKILL, SIGTERM):
            assert plan.restart_pause[0] <= action.pause <= plan.restart_pause[1]


def test_no_faults_and_too_short_a_run() -> None:
    assert schedule(7, 45, Plan.none()) == []
    with pytest.raises(ValueError, match="worker faults"):
        schedule(7, 12, Plan())
