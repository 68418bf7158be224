"""The edges benchmark's audiences (issue #21): the largest membership change fits the
worker's body limit and one more profile would not, each profile is one reward request,
and the report judges the 10,000-profile answer only."""

from __future__ import annotations

import math

import orjson
import pytest

from bench import edges, report
from config.settings import DEFAULT_MAX_MESSAGE_BYTES
from mappers import firehose
from mappers.vocabulary import FIREHOSE_IDENTITY_TYPES


def test_the_largest_body_is_the_most_profiles_under_the_limit() -> None:
    limit = 1024 * 1024
    count, body = edges.largest_body(limit, "6599")
    assert len(body) <= limit < len(edges.membership_body(count + 1, "6599"))
    assert len(orjson.loads(body)["user_profiles"]) == count


def test_every_profile_is_one_reward_request() -> None:
    request = orjson.loads(edges.membership_body(1_000, "6500"))
    asked = firehose.membership(request, FIREHOSE_IDENTITY_TYPES["other"], {})
    assert len(asked.rewards) == 1_000 and not asked.rejected
    assert len({r.key for r in asked.rewards}) == 1_000


def test_the_body_limit_is_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRMP_MAX_MESSAGE_BYTES", raising=False)
    assert edges.body_limit({}) == DEFAULT_MAX_MESSAGE_BYTES
    monkeypatch.setenv("AIRMP_MAX_MESSAGE_BYTES", "3145728")  # the worker inherits ours
    assert edges.body_limit({}) == 3_145_728
    assert edges.body_limit({"AIRMP_MAX_MESSAGE_BYTES": "2097152"}) == 2_097_152


def test_only_the_ten_thousand_row_has_the_goal() -> None:
    def run(profiles: int, answer_ms: float, status: str = "200") -> dict[str, object]:
        return edges.AudienceRun(profiles, 1, status, answer_ms, math.nan, 0, False).__dict__

    rows = [
        report._audience_row(run(n, ms, st))
        for n, ms, st in (
            (1_000, 5000.0, "200"),
            (10_000, 900.0, "200"),
            (10_000, 1100.0, "200"),
            (10_000, 10.0, "429"),
        )
    ]
    assert [r[4] for r in rows] == ["", "met", "**missed**", "**missed**"]
    assert rows[1][3] == "10,000 answered <= 1 s"
