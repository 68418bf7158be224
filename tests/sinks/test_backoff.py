"""The pure retry helpers: capped exponential backoff with injected jitter, Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from sinks.backoff import backoff_delay, retry_after_seconds


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 0.25), (2, 0.5), (3, 1.0), (7, 16.0), (8, 30.0), (1000, 30.0)],
)
def test_backoff_doubles_up_to_the_cap(attempt: int, expected: float) -> None:
    assert backoff_delay(attempt, base=0.5, cap=60.0, jitter=lambda: 0.5) == expected


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    assert backoff_delay(3, base=1.0, cap=10.0, jitter=lambda: 0.0) == 0.0
    assert backoff_delay(3, base=1.0, cap=10.0, jitter=lambda: 0.75) == 3.0
    rng = random.Random(7)
    delays = [backoff_delay(5, base=1.0, cap=10.0, jitter=rng.random) for _ in range(200)]
    assert all(0.0 <= d < 10.0 for d in delays)
    assert len(set(delays)) == 200  # spread, not one value


@pytest.mark.parametrize(
    ("attempt", "base", "cap"), [(0, 0.5, 60.0), (-1, 0.5, 60.0), (1, -1.0, 1.0), (1, 1.0, -1.0)]
)
def test_backoff_refuses_nonsense(attempt: int, base: float, cap: float) -> None:
    with pytest.raises(ValueError):
        backoff_delay(attempt, base=base, cap=cap)


NOW = datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("-3", 0.0),
        ("Sat, 01 Mar 2025 10:00:30 GMT", 30.0),
        ("Sat, 01 Mar 2025 09:59:00 GMT", 0.0),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value, now=NOW) == expected
