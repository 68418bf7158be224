"""The chaos load: deterministic from the seed, one key per wallet, late and re-delivered
events, and bad input that the connector must dead-letter; reward requests, refused ones
and re-delivered ones; the routes: Kafka or one of the workers' HTTP edges."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict

import orjson
import pytest

import mappers
from chaos.load import (
    AUDIENCE,
    AUDIENCE_REDELIVERED,
    AUDIENCE_TRIGGER,
    BAD_KINDS,
    CONNECT,
    CONNECTOR_ID,
    EXTERNAL_KEY,
    FIREHOSE,
    FIREHOSE_IDENTITY,
    KAFKA,
    REFUSED_KINDS,
    REWARD,
    REWARD_REDELIVERED,
    REWARD_TRIGGERS,
    UNKNOWN_IDENTITY,
    UNKNOWN_TRIGGER,
    UNKNOWN_TRIGGER_KIND,
    UNREADABLE_REWARD,
    WEBHOOK,
    Message,
    audience_customers,
    build,
    card,
)
from mappers import connect, firehose
from mappers.rewards import RewardRequest
from tests.firehose_oracle import Check


def asked(message: Message) -> RewardRequest:
    """The reward request a message makes: itself on the reward topic, or what the edge
    it is posted to produces."""
    if message.route == FIREHOSE:
        membership = firehose.membership(orjson.loads(message.value), FIREHOSE_IDENTITY, {})
        assert not membership.rejected
        [request] = membership.rewards
        return request
    if message.route == CONNECT:
        return connect.reward_request(message.value, CONNECTOR_ID)
    return RewardRequest.from_bytes(message.value)


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


def test_rewards_leave_the_notifications_of_a_seed_as_they_were() -> None:
    with_rewards = build(9, 150, min_events=3_000, rewards=100)
    assert with_rewards.messages == build(9, 150, min_events=3_000).messages
    assert with_rewards == build(9, 150, min_events=3_000, rewards=100)
    assert with_rewards.rewards != build(10, 150, min_events=3_000, rewards=100).rewards
    assert build(9, 150).rewards == ()


def test_reward_requests_several_per_customer_keyed_by_identity_in_order() -> None:
    load = build(9, 150, min_events=3_000, rewards=100)
    kinds = Counter(m.kind for m in load.rewards)
    assert kinds == {
        REWARD: 99,
        REWARD_REDELIVERED: 6,
        UNKNOWN_IDENTITY: 2,
        UNKNOWN_TRIGGER_KIND: 2,
        UNREADABLE_REWARD: 2,
    }
    assert len(load.customers) == 25 and len(load.grantable) == 99
    wallets = {m.wallet for m in load.messages if m.wallet}
    assert {str(c) for c in load.customers} <= wallets  # customers among the round's wallets
    known = {spec.partition("=")[0] for spec in REWARD_TRIGGERS}
    cards = {w["identities"][0]["value"]: w["walletId"] for w in load.air_wallets()}
    assert cards == {card(c): str(c) for c in load.customers}
    per_customer: Counter[str] = Counter()
    times: dict[bytes, list[str]] = defaultdict(list)
    for message in load.rewards:
        if message.kind not in (REWARD, REWARD_REDELIVERED):
            continue
        request = asked(message)
        assert message.key == request.key == card(int(message.wallet)).encode()
        assert set(request.triggers) <= known and message.reference == request.reference
        if message.kind == REWARD:
            per_customer[message.wallet] += 1
        if message.kind == REWARD and message.route == KAFKA:  # the edges' say "now"
            times[message.key].append(request.requested_at.isoformat())
    assert min(per_customer.values()) >= 2 and max(per_customer.values()) <= 6
    assert all(t == sorted(t) for t in times.values())  # each customer's in order


def test_refused_and_redelivered_reward_requests() -> None:
    load = build(4, 150, min_events=3_000, rewards=100)
    first: dict[bytes, int] = {}
    cards = {w["identities"][0]["value"] for w in load.air_wallets()}
    for i, message in enumerate(load.rewards):
        if message.kind == REWARD_REDELIVERED:
            assert message.value in first  # the same request, the same reference, again
            assert load.rewards[first[message.value]].reference == message.reference
        first.setdefault(message.value, i)
        if message.kind == UNKNOWN_IDENTITY:
            assert RewardRequest.from_bytes(message.value).identity_value not in cards
        if message.kind == UNKNOWN_TRIGGER_KIND:
            request = RewardRequest.from_bytes(message.value)
            assert request.identity_value in cards and request.triggers == (UNKNOWN_TRIGGER,)
        if message.kind == UNREADABLE_REWARD:
            with pytest.raises(ValueError):
                RewardRequest.from_bytes(message.value)
    assert len(load.refused) == len(set(load.refused)) == 6
    assert load.count(REWARD_REDELIVERED) == 6
    grantable = [m.reference for m in load.rewards if m.kind == REWARD]
    assert load.grantable == grantable and len(set(grantable)) == len(grantable)
    refused = set(load.refused)
    assert not any(m.value in refused for m in load.rewards if m.kind == REWARD)


def test_a_third_of_the_wallets_whole_and_of_the_bad_inputs_go_to_the_air_webhook() -> None:
    load = build(9, 150, min_events=3_000, bad_inputs=12)
    routes: dict[str, set[str]] = defaultdict(set)
    for message in load.messages:
        if message.wallet:
            routes[message.wallet].add(message.route)
    assert all(len(r) == 1 for r in routes.values())  # one path per wallet keeps its order
    posted = sum(1 for r in routes.values() if r == {WEBHOOK})
    assert 150 * 0.25 < posted < 150 * 0.42
    assert {m.route for m in load.messages} == {KAFKA, WEBHOOK}
    bad = Counter(m.route for m in load.messages if m.kind in BAD_KINDS)
    assert bad[WEBHOOK] > 0 and bad[KAFKA] > 0
    # The webhook keys by walletId: the Kafka key a message would have had is unused.
    assert load.routed(WEBHOOK) == sum(1 for m in load.messages if m.route == WEBHOOK)


def test_reward_requests_through_the_edges_and_their_references() -> None:
    load = build(4, 150, min_events=3_000, rewards=400)
    grantable = [m for m in load.rewards if m.kind == REWARD]
    routes = Counter(m.route for m in grantable)
    assert routes.keys() == {KAFKA, FIREHOSE, CONNECT}
    assert 0.2 < routes[FIREHOSE] / len(grantable) < 0.4
    assert 0.08 < routes[CONNECT] / len(grantable) < 0.22
    assert {m.route for m in load.rewards if m.kind in REFUSED_KINDS} == {KAFKA}
    references = [m.reference for m in grantable]
    assert len(set(references)) == len(references)  # each its own reward
    assert load.grantable == references
    given = 0
    for message in load.rewards:
        if message.route == FIREHOSE:
            body = orjson.loads(message.value)
            assert body["account"]["account_settings"] == {
                "air_connector_id": CONNECTOR_ID,
                "air_external_key": EXTERNAL_KEY,
            }
        if message.route == CONNECT:
            given += "walletTransaction" in orjson.loads(message.value)["body"]
        if message.route != KAFKA:
            assert asked(message).reference == message.reference
    assert 0 < given < routes[CONNECT]  # with a reference of its own, and without
    again = [m for m in load.rewards if m.kind == REWARD_REDELIVERED and m.route != KAFKA]
    assert again  # mParticle sending a request again: the same body (the same id)
    firsts = {m.value: m for m in grantable}
    assert all(firsts[m.value].reference == m.reference for m in again)


def test_the_firehose_requests_are_mparticles(firehose_oracle: dict[str, Check]) -> None:
    load = build(4, 150, min_events=3_000, rewards=400)
    check = firehose_oracle["AudienceMembershipChangeRequest"]
    bodies = [orjson.loads(m.value) for m in load.rewards if m.route == FIREHOSE]
    assert bodies and [check(b) for b in bodies] == [[] for _ in bodies]


def test_a_large_audience_sent_twice_asks_for_each_profile_once() -> None:
    plain, load = build(4, 150, rewards=400), build(4, 150, rewards=400, audience=500)
    assert [m for m in load.rewards if m.kind not in (AUDIENCE, AUDIENCE_REDELIVERED)] == list(
        plain.rewards
    )
    kinds = [m.kind for m in load.rewards]
    first, again = kinds.index(AUDIENCE), kinds.index(AUDIENCE_REDELIVERED)
    n = len(plain.rewards)  # the copy goes in three quarters in, then the first a quarter in
    assert (first, again, kinds.count(AUDIENCE), kinds.count(AUDIENCE_REDELIVERED)) == (
        (n + 1) // 4,
        n * 3 // 4 + 1,
        1,
        1,
    )
    big, copy = load.rewards[first], load.rewards[again]
    assert (copy.value, copy.references, copy.route) == (big.value, big.references, FIREHOSE)
    membership = firehose.membership(orjson.loads(big.value), FIREHOSE_IDENTITY, {})
    assert not membership.rejected
    assert [r.identity_value for r in membership.rewards] == [
        card(n) for n in audience_customers(500)
    ]
    assert {t for r in membership.rewards for t in r.triggers} == {AUDIENCE_TRIGGER}
    assert big.asks == tuple(r.reference for r in membership.rewards)
    assert len(set(big.asks)) == 500
    at = load.grantable.index(big.asks[0])  # the audience's, together, among the others
    assert load.grantable[at : at + 500] == list(big.asks)
    assert load.grantable[:at] + load.grantable[at + 500 :] == plain.grantable
    wallets = [w["walletId"] for w in load.air_wallets()]
    assert wallets == [w["walletId"] for w in plain.air_wallets()] + [
        str(n) for n in audience_customers(500)
    ]


def test_the_large_audience_is_mparticles(firehose_oracle: dict[str, Check]) -> None:
    load = build(4, 150, rewards=400, audience=300)
    [big] = [m for m in load.rewards if m.kind == AUDIENCE]
    body = orjson.loads(big.value)
    assert firehose_oracle["AudienceMembershipChangeRequest"](body) == []
    hashed = [p for p in body["user_profiles"] if len(p["user_identities"]) == 2]
    assert 0.2 < len(hashed) / 300 < 0.4  # some with a hashed copy beside the raw identity
