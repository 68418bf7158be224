"""The fan-out agent in process: one membership change off the audience topic -> reward
requests in profile order, one dead letter per profile that cannot be rewarded (that
profile only), a request delivered twice fanned out once, secrets masked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from faust.types import ChannelT

from mappers import firehose
from mappers.rewards import RewardRequest
from streams import audiences
from streams.pipeline import Pipeline, kept
from streams.source import H_AUDIENCE_REFERENCES
from testkit import firehose as fh
from tests.mappers.test_firehose import REQUEST_ID, three_profiles_two_audiences
from tests.streams.test_agents import _agent, _headers, _next, _pipeline, _settings

ACCOUNT = str(fh.ACCOUNT_ID).encode()
SECRETS = {"external_key": fh.EXTERNAL_KEY, "mparticle_firehose_token": "firehose-token-x"}


@pytest.fixture
async def p() -> AsyncIterator[Pipeline]:
    yield _pipeline(_settings(**SECRETS))


def _value(message: dict[str, Any]) -> bytes:
    return orjson.dumps(firehose.without_account_settings(message))


def _reader(channel: ChannelT) -> ChannelT:
    return channel.clone(is_iterator=True)


def _asked(raw: bytes) -> tuple[str, tuple[str, ...], str | None]:
    r = RewardRequest.from_bytes(raw)
    return r.identity_value, r.triggers, r.cause.audience_id


async def test_a_membership_change_fans_out_in_profile_order(p: Pipeline) -> None:
    agent = _agent(p, audiences.fan_out_audiences, p.topics.audiences)
    rewards, dead = _reader(p.topics.rewards), _reader(p.topics.dead_letters)
    message = three_profiles_two_audiences()
    async with agent.test_context() as test:
        await test.put(value=_value(message), key=ACCOUNT, wait=False)
        out = [await _next(rewards) for _ in range(3)]
        letter = await _next(dead)

    assert [_asked(m.value) for m in out] == [
        ("6301000000000001", ("WELCOME5000",), "101"),
        ("6301000000000001", ("BONUS250",), "202"),
        ("6301000000000001", ("EXTRA",), "202"),
    ]
    assert [m.key for m in out] == [b"6301000000000001"] * 3
    # The profile that cannot be rewarded, and where it came from; not the whole request.
    assert letter.value == orjson.dumps(message["user_profiles"][2])  # type: ignore[index]
    headers = _headers(letter)
    assert headers["airmp-reason"] == (
        b"no_raw_identity: no raw other identity (a hashed one finds no wallet)"
    )
    assert (headers["airmp-kind"], headers["airmp-stage"]) == (b"no_raw_identity", b"firehose")
    assert orjson.loads(headers["airmp-detail"]) == {
        "request_id": REQUEST_ID,
        "audience_ids": ["101"],
        "position": 2,
    }
    assert rewards.empty() and dead.empty()
    assert kept(p.audience_requests)[ACCOUNT]["ids"].keys() == {REQUEST_ID}  # type: ignore[index]


async def test_a_request_delivered_twice_fans_out_once(p: Pipeline) -> None:
    agent = _agent(p, audiences.fan_out_audiences, p.topics.audiences)
    rewards = _reader(p.topics.rewards)
    first = fh.membership_request(
        [fh.profile([fh.identity("other", "C-1")], [fh.audience(1)])], request_id=REQUEST_ID
    )
    second = fh.membership_request([fh.profile([fh.identity("other", "C-2")], [fh.audience(1)])])
    async with agent.test_context() as test:
        for message in (first, first, second):
            await test.put(value=_value(message), key=ACCOUNT, wait=False)
        out = [await _next(rewards) for _ in range(2)]

    # The repeat made nothing: the next request out is the second message's.
    assert [_asked(m.value) for m in out] == [
        ("C-1", ("WELCOME5000",), "1"),
        ("C-2", ("WELCOME5000",), "1"),
    ]
    assert rewards.empty()


async def test_remembered_references_come_with_the_message(p: Pipeline) -> None:
    agent = _agent(p, audiences.fan_out_audiences, p.topics.audiences)
    rewards = _reader(p.topics.rewards)
    bare = fh.audience(9, references=None)
    message = fh.membership_request([fh.profile([fh.identity("other", "C-9")], [bare])])
    headers = {H_AUDIENCE_REFERENCES: orjson.dumps({"9": ["P1", "P2"]})}
    async with agent.test_context() as test:
        await test.put(value=_value(message), key=ACCOUNT, headers=headers, wait=False)
        out = [await _next(rewards) for _ in range(2)]

    assert [_asked(m.value) for m in out] == [("C-9", ("P1",), "9"), ("C-9", ("P2",), "9")]


async def test_dead_letters_of_hashed_profiles_stay_small_and_secret_free(p: Pipeline) -> None:
    agent = _agent(p, audiences.fan_out_audiences, p.topics.audiences)
    dead = _reader(p.topics.dead_letters)
    hashed = [
        # As mParticle sends them with hashing on (about the 337 bytes a profile took in
        # the measurement of issue 21); one carries a configured secret as data: masked.
        fh.profile(
            [
                fh.identity("other", f"{n:064x}", encoding="sha256"),
                fh.identity("email", f"{n + 1:032x}", encoding="md5"),
            ],
            [fh.audience(1), *([{"leak": fh.EXTERNAL_KEY}] if n == 7 else [])],
        )
        for n in range(200)
    ]
    message = fh.membership_request(hashed)
    body = orjson.dumps(message)
    async with agent.test_context() as test:
        await test.put(value=_value(message), key=ACCOUNT, wait=False)
        letters = [await _next(dead) for _ in range(200)]

    sizes = [len(m.value) + sum(len(k) + len(v) for k, v in _headers(m).items()) for m in letters]
    assert len(body) // 200 in range(300, 400)
    assert sum(sizes) <= 2 * len(body)
    assert [orjson.loads(_headers(m)["airmp-detail"])["position"] for m in letters] == list(
        range(200)
    )
    for letter in letters:
        for secret in SECRETS.values():
            assert secret.encode() not in letter.value
            assert all(secret.encode() not in v for v in _headers(letter).values())
    assert b'"leak":"**********"' in letters[7].value


async def test_a_request_that_is_no_json_is_dead_lettered_whole(p: Pipeline) -> None:
    agent = _agent(p, audiences.fan_out_audiences, p.topics.audiences)
    dead = _reader(p.topics.dead_letters)
    async with agent.test_context() as test:
        await test.put(value=b"not json", key=ACCOUNT, wait=False)
        letter = await _next(dead)

    assert letter.value == b"not json"
    assert _headers(letter)["airmp-reason"].startswith(
        b"processing_error: ValueError: the audience topic held no JSON"
    )


def test_request_ids_are_forgotten_after_a_day(p: Pipeline) -> None:
    now = datetime.now(UTC).timestamp()
    kept(p.audience_requests).data[ACCOUNT] = {"ids": {"old": now - 86401, "new": now - 10}}
    assert audiences.recent_ids(p, ACCOUNT).keys() == {"new"}
