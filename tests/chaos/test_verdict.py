"""The chaos verdict from data alone: exact counts, duplicates, rewards and the exact line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chaos.verdict import DeadLetter, Duplicate, Rewards, judge, judge_rewards, line, totals_line

BAD = [b"not json", b"", b'[{"headers": {}}]']
REFUSED = [b'{"identity_value":"6399","reference":"x-404"}', b'{"reference":"x-400"}']
TAIL = ", rewards 0 granted once, 0 twice, 0 missing"


def dl(values: Sequence[bytes], stage: str = "ingest") -> list[DeadLetter]:
    return [(v, stage) for v in values]


def batch(
    srid: str, *mids: str, tier: str = "GOLD", ts: int = 1000, name: str = "ee_x"
) -> dict[str, Any]:
    events = [
        {
            "event_type": "custom_event",
            "data": {
                "event_name": name,
                "custom_event_type": "other",
                "timestamp_unixtime_ms": ts,
                "source_message_id": mid,
            },
        }
        for mid in mids
    ]
    return {
        "environment": "development",
        "user_identities": {"customer_id": "1"},
        "user_attributes": {"tier_id": tier},
        "events": events,
        "source_request_id": srid,
    }


A, B, C = batch("r-a", "m-a1", "m-a2"), batch("r-b", "m-b"), batch("r-c", "m-c")


def test_everything_once_passes() -> None:
    verdict = judge(12, [A, B, C], [B, A, C], dl([BAD[1], BAD[0], BAD[2]]), BAD)
    assert verdict.ok
    assert (verdict.lost, verdict.duplicates, verdict.unexpected_dead_letters) == ((), (), ())
    assert verdict.line() == (
        "chaos: 12 AIR events in, 3 batches expected, 3 accepted, lost 0, "
        "duplicates 0 (same id 0), unexpected dead letters 0" + TAIL
    )


def test_lost_batches_are_listed_in_expected_order_and_fail() -> None:
    verdict = judge(7, [A, B, C], [B], dl(BAD), BAD)
    assert verdict.lost == ("r-a", "r-c")
    assert not verdict.ok
    assert verdict.line() == (
        "chaos: 7 AIR events in, 3 batches expected, 1 accepted, lost 2, "
        "duplicates 0 (same id 0), unexpected dead letters 0" + TAIL
    )


def test_a_resend_with_the_same_id_and_newer_profile_is_a_same_id_duplicate() -> None:
    resent = batch("r-a", "m-a1", "m-a2", tier="PLATINUM")  # user_attributes may differ
    verdict = judge(5, [A, B], [A, B, resent, resent], dl(BAD), BAD)
    assert verdict.duplicates == (
        Duplicate(index=2, source_request_id="r-a", earlier=(0,), same=True),
        Duplicate(index=3, source_request_id="r-a", earlier=(0,), same=True),
    )
    assert verdict.ok
    assert verdict.line() == (
        "chaos: 5 AIR events in, 2 batches expected, 4 accepted, lost 0, "
        "duplicates 2 (same id 2), unexpected dead letters 0" + TAIL
    )


def test_a_duplicate_under_another_id_fails() -> None:
    merged = batch("r-merged", "m-b", "m-c")  # mParticle cannot drop it
    verdict = judge(5, [A, B, C], [A, B, C, merged], dl(BAD), BAD)
    assert verdict.duplicates == (
        Duplicate(index=3, source_request_id="r-merged", earlier=(1, 2), same=False),
    )
    assert verdict.unexpected_batches == (3,)
    assert not verdict.ok
    assert verdict.line() == (
        "chaos: 5 AIR events in, 3 batches expected, 4 accepted, lost 0, "
        "duplicates 1 (same id 0), unexpected dead letters 0" + TAIL
    )


def test_a_duplicate_with_the_same_id_but_other_events_fails() -> None:
    other_time = batch("r-b", "m-b", ts=2000)
    other_name = batch("r-c", "m-c", name="ee_y")
    verdict = judge(3, [A, B, C], [A, B, C, other_time, other_name, B], dl(BAD), BAD)
    assert [(d.index, d.same) for d in verdict.duplicates] == [(3, False), (4, False), (5, True)]
    assert not verdict.ok
    assert verdict.line().endswith("duplicates 3 (same id 1), unexpected dead letters 0" + TAIL)


def test_unexpected_dead_letters_and_a_bad_input_that_never_arrived() -> None:
    dead = [BAD[0], b'{"air": {"event_id": "e-1"}}', BAD[0], BAD[2]]  # BAD[0] twice: re-run
    verdict = judge(9, [A], [A], dl(dead), BAD)
    assert verdict.unexpected_dead_letters == (b'{"air": {"event_id": "e-1"}}',)
    assert verdict.missing_dead_letters == (1,)  # the empty body is lost
    assert verdict.lost == ()
    assert not verdict.ok
    assert verdict.line() == (
        "chaos: 9 AIR events in, 1 batches expected, 1 accepted, lost 1, "
        "duplicates 0 (same id 0), unexpected dead letters 1" + TAIL
    )


def test_first_copies_that_differ_from_airmp_map_are_noted_not_failed() -> None:
    verdict = judge(2, [A, B], [A, batch("r-b", "m-b", ts=5)], dl(BAD), BAD)
    assert verdict.differing == ("r-b",)
    assert verdict.ok


def test_rewards_by_reference_once_twice_missing_and_unexpected() -> None:
    granted = {"r1": 1, "r2": 2, "r4": 1, "zz": 1, "r5": 0}
    rewards = judge_rewards(["r1", "r2", "r3", "r4", "r5", "r1"], granted)
    assert rewards == Rewards(
        expected=5, once=2, twice=("r2",), missing=("r3", "r5"), unexpected=("zz",)
    )
    assert not rewards.ok
    assert judge_rewards(["r1"], {"r1": 1}) == Rewards(expected=1, once=1)
    assert judge_rewards(["r1"], {"r1": 1}).ok


def test_every_reward_granted_once_and_the_refused_dead_lettered_pass() -> None:
    rewards = judge_rewards(["r1", "r2", "r3"], {"r3": 1, "r1": 1, "r2": 1})
    dead = [*dl(BAD), *dl(REFUSED, "reward"), (REFUSED[0], "reward")]  # a re-read: twice
    verdict = judge(4, [A], [A], dead, BAD, REFUSED, rewards)
    assert verdict.ok
    assert (verdict.missing_refusals, verdict.unexpected_dead_letters) == ((), ())
    assert verdict.line() == (
        "chaos: 4 AIR events in, 1 batches expected, 1 accepted, lost 0, "
        "duplicates 0 (same id 0), unexpected dead letters 0, "
        "rewards 3 granted once, 0 twice, 0 missing"
    )


def test_a_reward_granted_twice_or_never_fails() -> None:
    dead = [*dl(BAD), *dl(REFUSED, "reward")]
    twice = judge(4, [A], [A], dead, BAD, REFUSED, judge_rewards(["r1", "r2"], {"r1": 1, "r2": 2}))
    assert not twice.ok
    assert twice.line().endswith(
        "unexpected dead letters 0, rewards 1 granted once, 1 twice, 0 missing"
    )
    never = judge(4, [A], [A], dead, BAD, REFUSED, judge_rewards(["r1", "r2"], {"r2": 1}))
    assert not never.ok
    assert never.rewards.missing == ("r1",)
    assert never.line().endswith(
        "unexpected dead letters 0, rewards 1 granted once, 0 twice, 1 missing"
    )
    unasked = judge(4, [A], [A], dead, BAD, REFUSED, judge_rewards(["r1"], {"r1": 1, "x": 1}))
    assert unasked.rewards.unexpected == ("x",)
    assert not unasked.ok


def test_refused_rewards_must_be_dead_lettered_at_the_reward_stage() -> None:
    granted_one = b'{"reference":"r1"}'  # a grantable request the agent dead-lettered
    dead = [*dl(BAD), (REFUSED[0], "reward"), (REFUSED[1], "ingest"), (granted_one, "reward")]
    verdict = judge(4, [A], [A], dead, BAD, REFUSED, judge_rewards(["r1"], {}))
    assert verdict.missing_refusals == (1,)  # only at another stage: lost
    assert verdict.unexpected_dead_letters == (REFUSED[1], granted_one)
    assert not verdict.ok
    assert verdict.line() == (
        "chaos: 4 AIR events in, 1 batches expected, 1 accepted, lost 1, "
        "duplicates 0 (same id 0), unexpected dead letters 2, "
        "rewards 0 granted once, 0 twice, 1 missing"
    )


def test_totals_line_sums_every_count() -> None:
    one = judge(5, [A, B], [A, B, A], dl(BAD), BAD, (), judge_rewards(["r1", "r2"], {"r1": 1}))
    two = judge(
        7, [A, B, C], [A], dl([*BAD, b"x"]), BAD, (), judge_rewards(["r3"], {"r3": 2, "r4": 3})
    )
    assert totals_line([one, two]) == (
        "chaos: 12 AIR events in, 5 batches expected, 4 accepted, lost 2, "
        "duplicates 1 (same id 1), unexpected dead letters 1, "
        "rewards 1 granted once, 2 twice, 1 missing"
    )
    assert line(1, 2, 3, 4, 5, 6, 7, (8, 9, 10)) == (
        "chaos: 1 AIR events in, 2 batches expected, 3 accepted, lost 4, "
        "duplicates 5 (same id 6), unexpected dead letters 7, "
        "rewards 8 granted once, 9 twice, 10 missing"
    )
