"""The harness's callers of the HTTP edges (chaos/edges.py), against a scripted loopback
server: until a 200, on another worker, in order per lane; a Firehose 5xx is not retried,
and an answer no retry fixes fails the round."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from chaos.edges import EdgeRefused, Poster, Targets, repeats
from chaos.kafka_io import Production
from chaos.load import CONNECT, FIREHOSE, KAFKA, WEBHOOK, Load, Message
from testkit.processes import free_port

OK: dict[str, object] = {"status": "OK"}
FIREHOSE_OK: dict[str, object] = {"type": "audience_membership_change_response", "id": "x"}
FAST = (0.001, 0.01)  # the poster's backoff


@dataclass
class Seen:
    path: str
    request_id: str
    body: bytes
    answer: str
    token: str | None  # X-Auth-Token
    authorization: str | None


@dataclass
class Script:
    """Answers the first requests as `answers` says ("429", "503", "drop", "401"...), or
    as `decide(body)` does, then 200 with `ok`; logs every request."""

    answers: list[str] = field(default_factory=list)
    decide: Callable[[bytes], str] | None = None
    ok: dict[str, object] = field(default_factory=lambda: dict(OK))
    log: list[Seen] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        answer = self.answers.pop(0) if self.answers else "200"
        if self.decide is not None:
            answer = self.decide(body)
        headers = request.headers
        self.log.append(
            Seen(
                request.path,
                headers["X-Request-Id"],
                body,
                answer,
                headers.get("X-Auth-Token"),
                headers.get("Authorization"),
            )
        )
        if answer == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=200)
        if answer == "429":
            return web.json_response({}, status=429, headers={"Retry-After": "0"})
        if answer != "200":
            return web.json_response({}, status=int(answer))
        return web.json_response(self.ok)

    def answered(self) -> list[tuple[bytes, str]]:
        return [(s.body, s.answer) for s in self.log]

    def ok_bodies(self) -> list[bytes]:
        return [s.body for s in self.log if s.answer == "200"]


@pytest.fixture
async def server() -> AsyncIterator[tuple[Script, int]]:
    script = Script()
    app = web.Application()
    app.router.add_post("/{tail:.*}", script.handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    try:
        yield script, int(test_server.port or 0)
    finally:
        await test_server.close()


def notification(wallet: str, n: int, route: str = WEBHOOK) -> Message:
    return Message(wallet.encode(), f"{wallet}-{n}".encode(), "journey", wallet, route=route)


def reward(route: str, body: bytes, customer: str = "1") -> Message:
    return Message(customer.encode(), body, "reward", customer, f"ref-{body!r}", route=route)


def poster(*ports: int) -> Poster:
    return Poster(1, Targets(tuple(enumerate(ports))), "hook-token", "fh-token", FAST)


async def post(poster: Poster, messages: list[Message]) -> Production:
    state = Production(total=len(messages))
    await asyncio.wait_for(poster.run([(messages, state)], seconds=0), 30)
    return state


async def test_retried_on_429_a_dropped_connection_and_5xx_until_200(
    server: tuple[Script, int],
) -> None:
    script, port = server
    script.answers = ["429", "drop", "503"]
    caller = poster(port)
    state = await post(caller, [notification("800", n) for n in range(3)])
    assert [(s.path, s.request_id, s.body) for s in script.log] == [
        *[("/air/notifications", "chaos-0-0", b"800-0")] * 4,
        ("/air/notifications", "chaos-0-1", b"800-1"),
        ("/air/notifications", "chaos-0-2", b"800-2"),
    ]
    assert state.acked == 3 and state.placed == [None] * 3
    assert state.posted == {
        0: "webhook: 200 from worker 0 after 3 retries (429@0, dropped@0, 503@0)",
        1: "webhook: 200 from worker 0",
        2: "webhook: 200 from worker 0",
    }
    stats = caller.stats[WEBHOOK]
    assert (stats.requests, stats.attempts, stats.retried, stats.most) == (3, 6, 1, 3)
    assert stats.retries == {"429": 1, "dropped": 1, "503": 1}
    assert caller.summary() == (
        "webhook 3 requests, 3 retries (429 1, 503 1, dropped 1) for 1 of them, at most 3 "
        "for one; firehose 0 requests, 0 retries for 0 of them, at most 0 for one; "
        "connect 0 requests, 0 retries for 0 of them, at most 0 for one"
    )


async def test_a_dead_worker_is_retried_on_another_and_kafka_routes_are_skipped(
    server: tuple[Script, int],
) -> None:
    script, port = server
    caller = poster(free_port(), port)  # worker 0: nothing listens, connections refused
    messages = [notification(w, n) for n in range(4) for w in ("801", "802")]
    messages.insert(3, notification("803", 0, route=KAFKA))
    state = await post(caller, messages)
    sent = [m.value for m in messages if m.route == WEBHOOK]
    assert sorted(script.ok_bodies()) == sorted(sent) and len(script.log) == 8  # each once
    for wallet in (b"801", b"802"):
        mine = [b for b in script.ok_bodies() if b.startswith(wallet)]
        assert mine == [wallet + b"-%d" % n for n in range(4)]  # in order
    assert 3 not in state.posted and state.acked == 8
    assert {text[:26] for text in state.posted.values()} == {"webhook: 200 from worker 1"}
    stats = caller.stats[WEBHOOK]
    assert stats.retries.keys() <= {"refused"} and stats.requests == 8
    assert stats.attempts == 8 + stats.retries["refused"] == 8 + stats.retried
    # AIR's two webhook paths: Eagle Eye Connect's for odd wallets, ours for even ones
    paths = {s.body[:3]: s.path for s in script.log}
    assert paths == {b"801": "/out/mparticle/connector-42", b"802": "/air/notifications"}


async def test_a_lane_waits_for_its_200_while_the_others_go_on(
    server: tuple[Script, int],
) -> None:
    script, port = server

    def decide(body: bytes) -> str:
        # Wallet 804's first is refused until wallet 806's has gone through.
        return "429" if body == b"804-0" and b"806-0" not in script.ok_bodies() else "200"

    script.decide = decide
    messages = [notification("804", 0), notification("804", 1), notification("806", 0)]
    await post(poster(port), messages)
    bodies = [body for body, _ in script.answered()]
    assert script.ok_bodies().index(b"806-0") < script.ok_bodies().index(b"804-0")
    assert bodies.index(b"804-1") > max(i for i, b in enumerate(bodies) if b == b"804-0")
    assert sorted(script.ok_bodies()) == [b"804-0", b"804-1", b"806-0"]


async def test_firehose_5xx_is_not_retried_and_429s_past_mparticles_limit_are_counted(
    server: tuple[Script, int],
) -> None:
    script, port = server
    script.ok = dict(FIREHOSE_OK)
    script.answers = ["500", *["429"] * 6]
    caller = poster(port)
    state = await post(caller, [reward(FIREHOSE, b"first"), reward(FIREHOSE, b"second")])
    assert script.answered() == [
        (b"first", "500"),
        *[(b"second", "429")] * 6,
        (b"second", "200"),
    ]
    assert state.posted == {
        0: "firehose: 500 from worker 0, dropped (mParticle)",
        1: "firehose: 200 from worker 0 after 6 retries (" + ", ".join(["429@0"] * 6) + ")",
    }
    assert state.acked == 1
    stats = caller.stats[FIREHOSE]
    assert (stats.requests, stats.dropped, stats.over_limit, stats.most) == (2, 1, 1, 6)
    assert stats.describe(FIREHOSE) == (
        "firehose 2 requests, 6 retries (429 6) for 1 of them, at most 6 for one, 1 answered "
        "429 more than mParticle's 5 retries, 1 answered 5xx (mParticle drops them)"
    )


async def test_each_edge_gets_its_callers_path_and_token(server: tuple[Script, int]) -> None:
    script, port = server
    caller = poster(port)
    await post(caller, [reward(CONNECT, b"{}")])
    script.ok = dict(FIREHOSE_OK)
    await post(caller, [reward(FIREHOSE, b"{}")])
    script.ok = dict(OK)
    await post(caller, [notification("808", 0)])
    assert [(s.path, s.token, s.authorization) for s in script.log] == [
        ("/in/mparticle/connector-42", "external-key-secret", None),
        ("/mparticle/firehose", None, "Token fh-token"),
        ("/air/notifications", "hook-token", None),
    ]


@pytest.mark.parametrize(
    ("route", "answer", "ok"),
    [
        (WEBHOOK, "401", OK),
        (CONNECT, "400", OK),
        (WEBHOOK, "200", {"status": "later"}),
        (FIREHOSE, "200", {**FIREHOSE_OK, "suspend_subscription": True}),
    ],
)
async def test_an_answer_no_retry_fixes_fails_the_round(
    server: tuple[Script, int], route: str, answer: str, ok: dict[str, object]
) -> None:
    script, port = server
    script.answers, script.ok = [answer], ok
    with pytest.raises(EdgeRefused, match=f"answered {answer}"):
        await post(poster(port), [reward(route, b"{}")])
    assert len(script.log) == 1


def test_copies_in_kafka_beyond_what_each_edge_was_sent() -> None:
    load = Load(
        seed=1,
        wallets=2,
        messages=(
            notification("810", 0),
            notification("810", 1),
            notification("810", 0),  # AIR's own re-delivery: sent twice, not an extra copy
            notification("811", 0, route=KAFKA),
        ),
        rewards=(
            reward(FIREHOSE, b"fh-1"),
            reward(CONNECT, b"in-1"),
            Message(b"1", b"x", "reward", "1", "ref-kafka"),
        ),
    )
    on_input = [b"810-0", b"810-1", b"810-0", b"810-1", b"811-0", b"811-0", b"810-0"]
    on_rewards = [
        b'{"identity_value":"1","reference":"ref-' + ref + b'"}'
        for ref in (b"b'fh-1'", b"b'fh-1'", b"b'in-1'", b"kafka", b"kafka")
    ]
    assert repeats(load, on_input, on_rewards) == {WEBHOOK: 2, FIREHOSE: 1, CONNECT: 0}


def test_a_membership_change_of_many_profiles_counts_each_reference() -> None:
    big = Message(b"a", b"fh-big", "audience", route=FIREHOSE, references=("r1", "r2", "r3"))
    load = Load(seed=1, wallets=0, messages=(), rewards=(big, replace(big, kind="again")))
    on_rewards = [
        b'{"identity_value":"1","reference":"' + ref + b'"}'
        for ref in (b"r1", b"r1", b"r2", b"r2", b"r2", b"r3", b"other")
    ]
    assert repeats(load, [], on_rewards) == {WEBHOOK: 0, FIREHOSE: 1, CONNECT: 0}
