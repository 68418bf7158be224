"""`airmp replay`'s arguments and range, without Kafka: exact values and exact messages."""

from __future__ import annotations

import pytest

from ops.replay.range import (
    Bounds,
    ReplayError,
    ReplayRange,
    Span,
    parse_offsets,
    parse_time,
)

MIDNIGHT = 1740873600000  # 2025-03-02T00:00:00Z


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2025-03-02", MIDNIGHT),
        ("2025-03-02T09:30:00Z", MIDNIGHT + 34_200_000),
        ("2025-03-02t09:30:00z", MIDNIGHT + 34_200_000),
        ("2025-03-02T10:30:00+01:00", MIDNIGHT + 34_200_000),
        ("2025-03-02T09:30:00.250", MIDNIGHT + 34_200_250),  # no offset: UTC
        (" 1740873600000 ", MIDNIGHT),
        ("0", 0),
    ],
)
def test_times(text: str, ms: int) -> None:
    assert parse_time(text, "--from-timestamp") == ms


def test_bad_times_name_the_option() -> None:
    with pytest.raises(ReplayError) as bad:
        parse_time("last tuesday", "--to-timestamp")
    assert str(bad.value) == (
        "--to-timestamp 'last tuesday' is not an ISO 8601 date/time (2025-03-02, "
        "2025-03-02T09:30:00Z, 2025-03-02T10:30:00+01:00) nor epoch milliseconds"
    )
    with pytest.raises(ReplayError) as early:
        parse_time("1969-12-31", "--from-timestamp")
    assert str(early.value) == "--from-timestamp '1969-12-31' is before 1970"


def test_offsets() -> None:
    assert parse_offsets("1200") == 1200
    assert parse_offsets(" 0:1200, 3 : 980 ") == {0: 1200, 3: 980}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "0:1,x",
            "--from-offset '0:1,x': expected an offset (1200) or partition:offset pairs "
            "(0:1200,1:980)",
        ),
        (
            "-5",
            "--from-offset '-5': expected an offset (1200) or partition:offset pairs "
            "(0:1200,1:980)",
        ),
        ("1:5,1:6", "--from-offset '1:5,1:6': partition 1 is given twice"),
    ],
)
def test_bad_offsets(text: str, message: str) -> None:
    with pytest.raises(ReplayError) as bad:
        parse_offsets(text)
    assert str(bad.value) == message


def test_options() -> None:
    assert ReplayRange.from_options("2025-03-02", None, "2025-03-03") == ReplayRange(
        from_ms=MIDNIGHT, to_ms=MIDNIGHT + 86_400_000
    )
    assert ReplayRange.from_options(None, "0:7", None) == ReplayRange(from_offsets={0: 7})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ((None, None, None), "give exactly one of --from-timestamp T and --from-offset O"),
        (("2025-03-02", "5", None), "give exactly one of --from-timestamp T and --from-offset O"),
        (("2025-03-02", None, "2025-03-02"), "--to-timestamp must be after --from-timestamp"),
    ],
)
def test_bad_options(options: tuple[str | None, str | None, str | None], message: str) -> None:
    with pytest.raises(ReplayError) as bad:
        ReplayRange.from_options(*options)
    assert str(bad.value) == message


# Three partitions: 0 trimmed by retention (begins at 10), 1 empty, 2 with 30 messages.
BOUNDS = {0: Bounds(10, 50), 1: Bounds(0, 0), 2: Bounds(0, 30)}


def test_spans_from_an_offset_start_at_the_oldest_and_stop_at_the_end() -> None:
    assert ReplayRange(from_offsets=5).spans("air", BOUNDS) == {0: Span(10, 50), 2: Span(5, 30)}
    assert ReplayRange(from_offsets=40).spans("air", BOUNDS) == {0: Span(40, 50)}
    assert ReplayRange(from_offsets={2: 29}).spans("air", BOUNDS) == {2: Span(29, 30)}


def test_spans_of_unknown_partitions_is_an_error() -> None:
    with pytest.raises(ReplayError) as bad:
        ReplayRange(from_offsets={1: 0, 7: 0, 4: 0}).spans("air", BOUNDS)
    assert str(bad.value) == "--from-offset: topic air has no partition 4 (partitions 0-2)"


def test_spans_by_time() -> None:
    bounds = {
        0: Bounds(10, 50, at_from=20, at_to=45),
        1: Bounds(0, 0),  # nothing at all
        2: Bounds(0, 30, at_from=None, at_to=None),  # nothing since the start time
        3: Bounds(0, 30, at_from=3, at_to=None),  # nothing after the stop time: to the end
    }
    rng = ReplayRange(from_ms=MIDNIGHT, to_ms=MIDNIGHT + 1)
    assert rng.spans("air", bounds) == {0: Span(20, 45), 3: Span(3, 30)}
