"""The chaos load: deterministic from the seed, one key per wallet, late and re-delivered
events, and bad input that the connector must dead-letter."""

from __future__ import annotations

import itertools
from collections import defaultdict

import orjson

import mappers
from chaos.load import BAD_KINDS, build


def test_the_same_seed_builds_the_same_load() -> None:
    assert build(5, 40) == build(5, 40)
    assert build(5, 40).messages != build(6, 40).messages


def test_sizes_keys_late_and_redelivered_events() -> None:
    load = build(9, 150, min_events=3_000)
    assert load.wallets == 150 and len(load.good) >= 3_000
    keys: dict[str, set[bytes]] = defaultdict(set)
    for message in load.messages:
        if message.wallet:
            keys[message.wallet].add(message.key)
    assert len(keys) >= 150
    assert all(len(k) == 1 for k in keys.values())  # one key per wallet keeps its order
    kinds = {next(iter(k)) == w.encode() for w, k in keys.items()}
    assert kinds == {True, False}  # some by walletId, some by card number
    assert load.count("late") > 0 and load.count("redelivered") > 0
    names = [orjson.loads(v)["headers"]["eventName"] for v in load.good]
    assert names.count("SERVICE.WALLET.DELETE") > 10  # wallets leave
    newest: dict[str, str] = {}
    seen: set[bytes] = set()
    for message in load.messages:
        if not message.wallet:
            continue
        date = orjson.loads(message.value)["headers"]["eventDate"]
        if message.kind == "late":
            assert date < newest[message.wallet]  # arrives after newer events of its wallet
        if message.kind == "redelivered":
            assert message.value in seen
        newest[message.wallet] = max(date, newest.get(message.wallet, ""))
        seen.add(message.value)


def test_bad_input_is_distinct_evenly_placed_and_dead_lettered() -> None:
    load = build(3, 30, bad_inputs=12)
    assert len(load.bad) == 12 and len(set(load.bad)) == 12
    assert [load.messages[i].kind for i in load.bad_positions] == [
        BAD_KINDS[k % len(BAD_KINDS)] for k in range(12)
    ]
    gaps = [b - a for a, b in itertools.pairwise(load.bad_positions)]
    assert max(gaps) - min(gaps) <= 2
    options = mappers.MappingOptions()
    for raw in load.bad:
        parsed = mappers.parse(raw)
        if not isinstance(parsed, mappers.Rejection):
            assert parsed.wallet_id is None
            assert mappers.process(parsed, None, options).rejection is not None
