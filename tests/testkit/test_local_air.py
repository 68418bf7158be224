"""The local AIR: strict signatures, wallets and triggers (files, options, notifications),
rewards granted once per reference, faults, the record of grants, and emission to a webhook."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web

from sinks.air import AirClient, auth_hash
from testkit import builders, cases
from testkit.air_notifications import dumps
from testkit.local_air import (
    AirState,
    Faults,
    LocalAir,
    Reward,
    RewardKind,
    WebhookTarget,
    parse_trigger,
    run_local_air,
    targets_for,
    triggers_from,
)
from tests.testkit.conftest import CARD, CLIENT_ID, SECRET, TRIGGERS, WAIT, WALLET, WALLETS

NOW = datetime(2025, 3, 2, 12, 0, 0, tzinfo=UTC)


def trigger_payload(reference: str = "r-1", identity: str = CARD, *triggers: str) -> dict[str, Any]:
    return {
        "identityValue": identity,
        "walletTransaction": {"reference": reference},
        "triggers": [{"reference": t} for t in (triggers or ("WELCOME5000",))],
    }


async def send(
    air: LocalAir,
    method: str,
    target: str,
    body: bytes = b"",
    *,
    secret: str = SECRET,
    client_id: str | None = CLIENT_ID,
    signed_target: str | None = None,
    sign: bool = True,
) -> httpx.Response:
    """A request signed by hand (another AIR client), so the checks themselves are tested."""
    headers = {"Content-Type": "application/json"}
    if client_id is not None:
        headers["X-EES-AUTH-CLIENT-ID"] = client_id
    if sign:
        headers["X-EES-AUTH-HASH"] = auth_hash(signed_target or target, body, secret)
    async with httpx.AsyncClient(base_url=air.root_url, timeout=WAIT) as http:
        return await http.request(method, target, content=body or None, headers=headers)


async def mock(air: LocalAir, method: str, path: str, payload: Any = None) -> Any:
    async with httpx.AsyncClient(base_url=air.root_url, timeout=WAIT) as http:
        response = await http.request(method, path, json=payload)
    return response.status_code, response.json()


def _error(code: str, message: str) -> dict[str, str]:
    return {"errorCode": code, "errorMessage": message}


# --- signatures ------------------------------------------------------------------------------


async def test_the_hash_is_checked_over_the_raw_body_as_received(local_air: LocalAir) -> None:
    spaced = json.dumps(trigger_payload("r-spaced"), indent=4).encode()
    answer = await send(local_air, "POST", "/services/trigger", spaced)
    assert answer.status_code == 201
    assert answer.json()["reference"] == "r-spaced"
    # The same JSON, compact, under the spaced body's hash: not what was signed.
    compact = orjson.dumps(trigger_payload("r-spaced"))
    headers_hash = auth_hash("/services/trigger", spaced, SECRET)
    async with httpx.AsyncClient(base_url=local_air.root_url, timeout=WAIT) as http:
        refused = await http.post(
            "/services/trigger",
            content=compact,
            headers={"X-EES-AUTH-CLIENT-ID": CLIENT_ID, "X-EES-AUTH-HASH": headers_hash},
        )
    assert (refused.status_code, refused.json()) == (
        401,
        _error("UNAUTHORISED", "authentication failed: the request hash does not match"),
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"client_id": None, "sign": False},
            "X-EES-AUTH-CLIENT-ID and X-EES-AUTH-HASH are required",
        ),
        ({"sign": False}, "X-EES-AUTH-CLIENT-ID and X-EES-AUTH-HASH are required"),
        ({"client_id": None}, "X-EES-AUTH-CLIENT-ID and X-EES-AUTH-HASH are required"),
        ({"client_id": "someone-else"}, "unknown client id"),
        ({"secret": "another-secret"}, "the request hash does not match"),
        ({"signed_target": "/2.0/services/trigger"}, "the request hash does not match"),
    ],
)
async def test_a_request_not_signed_right_is_401(
    local_air: LocalAir, options: dict[str, Any], message: str
) -> None:
    answer = await send(
        local_air, "POST", "/services/trigger", orjson.dumps(trigger_payload()), **options
    )
    assert (answer.status_code, answer.json()) == (
        401,
        _error("UNAUTHORISED", f"authentication failed: {message}"),
    )
    assert local_air.state.granted_json()["granted"] == {}


async def test_the_query_string_is_signed_with_its_question_mark(local_air: LocalAir) -> None:
    granted = await send(local_air, "POST", "/services/trigger", orjson.dumps(trigger_payload()))
    path = f"/wallet/{WALLET}/transaction/{granted.json()['walletTransactionId']}"
    ok = await send(local_air, "GET", path + "?expand=accounts")
    assert (ok.status_code, ok.json()) == (200, granted.json())
    unsigned_query = await send(local_air, "GET", path + "?expand=accounts", signed_target=path)
    assert unsigned_query.status_code == 401
    no_mark = await send(
        local_air, "GET", path + "?expand=accounts", signed_target=path + "expand=accounts"
    )
    assert no_mark.status_code == 401


async def test_a_chunked_post_is_refused(local_air: LocalAir) -> None:
    body = orjson.dumps(trigger_payload())

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    headers = {
        "X-EES-AUTH-CLIENT-ID": CLIENT_ID,
        "X-EES-AUTH-HASH": auth_hash("/services/trigger", body, SECRET),
    }
    async with httpx.AsyncClient(base_url=local_air.root_url, timeout=WAIT) as http:
        answer = await http.post("/services/trigger", content=chunks(), headers=headers)
    assert (answer.status_code, answer.json()) == (
        411,
        _error("LENGTH_REQUIRED", "a Content-Length is required (no chunked bodies)"),
    )


async def test_unknown_routes_answer_like_air(local_air: LocalAir) -> None:
    answer = await send(local_air, "GET", "/wallet/1")
    assert (answer.status_code, answer.json()) == (404, _error("NOT_FOUND", "Not Found"))


# --- requests --------------------------------------------------------------------------------


T = [{"reference": "T"}]
R = {"reference": "r"}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{not json", None),
        ([], "the body must be a JSON object"),
        ({"identityValue": "x", "triggers": T}, "walletTransaction.reference is required"),
        ({"walletTransaction": R, "triggers": T}, "identityValue is required"),
        ({"identityValue": "x", "walletTransaction": R}, "triggers must be a non-empty list"),
        (
            {"identityValue": "x", "walletTransaction": R, "triggers": []},
            "triggers must be a non-empty list",
        ),
        (
            {"identityValue": "x", "walletTransaction": R, "triggers": [{"ref": "T"}]},
            "every trigger needs a reference",
        ),
    ],
)
async def test_a_bad_body_is_400(local_air: LocalAir, payload: Any, message: str | None) -> None:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    answer = await send(local_air, "POST", "/services/trigger", body)
    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "BAD_REQUEST"
    if message is not None:
        assert answer.json()["errorMessage"] == message
    else:
        assert answer.json()["errorMessage"].startswith("the body is not JSON: ")


async def test_unknown_identity_404_and_unknown_trigger_400(local_air: LocalAir) -> None:
    nobody = await send(
        local_air, "POST", "/services/trigger", orjson.dumps(trigger_payload("a", "42"))
    )
    assert (nobody.status_code, nobody.json()) == (
        404,
        _error("WALLET_NOT_FOUND", "no wallet has the identity 42"),
    )
    body = orjson.dumps(trigger_payload("b", CARD, "WELCOME5000", "X1", "X2"))
    unknown = await send(local_air, "POST", "/services/trigger", body)
    assert (unknown.status_code, unknown.json()) == (
        400,
        _error("INVALID_TRIGGER", "unknown trigger reference: X1, X2"),
    )
    # A refused reference is no grant: the same reference may succeed later.
    later = await send(local_air, "POST", "/services/trigger", orjson.dumps(trigger_payload("b")))
    assert later.status_code == 201
    assert local_air.state.granted_json()["granted"] == {"b": 1}


async def test_every_identity_of_the_wallet_finds_it(local_air: LocalAir) -> None:
    by_customer = orjson.dumps(trigger_payload("c-1", builders.CUSTOMER))
    answer = await send(local_air, "POST", "/services/trigger", by_customer)
    assert (answer.status_code, answer.json()["walletId"]) == (201, WALLET)


def _accounts(transaction: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (a["account"]["type"], a["account"]["campaignId"], a["event"], a["value"])
        for a in transaction["accounts"]
    ]


async def test_a_coupon_and_points_in_one_request(local_air: LocalAir) -> None:
    coupon = await send(
        local_air, "POST", "/services/trigger", orjson.dumps(trigger_payload("k-1", CARD, "COFFEE"))
    )
    assert coupon.status_code == 201
    assert coupon.json()["type"] == "BEHAVIOURAL_ACTION_COUPON"
    assert _accounts(coupon.json()) == [
        ("BEHAVIOURAL_ACTION", "100641682", "CREATE", 0),
        ("BEHAVIOURAL_ACTION", "100641682", "REDEEM", 0),
        ("ECOUPON", "100641679", "CREATE", 0),
    ]
    both = orjson.dumps(trigger_payload("k-2", CARD, "WELCOME5000", "WELCOME5000", "COFFEE"))
    answer = (await send(local_air, "POST", "/services/trigger", both)).json()
    assert answer["type"] == "BEHAVIOURAL_ACTION_POINTS"
    assert answer["basket"]["summary"]["points"]["totalPointsGiven"] == 10000
    credits = [
        (a["balancesBefore"]["current"], a["balancesAfter"]["current"])
        for a in answer["accounts"]
        if a["event"] == "CREDIT"
    ]
    assert credits == [(1200, 6200), (6200, 11200)]
    assert local_air.state.wallets[WALLET].points_balance() == 11200


async def test_a_repeat_is_answered_byte_for_byte_as_the_first(local_air: LocalAir) -> None:
    body = orjson.dumps(trigger_payload("same"))
    first = await send(local_air, "POST", "/services/trigger", body)
    # Another client's spacing, same reference: still the first answer, no second reward.
    again = await send(
        local_air, "POST", "/services/trigger", json.dumps(trigger_payload("same")).encode()
    )
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert local_air.state.granted_json() == {
        "grants": local_air.state.grants,
        "granted": {"same": 1},
        "requests": {"same": 2},
        "repeats": {"same": 1},
    }
    assert [(r.granted, r.repeat) for r in local_air.state.requests] == [
        (True, False),
        (False, True),
    ]


async def test_regrant_repeats_behaves_as_an_air_without_deduplication(local_air: LocalAir) -> None:
    local_air.faults.update({"regrant_repeats": True})
    body = orjson.dumps(trigger_payload("again"))
    first = await send(local_air, "POST", "/services/trigger", body)
    second = await send(local_air, "POST", "/services/trigger", body)
    assert first.json()["walletTransactionId"] != second.json()["walletTransactionId"]
    assert local_air.state.granted_json()["granted"] == {"again": 2}
    assert local_air.state.wallets[WALLET].points_balance() == 11200
    assert len(local_air.state.emitted) == 2


# --- wallets, triggers, notifications --------------------------------------------------------


def test_trigger_specs() -> None:
    assert parse_trigger("WELCOME5000=points:5000@100641681") == (
        "WELCOME5000",
        Reward(RewardKind.POINTS, "100641681", points=5000),
    )
    assert parse_trigger(" COFFEE = ecoupon:100641679 ") == (
        "COFFEE",
        Reward(RewardKind.ECOUPON, "101839189", campaign_id="100641679"),
    )
    assert triggers_from({"A": "points:1@9"}) == {"A": Reward(RewardKind.POINTS, "9", points=1)}
    for bad in (
        "points:5000",
        "X=",
        "X=points:0",
        "X=points:-1",
        "X=points:1.5",
        "X=gift:1",
        "X=ecoupon:",
    ):
        with pytest.raises(ValueError):
            parse_trigger(bad)


async def test_wallets_and_triggers_from_files(tmp_path: Path) -> None:
    wallets = tmp_path / "wallets.json"
    wallets.write_text(
        json.dumps([*WALLETS, {"walletId": 5, "identities": [{"type": "CARD", "value": "5555"}]}])
    )
    triggers = tmp_path / "triggers.json"
    triggers.write_text(json.dumps({"BONUS": "points:250@77", "COFFEE": "ecoupon:1@2"}))
    async with LocalAir(
        CLIENT_ID,
        SECRET,
        wallets_file=wallets,
        triggers_file=triggers,
        triggers=["BONUS=points:300@78"],
    ) as air:
        assert await mock(air, "GET", "/_mock/triggers") == (
            200,
            {"BONUS": "points:300@78", "COFFEE": "ecoupon:1@2"},  # the option wins
        )
        status, listed = await mock(air, "GET", "/_mock/wallets")
        assert (status, listed["wallets"]) == (
            200,
            [
                {
                    "walletId": WALLET,
                    "identities": [
                        {"type": "CUSTOMER_ID", "value": builders.CUSTOMER},
                        {"type": "CARD", "value": CARD},
                    ],
                    "points": 1200,
                    "tierId": None,
                    "transactions": [],
                },
                {
                    "walletId": "5",
                    "identities": [{"type": "CARD", "value": "5555"}],
                    "points": None,
                    "tierId": None,
                    "transactions": [],
                },
            ],
        )
        # A wallet without a POINTS account gets one with the first points it is given.
        answer = await send(
            air, "POST", "/services/trigger", orjson.dumps(trigger_payload("w5", "5555", "BONUS"))
        )
        credit = answer.json()["accounts"][2]
        assert (credit["event"], credit["balancesBefore"], credit["balancesAfter"]) == (
            "CREDIT",
            {"current": 0, "lifetime": 0},
            {"current": 300, "lifetime": 300},
        )


ONE = [{"type": "CARD", "value": "1"}]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"identities": ONE}, "a wallet needs a walletId"),
        ({"walletId": "1"}, "wallet 1: identities must be a non-empty list"),
        (
            {"walletId": "1", "identities": [{"type": "CARD"}]},
            "wallet 1: an identity needs a type and a value",
        ),
        (
            {"walletId": "1", "identities": ONE, "points": "many"},
            "wallet 1: points must be a number or an object",
        ),
        (
            {"walletId": "1", "identities": ONE, "tier": {"x": 1}},
            "wallet 1: tier must be a tierMembershipEntity",
        ),
    ],
)
async def test_bad_wallets_are_refused(
    local_air: LocalAir, spec: dict[str, Any], message: str
) -> None:
    assert await mock(local_air, "POST", "/_mock/wallets", spec) == (
        400,
        _error("BAD_REQUEST", message),
    )


async def test_wallets_are_learnt_from_notifications() -> None:
    async with LocalAir(CLIENT_ID, SECRET, triggers=TRIGGERS, clock=lambda: NOW) as air:
        created, _ = cases.wallet_create()
        accounts, _ = cases.accounts_create()
        basket = builders.transaction("T-5", "SETTLE", "ACTIVE", "R-300")
        opened = builders.notification(
            "POSCONNECT.WALLET.OPEN", [builders.op("walletTransactionEntity", "CREATE", basket)]
        )
        assert await mock(air, "POST", "/_mock/notifications", [created, accounts, opened]) == (
            200,
            {"learnt": 3, "wallets": [WALLET, WALLET, WALLET]},
        )
        wallet = air.state.wallets[WALLET]
        assert wallet.summary() == {
            "walletId": WALLET,
            "identities": [
                {"type": "CUSTOMER_ID", "value": builders.CUSTOMER},
                {"type": "CARD", "value": CARD},
            ],
            "points": 0,
            "tierId": "BRONZE",
            "transactions": ["T-5"],
        }
        async with AirClient(air.base_url, CLIENT_ID, SECRET, timeout=WAIT) as client:
            learnt = await client.wallet_transaction(WALLET, "T-5")
            assert (learnt.status, learnt.transaction) == (
                200,
                builders.transaction("T-5", "SETTLE", "ACTIVE", "R-300"),
            )
            granted = await client.trigger(CARD, "r-learnt", ["WELCOME5000"])
        assert granted.transaction is not None
        credit = granted.transaction["accounts"][2]
        assert (credit["accountId"], credit["balancesBefore"], credit["balancesAfter"]) == (
            "8001",  # the wallet's own POINTS account, as its notifications named it
            {"current": 0, "lifetime": 0},
            {"current": 5000, "lifetime": 5000},
        )
        deleted, _ = cases.wallet_delete()
        assert (await mock(air, "POST", "/_mock/notifications", deleted))[0] == 200
        assert WALLET not in air.state.wallets
        async with AirClient(air.base_url, CLIENT_ID, SECRET, timeout=WAIT) as client:
            gone = await client.trigger(CARD, "r-gone", ["WELCOME5000"])
        assert gone.status == 404


async def test_a_notification_that_cannot_be_read_is_400(local_air: LocalAir) -> None:
    assert await mock(local_air, "POST", "/_mock/notifications", [{"headers": {}}]) == (
        400,
        _error(
            "BAD_REQUEST", "notification 0: no_event_name: headers.eventName is missing or empty"
        ),
    )


# --- faults, records -------------------------------------------------------------------------


async def test_faults_are_set_and_checked(local_air: LocalAir) -> None:
    status, faults = await mock(
        local_air, "POST", "/_mock/faults", {"rate_limit_next": 2, "retry_after": None}
    )
    assert status == 200
    assert faults == {**Faults().as_json(), "rate_limit_next": 2, "retry_after": None}
    for bad in (
        {"no_such_fault": 1},
        {"drop_next": -1},
        {"drop_next": "1"},
        {"regrant_repeats": 1},
        {"delay_seconds": None},
    ):
        assert (await mock(local_air, "POST", "/_mock/faults", bad))[0] == 400
    # All or nothing: the valid half of a refused update is not applied either.
    assert (await mock(local_air, "POST", "/_mock/faults", {"drop_next": 1, "x": 1}))[0] == 400
    assert local_air.faults.drop_next == 0
    answer = await send(local_air, "POST", "/services/trigger", orjson.dumps(trigger_payload()))
    assert (answer.status_code, "Retry-After" in answer.headers) == (429, False)
    assert await mock(local_air, "POST", "/_mock/reset") == (200, {"reset": True})
    assert local_air.faults == Faults()


async def test_faults_apply_to_lookups_too(local_air: LocalAir) -> None:
    local_air.faults.update({"server_error_next": 1, "server_error_status": 500})
    answer = await send(local_air, "GET", f"/wallet/{WALLET}/transaction/1")
    assert (answer.status_code, answer.json()) == (
        500,
        _error("SERVER_ERROR", "injected server error"),
    )


async def test_grants_are_recorded(tmp_path: Path) -> None:
    record = tmp_path / "granted.jsonl"
    ids = iter(["evt-a", "evt-b"])
    async with LocalAir(
        CLIENT_ID,
        SECRET,
        wallets=WALLETS,
        triggers=TRIGGERS,
        record=record,
        clock=lambda: NOW,
        event_ids=lambda: next(ids),
    ) as air:
        for reference in ("g-1", "g-1", "g-2"):
            assert (
                await send(
                    air, "POST", "/services/trigger", orjson.dumps(trigger_payload(reference))
                )
            ).status_code == 201
        expected = [
            {
                "reference": "g-1",
                "walletId": WALLET,
                "identityValue": CARD,
                "triggers": ["WELCOME5000"],
                "walletTransactionId": "600000001",
                "points": 5000,
                "coupons": [],
                "pointsBalance": 6200,
                "eesEventId": "evt-a",
                "grantedAt": "2025-03-02T12:00:00+00:00",
            },
            {
                "reference": "g-2",
                "walletId": WALLET,
                "identityValue": CARD,
                "triggers": ["WELCOME5000"],
                "walletTransactionId": "600000002",
                "points": 5000,
                "coupons": [],
                "pointsBalance": 11200,
                "eesEventId": "evt-b",
                "grantedAt": "2025-03-02T12:00:00+00:00",
            },
        ]
        assert await mock(air, "GET", "/_mock/granted") == (
            200,
            {
                "grants": expected,
                "granted": {"g-1": 1, "g-2": 1},
                "requests": {"g-1": 2, "g-2": 1},
                "repeats": {"g-1": 1},
            },
        )
        status, emitted = await mock(air, "GET", "/_mock/emitted?since=1")
        assert (status, [n["headers"]["eesEventId"] for n in emitted["notifications"]]) == (
            200,
            ["evt-b"],
        )
        status, logged = await mock(air, "GET", "/_mock/requests")
        assert [
            (r["method"], r["path"], r["status"], r["reference"]) for r in logged["requests"]
        ] == [
            ("POST", "/services/trigger", 201, "g-1"),
            ("POST", "/services/trigger", 201, "g-1"),
            ("POST", "/services/trigger", 201, "g-2"),
        ]
    assert [orjson.loads(line) for line in record.read_bytes().splitlines()] == expected


# --- emission to a webhook -------------------------------------------------------------------


class Receiver:
    """A webhook on loopback that answers each POST with the next status of `statuses`."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[str | None, bytes]] = []
        app = web.Application()
        app.router.add_post("/air", self._post)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self.url = ""

    async def _post(self, request: web.Request) -> web.Response:
        self.received.append((request.headers.get("X-Auth-Token"), await request.read()))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="{}")

    async def __aenter__(self) -> Receiver:
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/air"
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._runner.cleanup()


