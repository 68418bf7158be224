"""Property-based: random and mutated notifications never make a mapper raise.

The options are strict: process() re-raises what a mapper raises instead of turning it into
a mapping_error rejection (what the worker does), so a mapper crash fails these tests."""

from __future__ import annotations

import copy
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappers import (
    Mapper,
    MappingOptions,
    Notification,
    RejectReason,
    WalletState,
    parse,
    process,
)
from mappers.models import validate_record
from testkit.cases import CASES

OPTIONS = MappingOptions(strict=True)
SEEDS = [CASES[name]()[0] for name in sorted(CASES)]
NAMES = sorted({doc["headers"]["eventName"] for doc in SEEDS})

WORDS = [*NAMES, "DELETE", "REDEEM", "ECOUPON", "POINTS", "SETTLE"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False),
    st.text(max_size=12), st.sampled_from(WORDS),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = doc
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return doc


def _check(outcome_record: Any, rejected: Any, duplicate: bool, counters: dict[str, int]) -> None:
    if outcome_record is not None:
        validate_record(outcome_record)  # every record produced is a valid batch
        assert rejected is None
    else:
        assert rejected is not None or duplicate or counters
    assert rejected is None or rejected.kind != RejectReason.MAPPING_ERROR


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.booleans())
def test_mutated_notifications_never_raise(doc: dict[str, Any], with_state: bool) -> None:
    notification = parse(orjson.dumps(doc))
    state = WalletState() if with_state else None
    outcome = process(notification, state, OPTIONS)  # type: ignore[arg-type]
    _check(outcome.record, outcome.rejection, outcome.duplicate, outcome.counters)
    if outcome.state is not None:
        assert (
            WalletState.from_dict(orjson.loads(orjson.dumps(outcome.state.to_dict())))
            == outcome.state
        )


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        json_values,
        st.dictionaries(
            st.sampled_from(["headers", "request", "atomicOperations", "enrichmentData"]),
            json_values,
        ),
    )
)
def test_random_json_never_raises(value: Any) -> None:
    outcome = Mapper(OPTIONS).map_bytes(orjson.dumps(value))
    _check(outcome.record, outcome.rejection, outcome.duplicate, outcome.counters)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_never_raise(data: bytes) -> None:
    outcome = Mapper(OPTIONS).map_bytes(data)
    assert outcome.record is None or isinstance(parse(data), Notification)
