"""The AIR client: AIR's signature (the published test vectors), outcomes classified, and the
client against the local AIR over real loopback HTTP, faults included."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import httpx
import orjson
import pytest

from sinks.air import (
    AIR_PACING,
    CLIENT_ID_HEADER,
    HASH_HEADER,
    AirClient,
    AirCredentialsRejected,
    AirOutcome,
    AirResult,
    NotSent,
    auth_hash,
    trigger_body,
)
from testkit.local_air import LocalAir

CLIENT_ID, SECRET = "local-air-client", "local-air-secret"
VECTOR_BODY = (
    b'{"identityValue":"2222222222222222","walletTransaction":{"reference":"welcome-0001"},'
    b'"triggers":[{"reference":"WELCOME5000"}]}'
)
VECTOR_POST = "6c2d57af98b0512eacacb020e5391849974ed817ef94417512ad84d009c07112"
VECTOR_GET = "d7c4b71bfbd7f31d1164e2a59c9fe90cca11b0498a10aac05f698e947a59ec8b"
WALLET = "216245571"
CARD = "2222222222222222"
WALLETS = [
    {
        "walletId": WALLET,
        "identities": [{"type": "CUSTOMER_ID", "value": "C-1"}, {"type": "CARD", "value": CARD}],
        "points": {"accountId": "4102305275", "campaignId": "100620987", "current": 100},
    }
]
TRIGGERS = ["WELCOME5000=points:5000@100641681"]
WAIT = 30.0  # generous: a bound on waiting, never an assertion about speed


# --- the signature -------------------------------------------------------------------------


def test_the_trigger_body_is_the_published_vector_byte_for_byte() -> None:
    assert trigger_body("2222222222222222", "welcome-0001", ["WELCOME5000"]) == VECTOR_BODY


def test_signature_vectors() -> None:
    assert auth_hash("/services/trigger", VECTOR_BODY, SECRET) == VECTOR_POST
    assert auth_hash(b"/wallet/216245571/transaction/437907485", b"", SECRET) == VECTOR_GET
    assert auth_hash("/wallet/216245571/transaction/437907485", b"", SECRET.encode()) == VECTOR_GET


def _capture(
    status: int = 201, body: bytes = b"{}", headers: dict[str, str] | None = None
) -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, content=body, headers=headers)

    return seen, httpx.MockTransport(handle)


async def test_the_client_signs_exactly_what_it_sends() -> None:
    seen, transport = _capture()
    async with AirClient("https://wallet.example", CLIENT_ID, SECRET, transport=transport) as c:
        await c.trigger("2222222222222222", "welcome-0001", ["WELCOME5000"])
        await c.wallet_transaction(216245571, "437907485")
    post, get = seen
    assert (post.method, post.url.raw_path, post.content) == (
        "POST",
        b"/services/trigger",
        VECTOR_BODY,
    )
    assert post.headers[CLIENT_ID_HEADER] == CLIENT_ID
    assert post.headers[HASH_HEADER] == VECTOR_POST
    assert post.headers["Content-Length"] == str(len(VECTOR_BODY))
    assert post.headers["Content-Type"] == "application/json"
    assert "Transfer-Encoding" not in post.headers
    assert (get.method, get.url.raw_path, get.content) == (
        "GET",
        b"/wallet/216245571/transaction/437907485",
        b"",
    )
    assert get.headers[HASH_HEADER] == VECTOR_GET


async def test_an_api_prefix_of_the_base_url_is_signed() -> None:
    seen, transport = _capture()
    async with AirClient("https://host/2.0/", CLIENT_ID, SECRET, transport=transport) as c:
        await c.trigger("2222222222222222", "welcome-0001", ["WELCOME5000"])
    (post,) = seen
    assert str(post.url) == "https://host/2.0/services/trigger"
    assert post.headers[HASH_HEADER] == auth_hash("/2.0/services/trigger", VECTOR_BODY, SECRET)


async def test_path_ids_are_quoted_and_signed_as_sent() -> None:
    seen, transport = _capture(200)
    async with AirClient("https://host", CLIENT_ID, SECRET, transport=transport) as c:
        await c.wallet_transaction("12/../34", "5 6")
    (get,) = seen
    assert get.url.raw_path == b"/wallet/12%2F..%2F34/transaction/5%206"
    assert get.headers[HASH_HEADER] == auth_hash(get.url.raw_path, b"", SECRET)


@pytest.mark.parametrize(
    ("identity", "reference", "triggers"),
    [("", "r", ["T"]), ("i", "", ["T"]), ("i", "r", []), ("i", "r", [""]), ("i", "r", "T")],
)
async def test_bad_arguments_are_refused_before_sending(
    identity: str, reference: str, triggers: Any
) -> None:
    seen, transport = _capture()
    async with AirClient("https://host", CLIENT_ID, SECRET, transport=transport) as c:
        with pytest.raises(ValueError):
            await c.trigger(identity, reference, triggers)
    assert seen == []


def test_credentials_are_required() -> None:
    with pytest.raises(ValueError, match="client id"):
        AirClient("https://host", "", SECRET)
    with pytest.raises(ValueError, match="secret"):
        AirClient("https://host", CLIENT_ID, "")


# --- classification (no network) -------------------------------------------------------------


def _error(code: str, message: str) -> bytes:
    return orjson.dumps({"errorCode": code, "errorMessage": message})


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (
            201,
            b'{"walletTransactionId":"1","reference":"r"}',
            {},
            (AirOutcome.DONE, "201", {"walletTransactionId": "1", "reference": "r"}, None, None),
        ),
        (200, b"not json", {}, (AirOutcome.DONE, "200", None, None, None)),
        (
            404,
            _error("WALLET_NOT_FOUND", "no wallet"),
            {},
            (AirOutcome.PERMANENT, "404", None, "WALLET_NOT_FOUND", None),
        ),
        (
            400,
            _error("INVALID_TRIGGER", "unknown trigger"),
            {},
            (AirOutcome.PERMANENT, "400", None, "INVALID_TRIGGER", None),
        ),
        (409, b"", {}, (AirOutcome.PERMANENT, "409", None, None, None)),
        (
            429,
            _error("TOO_MANY_REQUESTS", "slow down"),
            {"Retry-After": "2"},
            (AirOutcome.TRANSIENT, "429", None, "TOO_MANY_REQUESTS", 2.0),
        ),
        (429, b"", {}, (AirOutcome.TRANSIENT, "429", None, None, None)),
        (408, b"", {}, (AirOutcome.TRANSIENT, "408", None, None, None)),
        (500, b"<html>oops</html>", {}, (AirOutcome.TRANSIENT, "500", None, None, None)),
        (503, b"", {"Retry-After": "7"}, (AirOutcome.TRANSIENT, "503", None, None, 7.0)),
    ],
)
async def test_answers_are_classified(
    status: int, body: bytes, headers: dict[str, str], expected: tuple[Any, ...]
) -> None:
    _, transport = _capture(status, body, headers)
    async with AirClient("https://host", CLIENT_ID, SECRET, transport=transport) as c:
        result = await c.trigger("i", "r", ["T"])
    found = (result.kind, result.reason, result.transaction, result.error_code, result.retry_after)
    assert found == expected
    assert result.status == status
    assert result.body == body.decode()


@pytest.mark.parametrize("status", [401, 403])
async def test_credentials_refused_raise(status: int) -> None:
    _, transport = _capture(status, _error("UNAUTHORISED", "authentication failed"))
    async with AirClient("https://host", CLIENT_ID, SECRET, transport=transport) as c:
        with pytest.raises(AirCredentialsRejected) as caught:
            await c.wallet_transaction("1", "2")
    exc = caught.value
    assert (exc.status, exc.error_code, exc.error_message) == (
        status,
        "UNAUTHORISED",
        "authentication failed",
    )
    assert str(exc) == (
        f"AIR answered {status} UNAUTHORISED: the AIR client id or secret is wrong or lacks "
        "access (authentication failed)"
    )


def _raising(exc: Exception) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        raise exc

    return httpx.MockTransport(handle)


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (httpx.ConnectError("refused"), "connection_error"),
        (httpx.RemoteProtocolError("closed without an answer"), "connection_error"),
        (httpx.ReadError("reset"), "connection_error"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.ConnectTimeout("slow"), "timeout"),
        (httpx.PoolTimeout("busy"), "timeout"),
    ],
)
async def test_no_answer_is_transient(exc: Exception, reason: str) -> None:
    async with AirClient("https://host", CLIENT_ID, SECRET, transport=_raising(exc)) as c:
        result = await c.trigger("i", "r", ["T"])
    assert (result.kind, result.status, result.reason, result.body) == (
        AirOutcome.TRANSIENT,
        None,
        reason,
        "",
    )


async def test_an_answer_echoing_the_secret_is_redacted() -> None:
    body = orjson.dumps({"errorCode": "X", "errorMessage": f"bad {SECRET}", "echo": SECRET})
    _, transport = _capture(400, body)
    async with AirClient("https://host", CLIENT_ID, SECRET, transport=transport) as c:
        result = await c.trigger("i", "r", ["T"])
    assert result.error_message == "bad [redacted]"
    assert SECRET not in repr(result)
    _, transport = _capture(401, body)
    async with AirClient("https://host", CLIENT_ID, SECRET, transport=transport) as c:
        with pytest.raises(AirCredentialsRejected) as caught:
            await c.trigger("i", "r", ["T"])
    assert SECRET not in str(caught.value)
    assert SECRET not in caught.value.body
    assert SECRET not in repr(caught.value.error_message)


# --- against the local AIR ------------------------------------------------------------------


@pytest.fixture
async def local_air(tmp_path: Any) -> AsyncIterator[LocalAir]:
    async with LocalAir(
        CLIENT_ID,
        SECRET,
        wallets=WALLETS,
        triggers=TRIGGERS,
        record=tmp_path / "granted.jsonl",
    ) as air:
        yield air


MakeClient = Callable[..., AirClient]


@pytest.fixture
async def make_client(local_air: LocalAir) -> AsyncIterator[MakeClient]:
    made: list[AirClient] = []

    def make(**options: Any) -> AirClient:
        secret = options.pop("client_secret", SECRET)
        base = options.pop("base_url", local_air.base_url)
        options.setdefault("timeout", WAIT)
        client = AirClient(base, CLIENT_ID, secret, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def _accounts(transaction: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            a["account"]["type"],
            a["event"],
            a["value"],
            a["balancesBefore"],
            a["balancesAfter"],
        )
        for a in transaction["accounts"]
    ]


async def test_a_reward_is_granted(local_air: LocalAir, make_client: MakeClient) -> None:
    result = await make_client().trigger(CARD, "welcome-0001", ["WELCOME5000"])
    assert (result.kind, result.status) == (AirOutcome.DONE, 201)
    tx = result.transaction
    assert tx is not None
    assert {
        k: tx[k] for k in ("walletTransactionId", "walletId", "reference", "type", "status")
    } == {
        "walletTransactionId": "600000001",
        "walletId": WALLET,
        "reference": "welcome-0001",
        "type": "BEHAVIOURAL_ACTION_POINTS",
        "status": "SETTLED",
    }
    empty = {"available": 0, "refundable": 0}
    assert _accounts(tx) == [
        ("BEHAVIOURAL_ACTION", "CREATE", 0, empty, empty),
        ("BEHAVIOURAL_ACTION", "REDEEM", 5000, empty, empty),
        (
            "POINTS",
            "CREDIT",
            5000,
            {"current": 100, "lifetime": 100},
            {"current": 5100, "lifetime": 5100},
        ),
    ]
    assert tx["accounts"][2]["account"]["balances"]["current"] == 5100
    assert local_air.state.granted_json()["granted"] == {"welcome-0001": 1}


async def test_unknown_identity_is_permanent_404(
    local_air: LocalAir, make_client: MakeClient
) -> None:
    result = await make_client().trigger("9999", "r-404", ["WELCOME5000"])
    assert (result.kind, result.status, result.error_code, result.error_message) == (
        AirOutcome.PERMANENT,
        404,
        "WALLET_NOT_FOUND",
        "no wallet has the identity 9999",
    )
    assert orjson.loads(result.body) == {
        "errorCode": "WALLET_NOT_FOUND",
        "errorMessage": "no wallet has the identity 9999",
    }
    assert local_air.state.granted_json()["granted"] == {}


async def test_unknown_trigger_is_permanent_400(
    local_air: LocalAir, make_client: MakeClient
) -> None:
    result = await make_client().trigger(CARD, "r-400", ["WELCOME5000", "NOPE"])
    assert (result.kind, result.status, result.error_code, result.error_message) == (
        AirOutcome.PERMANENT,
        400,
        "INVALID_TRIGGER",
        "unknown trigger reference: NOPE",
    )
    assert local_air.state.granted_json()["granted"] == {}  # nothing of it was granted


async def test_wrong_secret_is_credentials(local_air: LocalAir, make_client: MakeClient) -> None:
    client = make_client(client_secret="not-the-secret")
    with pytest.raises(AirCredentialsRejected) as caught:
        await client.trigger(CARD, "r-401", ["WELCOME5000"])
    assert (caught.value.status, caught.value.error_code) == (401, "UNAUTHORISED")
    assert caught.value.error_message == "authentication failed: the request hash does not match"
    assert "not-the-secret" not in str(caught.value)
    assert local_air.state.granted_json()["granted"] == {}


async def test_429_with_retry_after(local_air: LocalAir, make_client: MakeClient) -> None:
    local_air.faults.update({"rate_limit_next": 1, "retry_after": 3})
    client = make_client()
    first = await client.trigger(CARD, "r-429", ["WELCOME5000"])
    assert (first.kind, first.status, first.retry_after, first.error_code) == (
        AirOutcome.TRANSIENT,
        429,
        3.0,
        "TOO_MANY_REQUESTS",
    )
    assert local_air.state.granted_json()["granted"] == {}
    second = await client.trigger(CARD, "r-429", ["WELCOME5000"])
    assert (second.kind, second.status) == (AirOutcome.DONE, 201)


async def test_5xx_is_transient(local_air: LocalAir, make_client: MakeClient) -> None:
    local_air.faults.update({"server_error_next": 1, "server_error_status": 502})
    client = make_client()
    first = await client.trigger(CARD, "r-5xx", ["WELCOME5000"])
    assert (first.kind, first.status, first.error_code) == (
        AirOutcome.TRANSIENT,
        502,
        "SERVER_ERROR",
    )
    second = await client.trigger(CARD, "r-5xx", ["WELCOME5000"])
    assert (second.kind, second.status) == (AirOutcome.DONE, 201)
    assert local_air.state.granted_json()["granted"] == {"r-5xx": 1}


async def test_a_dropped_connection_is_transient(
    local_air: LocalAir, make_client: MakeClient
) -> None:
    local_air.faults.update({"drop_next": 1})
    client = make_client()
    first = await client.trigger(CARD, "r-drop", ["WELCOME5000"])
    assert (first.kind, first.status, first.reason) == (
        AirOutcome.TRANSIENT,
        None,
        "connection_error",
    )
    assert local_air.state.granted_json() == {
        "grants": [],
        "granted": {},
        "requests": {},
        "repeats": {},
    }
    second = await client.trigger(CARD, "r-drop", ["WELCOME5000"])
    assert second.done


async def test_accept_then_drop_then_the_same_reference_is_answered_as_the_first(
    local_air: LocalAir, make_client: MakeClient
) -> None:
    local_air.faults.update({"drop_after_accept_next": 1})
    client = make_client()
    first = await client.trigger(CARD, "r-accept-drop", ["WELCOME5000"])
    assert (first.kind, first.reason) == (AirOutcome.TRANSIENT, "connection_error")
    assert local_air.state.granted_json()["granted"] == {"r-accept-drop": 1}
    second = await client.trigger(CARD, "r-accept-drop", ["WELCOME5000"])
    assert (second.kind, second.status) == (AirOutcome.DONE, 201)
    assert second.body.encode() == local_air.state.answers["r-accept-drop"].body
    assert local_air.state.granted_json()["granted"] == {"r-accept-drop": 1}
    assert local_air.state.granted_json()["repeats"] == {"r-accept-drop": 1}
    assert local_air.state.wallets[WALLET].points_balance() == 5100  # rewarded once
    assert [r.status for r in local_air.state.requests] == [-1, 201]
    assert local_air.state.requests[0].dropped_after_accept


async def _until(what: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not what():
        if time.monotonic() > deadline:
            raise TimeoutError("the local AIR did not get there")
        await asyncio.sleep(0.02)


async def test_a_slow_answer_times_out_and_the_retry_rewards_once(
    local_air: LocalAir, make_client: MakeClient
) -> None:
    local_air.faults.update({"delay_seconds": 2.0})
    client = make_client(timeout=0.2)
    first = await client.trigger(CARD, "r-slow", ["WELCOME5000"])
    assert (first.kind, first.status, first.reason) == (AirOutcome.TRANSIENT, None, "timeout")
    local_air.faults.update({"delay_seconds": 0})
    second = await client.trigger(CARD, "r-slow", ["WELCOME5000"])
    assert (second.kind, second.status) == (AirOutcome.DONE, 201)
    # The slow request goes on in AIR after the client gave up: whichever of the two came
    # first rewarded, the other was answered as a repeat.
    await _until(lambda: all(r.status != 0 for r in local_air.state.requests))
    granted = local_air.state.granted_json()
    assert (granted["granted"], granted["requests"], granted["repeats"]) == (
        {"r-slow": 1},
        {"r-slow": 2},
        {"r-slow": 1},
    )


async def test_accept_then_hold_past_the_timeout(
    local_air: LocalAir, make_client: MakeClient
) -> None:
    local_air.faults.update({"delay_after_accept_seconds": 2.0})
    client = make_client(timeout=0.2)
    first = await client.trigger(CARD, "r-hold", ["WELCOME5000"])
    assert (first.kind, first.reason) == (AirOutcome.TRANSIENT, "timeout")
    assert local_air.state.granted_json()["granted"] == {"r-hold": 1}
    local_air.faults.update({"delay_after_accept_seconds": 0})
    second = await make_client().trigger(CARD, "r-hold", ["WELCOME5000"])
    assert second.done
    assert second.transaction == orjson.loads(local_air.state.answers["r-hold"].body)
    assert local_air.state.granted_json()["granted"] == {"r-hold": 1}


async def test_a_repeated_reference_is_answered_as_the_first_and_rewards_once(
    local_air: LocalAir, make_client: MakeClient
) -> None:
    client = make_client()
    first = await client.trigger(CARD, "r-twice", ["WELCOME5000"])
    second = await client.trigger(CARD, "r-twice", ["WELCOME5000"])
    assert first.done and second.done
    assert (second.status, second.body) == (first.status, first.body)
    assert local_air.state.granted_json()["granted"] == {"r-twice": 1}
    assert local_air.state.wallets[WALLET].points_balance() == 5100
    assert len(local_air.state.emitted) == 1


async def test_get_wallet_transaction(local_air: LocalAir, make_client: MakeClient) -> None:
    client = make_client()
    granted = await client.trigger(CARD, "r-get", ["WELCOME5000"])
    assert granted.transaction is not None
    found = await client.wallet_transaction(WALLET, granted.transaction["walletTransactionId"])
    assert (found.kind, found.status, found.transaction) == (
        AirOutcome.DONE,
        200,
        granted.transaction,
    )
    assert found.transaction is not None and found.transaction["reference"] == "r-get"
    missing = await client.wallet_transaction(WALLET, "1")
    assert (missing.kind, missing.status, missing.error_code) == (
        AirOutcome.PERMANENT,
        404,
        "WALLET_TRANSACTION_NOT_FOUND",
    )
    elsewhere = await client.wallet_transaction("1", granted.transaction["walletTransactionId"])
    assert (elsewhere.kind, elsewhere.status) == (AirOutcome.PERMANENT, 404)


async def test_one_connection_is_kept_alive(local_air: LocalAir, make_client: MakeClient) -> None:
    client = make_client()
    for n in range(3):
        assert (await client.trigger(CARD, f"r-keep-{n}", ["WELCOME5000"])).done
    ports = {r.client_port for r in local_air.state.requests}
    assert len(ports) == 1 and None not in ports


async def test_a_prefixed_wallet_domain(tmp_path: Any) -> None:
    async with LocalAir(CLIENT_ID, SECRET, wallets=WALLETS, triggers=TRIGGERS, prefix="/2.0") as a:
        assert a.base_url.endswith("/2.0")
        async with AirClient(a.base_url, CLIENT_ID, SECRET, timeout=WAIT) as client:
            assert (await client.trigger(CARD, "r-prefix", ["WELCOME5000"])).done
        async with AirClient(a.root_url, CLIENT_ID, SECRET, timeout=WAIT) as client:
            result = await client.trigger(CARD, "r-no-prefix", ["WELCOME5000"])
        assert (result.kind, result.status) == (AirOutcome.PERMANENT, 404)


async def test_the_secret_is_in_no_repr_error_or_log(
    local_air: LocalAir, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-secret-value"
    client = make_client()
    results: list[AirResult] = []
    errors: list[BaseException] = []
    local_air.faults.update({"rate_limit_next": 1, "server_error_next": 1, "drop_next": 1})
    for reference in ("s-1", "s-2", "s-3", "s-4"):  # dropped, 429, 503, granted
        results.append(await client.trigger(CARD, reference, ["WELCOME5000"]))
    results.append(await client.trigger("nobody", "s-5", ["WELCOME5000"]))
    results.append(await client.wallet_transaction(WALLET, "1"))
    assert [r.reason for r in results] == ["connection_error", "429", "503", "201", "404", "404"]
    bad = make_client(client_secret=wrong)
    with pytest.raises(AirCredentialsRejected) as caught:
        await bad.trigger(CARD, "s-6", ["WELCOME5000"])
    errors.append(caught.value)
    with pytest.raises(ValueError) as invalid:
        await client.trigger(CARD, "", ["WELCOME5000"])
    errors.append(invalid.value)
    shown = [repr(client), str(client), repr(bad), repr(local_air), repr(local_air.state)]
    shown += [repr(r) for r in results] + [str(e) for e in errors] + [repr(e) for e in errors]
    shown.append(caplog.text)
    shown += [str(record.args) for record in caplog.records]
    for text in shown:
        assert SECRET not in text
        assert wrong not in text


async def test_a_request_its_caller_let_go_while_it_waited_is_not_sent(
    local_air: LocalAir, make_client: MakeClient
) -> None:
    # One slot: the second request waits behind the first, which AIR answers slowly; the
    # caller lets go meanwhile (a worker stopping), so the second leaves unsent.
    local_air.faults.update({"delay_seconds": 0.5})
    client = make_client(pacing=replace(AIR_PACING, max_in_flight=1))
    ours = [True]
    first = asyncio.ensure_future(client.trigger(CARD, "r-first", ["WELCOME5000"], lambda: ours[0]))
    second = asyncio.ensure_future(
        client.trigger(CARD, "r-second", ["WELCOME5000"], lambda: ours[0])
    )
    await asyncio.sleep(0.1)  # the first is with AIR, the second waits for its slot
    ours[0] = False
    assert (await first).done  # in flight already: it finishes
    with pytest.raises(NotSent, match="POST /services/trigger"):
        await second
    assert [r.reference for r in local_air.state.requests] == ["r-first"]


async def test_a_secret_from_the_secrets_directory_signs_the_requests(
    local_air: LocalAir, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # AIRMP_SECRETS_DIR as Kubernetes mounts a Secret: the file's secret is what the client
    # signs with (AIR answers 401 to any other).
    from config import load_settings

    (tmp_path / "AIRMP_AIR_CLIENT_SECRET").write_text(SECRET + "\n")
    monkeypatch.setenv("AIRMP_SECRETS_DIR", str(tmp_path))
    settings = load_settings(air_client_id=CLIENT_ID, air_wallet_url=local_air.base_url)
    async with AirClient.from_settings(settings, timeout=WAIT) as client:
        assert (await client.trigger(CARD, "r-from-a-file", ["WELCOME5000"])).done
    (tmp_path / "AIRMP_AIR_CLIENT_SECRET").write_text("another-secret")
    settings = load_settings(air_client_id=CLIENT_ID, air_wallet_url=local_air.base_url)
    async with AirClient.from_settings(settings, timeout=WAIT) as client:
        with pytest.raises(AirCredentialsRejected):
            await client.trigger(CARD, "r-wrong-file", ["WELCOME5000"])