async def test_notifications_are_posted_to_a_webhook_and_retried() -> None:
    async with Receiver([503, 200, 400]) as hook:
        target = WebhookTarget(hook.url, "hook-token")
        assert "hook-token" not in repr(target)
        async with LocalAir(
            CLIENT_ID, SECRET, wallets=WALLETS, triggers=TRIGGERS, targets=[target]
        ) as air:
            for reference in ("h-1", "h-2"):
                body = orjson.dumps(trigger_payload(reference))
                assert (await send(air, "POST", "/services/trigger", body)).status_code == 201
            await asyncio.wait_for(air.drain(), WAIT)
            first, second = (dumps(n) for n in air.state.emitted)
            # h-1: 503, then taken; h-2: refused for good (400), not retried.
            assert hook.received == [
                ("hook-token", first),
                ("hook-token", first),
                ("hook-token", second),
            ]
            assert (air.emitter.delivered, len(air.emitter.refused)) == (2, 1)
            assert air.emitter.refused[0].startswith(f"{hook.url} answered 400")


def test_emission_targets_from_options() -> None:
    assert targets_for() == []
    kafka, hook = targets_for(
        emit_bootstrap="127.0.0.1:9092", emit_topic="t", emit_url="http://h/air", emit_token="x"
    )
    assert (kafka.name, hook.name) == ("kafka:t", "http://h/air")
    with pytest.raises(ValueError, match="both a bootstrap server and a topic"):
        targets_for(emit_topic="t")


