"""The chaos verdict from data alone: exact counts, duplicates and the exact line."""

from __future__ import annotations

from typing import Any

from chaos.verdict import Duplicate, judge, line, totals_line

BAD = [b"not json", b"", b'[{"headers": {}}]']


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
    verdict = judge(12, [A, B, C], [B, A, C], [BAD[1], BAD[0], BAD[2]], BAD)
    assert verdict.ok
    assert (verdict.lost, verdict.duplicates, verdict.unexpected_dead_letters) == ((), (), ())
    assert verdict.line() == (
        "chaos: 12 AIR events in, 3 batches expected, 3 accepted, lost 0, "
        "duplicates 0 (same id 0), unexpected dead letters 0"
    )


def test_lost_batches_are_listed_in_expected_order_and_fail() -> None:
    verdict = judge(7, [A, B, C], [B], BAD, BAD)
    assert verdict.lost == ("r-a", "r-c")
    assert not verdict.ok
    assert verdict.line() == (
        "chaos: 7 AIR events in, 3 batches expected, 1 accepted, lost 2, "
        "duplicates 0 (same id 0), unexpected dead letters 0"
    )


def test_a_resend_with_the_same_id_and_newer_profile_is_a_same_id_duplicate() -> None:
    resent = batch("r-a", "m-a1", "m-a2", tier="PLATINUM")  # user_attributes may differ
    verdict = judge(5, [A, B], [A, B, resent, resent], BAD, BAD)
    assert verdict.duplicates == (
        Duplicate(index=2, source_request_id="r-a", earlier=(0,), same=True),
        Duplicate(index=3, source_request_id="r-a", earlier=(0,), same=True),
    )
    assert verdict.ok
    assert verdict.line() == (
        "chaos: 5 AIR events in, 2 batches expected, 4 accepted, lost 0, "
        "duplicates 2 (same id 2), unexpected dead letters 0"
    )


def test_a_duplicate_under_another_id_fails() -> None:
    merged = batch("r-merged", "m-b", "m-c")  # mParticle cannot drop it
    verdict = judge(5, [A, B, C], [A, B, C, merged], BAD, BAD)
    assert verdict.duplicates == (
        Duplicate(index=3, source_request_id="r-merged", earlier=(1, 2), same=False),
    )
    assert verdict.unexpected_batches == (3,)
    assert not verdict.ok
    assert verdict.line() == (
        "chaos: 5 AIR events in, 3 batches expected, 4 accepted, lost 0, "
        "duplicates 1 (same id 0), unexpected dead letters 0"
    )


def test_a_duplicate_with_the_same_id_but_other_events_fails() -> None:
    other_time = batch("r-b", "m-b", ts=2000)
    other_name = batch("r-c", "m-c", name="ee_y")
    verdict = judge(3, [A, B, C], [A, B, C, other_time, other_name, B], BAD, BAD)
    assert [(d.index, d.same) for d in verdict.duplicates] == [(3, False), (4, False), (5, True)]
    assert not verdict.ok
    assert verdict.line().endswith("duplicates 3 (same id 1), unexpected dead letters 0")


def test_unexpected_dead_letters_and_a_bad_input_that_never_arrived() -> None:
    dead = [BAD[0], b'{"air": {"event_id": "e-1"}}', BAD[0], BAD[2]]  # BAD[0] twice: re-run
    verdict = judge(9, [A], [A], dead, BAD)
    assert verdict.unexpected_dead_letters == (b'{"air": {"event_id": "e-1"}}',)
    assert verdict.missing_dead_letters == (1,)  # the empty body is lost
    assert verdict.lost == ()
    assert not verdict.ok
    assert verdict.line() == (
        "chaos: 9 AIR events in, 1 batches expected, 1 accepted, lost 1, "
        "duplicates 0 (same id 0), unexpected dead letters 1"
    )


def test_first_copies_that_differ_from_airmp_map_are_noted_not_failed() -> None:
    verdict = judge(2, [A, B], [A, batch("r-b", "m-b", ts=5)], BAD, BAD)
    assert verdict.differing == ("r-b",)
    assert verdict.ok


def test_totals_line_sums_every_count() -> None:
    one = judge(5, [A, B], [A, B, A], BAD, BAD)
    two = judge(7, [A, B, C], [A], [*BAD, b"x"], BAD)
    assert totals_line([one, two]) == (
        "chaos: 12 AIR events in, 5 batches expected, 4 accepted, lost 2, "
        "duplicates 1 (same id 1), unexpected dead letters 1"
    )
    assert line(1, 2, 3, 4, 5, 6, 7) == (
        "chaos: 1 AIR events in, 2 batches expected, 3 accepted, lost 4, "
        "duplicates 5 (same id 6), unexpected dead letters 7"
    )