async def test_run_local_air_serves_until_cancelled(capsys: pytest.CaptureFixture[str]) -> None:
    task = asyncio.create_task(
        run_local_air("127.0.0.1", 0, client_id=CLIENT_ID, client_secret=SECRET)
    )
    deadline = time.monotonic() + WAIT
    while not (found := re.search(r"listening on (\S+)", capsys.readouterr().out)):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    url = found.group(1)
    try:
        async with httpx.AsyncClient(timeout=WAIT) as http:
            assert (await http.get(url + "/_mock/health")).json() == {"status": "ok"}
            assert (await http.get(url + "/_mock/triggers")).json() == {
                "WELCOME5000": "points:5000@101447189"
            }
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_the_identity_index_follows_each_change_of_a_wallet() -> None:
    state = AirState(CLIENT_ID, SECRET)
    for n in range(3):
        state.add_wallet({"walletId": f"w{n}", "identities": [{"type": "CARD", "value": f"c{n}"}]})
    # Re-added with other identities: the old value no longer finds it.
    state.add_wallet({"walletId": "w1", "identities": [{"type": "CARD", "value": "c1-new"}]})
    found = {v: (hit[0].wallet_id if (hit := state.find(v)) else None) for v in
             ("c0", "c1", "c1-new", "c2")}  # fmt: skip
    assert found == {"c0": "w0", "c1": None, "c1-new": "w1", "c2": "w2"}
    assert len(state._by_identity) == 3
