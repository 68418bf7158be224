"""The HTTP edges in process (Faust's aiohttp app on a loopback test server) on the real
Kafka: every answer and what reached Kafka, exactly; Firehose answers checked against
mParticle's schemas."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, cast

import httpx
import orjson
import pytest
from aiohttp.test_utils import TestServer
from faust.web.drivers.aiohttp import Web as AiohttpWeb
from prometheus_client import REGISTRY

from config import Settings, load_settings
from mappers import firehose
from mappers.rewards import RewardRequest
from streams.app import App as WorkerApp
from streams.app import app_options
from streams.edges import Edges, install_edges
from streams.edges.server import EdgeWeb
from streams.offsets import App
from streams.source import H_AUDIENCE_REFERENCES
from testkit import firehose as fh
from testkit.cases import CASES
from testkit.kafka import Message, consume, create_topics, unique
from testkit.processes import free_port
from tests.firehose_oracle import Check
from tests.mappers.test_firehose import three_profiles_two_audiences

pytestmark = pytest.mark.integration

FIREHOSE_TOKEN, WEBHOOK_TOKEN = "firehose-token-secret", "webhook-token-secret"


@dataclass
class Edge:
    http: httpx.AsyncClient
    settings: Settings
    edges: Edges
    bootstrap: str

    async def read(self, topic: str, count: int) -> list[Message]:
        return await consume(self.bootstrap, topic, count, timeout=30, settle=0.5)


@pytest.fixture
async def edge(kafka_bootstrap: str) -> AsyncIterator[Edge]:
    app_id = unique("edges")
    settings = load_settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        app_id=app_id,
        input_topic=f"{app_id}-air",
        reward_topic=f"{app_id}-rewards",
        audience_topic=f"{app_id}-audiences",
        dead_letter_topic=f"{app_id}-dlq",
        store="memory://",
        mparticle_firehose_token=FIREHOSE_TOKEN,
        connector_id=fh.CONNECTOR_ID,
        external_key=fh.EXTERNAL_KEY,
        air_webhook_token=WEBHOOK_TOKEN,
        max_message_bytes=1024 * 1024,
    )
    names = [
        settings.input_topic,
        settings.reward_topic,
        settings.audience_topic,
        settings.dead_letter_topic,
    ]
    await create_topics(kafka_bootstrap, names, 3)
    app = App(app_id, **app_options(settings))
    edges = install_edges(app, settings)
    await edges.producer.start()
    server = TestServer(cast(AiohttpWeb, app.web).web_app)
    await server.start_server()
    try:
        async with httpx.AsyncClient(base_url=str(server.make_url("")), timeout=30) as http:
            yield Edge(http, settings, edges, kafka_bootstrap)
    finally:
        await server.close()
        await edges.producer.stop()


def firehose_headers(token: str = FIREHOSE_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


async def post_firehose(edge: Edge, message: Any, token: str = FIREHOSE_TOKEN) -> httpx.Response:
    return await edge.http.post(
        "/mparticle/firehose", content=orjson.dumps(message), headers=firehose_headers(token)
    )


async def test_registration_needs_no_auth_and_a_wrong_token_is_401(
    edge: Edge, firehose_oracle: dict[str, Check]
) -> None:
    answer = await edge.http.post(
        "/mparticle/firehose", content=orjson.dumps(fh.registration_request())
    )
    assert answer.status_code == 200
    assert firehose_oracle["ModuleRegistrationResponse"](answer.json()) == []
    assert answer.json()["permissions"]["user_identities"][0]["type"] == "other"
    wrong = await post_firehose(edge, fh.subscription_request(5, "WELCOME5000"), token="nope")
    assert (wrong.status_code, wrong.json()) == (
        401,
        {"message": "wrong or missing Authorization: Token"},
    )
    none = await edge.http.post(
        "/mparticle/firehose", content=orjson.dumps(fh.membership_request(None))
    )
    assert none.status_code == 401


async def test_subscriptions_are_validated_and_a_wrong_key_suspends(
    edge: Edge, firehose_oracle: dict[str, Check]
) -> None:
    ok = await post_firehose(edge, fh.subscription_request(5, "WELCOME5000, BONUS"))
    assert ok.status_code == 200
    assert firehose_oracle["AudienceSubscriptionResponse"](ok.json()) == []
    assert edge.edges.subscriptions == {"5": ("WELCOME5000", "BONUS")}
    missing = await post_firehose(edge, fh.subscription_request(6, None))
    assert (missing.status_code, missing.json()) == (
        400,
        {"message": "action_references is required"},
    )
    other_key = await post_firehose(edge, fh.subscription_request(7, "A", key="someone-else"))
    assert other_key.status_code == 403
    suspended = await post_firehose(edge, fh.membership_request([], key="someone-else"))
    assert suspended.status_code == 200
    assert suspended.json()["suspend_subscription"] is True
    assert firehose_oracle["AudienceMembershipChangeResponse"](suspended.json()) == []
    verification = await post_firehose(edge, fh.membership_request(None))
    assert verification.status_code == 200 and "suspend_subscription" not in verification.json()
    assert firehose_oracle["AudienceMembershipChangeResponse"](verification.json()) == []


async def test_a_membership_change_is_one_message_on_the_audience_topic(
    edge: Edge, firehose_oracle: dict[str, Check]
) -> None:
    subscribed = await post_firehose(edge, fh.subscription_request(5, "WELCOME5000, BONUS"))
    assert subscribed.status_code == 200
    message = three_profiles_two_audiences()
    answer = await post_firehose(edge, message)
    assert answer.status_code == 200
    assert firehose_oracle["AudienceMembershipChangeResponse"](answer.json()) == []
    assert answer.json()["id"] == message["id"]
    (taken,) = await edge.read(edge.settings.audience_topic, 1)
    # As sent but for the account's settings: the external key never reaches Kafka.
    assert taken.key == str(fh.ACCOUNT_ID).encode()
    assert taken.value == orjson.dumps(firehose.without_account_settings(message))
    assert fh.EXTERNAL_KEY.encode() not in taken.value
    assert orjson.loads(taken.header(H_AUDIENCE_REFERENCES)) == {"5": ["WELCOME5000", "BONUS"]}
    assert await edge.read(edge.settings.reward_topic, 0) == []  # the fan-out agent's work
    assert await edge.read(edge.settings.dead_letter_topic, 0) == []


async def test_a_membership_change_of_the_wrong_shape_is_400(edge: Edge) -> None:
    message = {**fh.membership_request([]), "user_profiles": {"mpid": "1"}}
    answer = await post_firehose(edge, message)
    assert (answer.status_code, answer.json()) == (400, {"message": "user_profiles is not a list"})
    assert await edge.read(edge.settings.audience_topic, 0) == []


async def test_the_generic_inbound_route_answers_as_eagle_eye_connect(edge: Edge) -> None:
    path = f"/in/mparticle/{fh.CONNECTOR_ID}"
    trigger = {
        "identityValue": "2222",
        "walletTransaction": {"reference": "welcome-0001"},
        "triggers": [{"reference": "WELCOME5000"}],
    }
    body = {"type": "services/trigger", "body": trigger}
    raw = orjson.dumps(body)
    missing = await edge.http.post(path, content=raw)
    assert missing.status_code == 401
    wrong = await edge.http.post(path, content=raw, headers={"X-Auth-Token": "nope"})
    assert wrong.status_code == 403
    elsewhere = await edge.http.post(
        "/in/mparticle/another", content=raw, headers={"X-Auth-Token": fh.EXTERNAL_KEY}
    )
    assert elsewhere.status_code == 403
    invalid = await edge.http.post(
        path,
        content=orjson.dumps(
            {"type": "services/trigger", "body": {"triggers": [{"reference": "P"}]}}
        ),
        headers={"X-Auth-Token": fh.EXTERNAL_KEY},
    )
    errors = [{"path": "body.identityValue", "message": "Field required"}]
    assert (invalid.status_code, invalid.json()) == (
        400,
        {"message": "Validation error", "errors": errors},
    )
    ok = await edge.http.post(path, content=raw, headers={"X-Auth-Token": fh.EXTERNAL_KEY})
    assert (ok.status_code, ok.json()) == (200, {"status": "OK"})
    (produced,) = await edge.read(edge.settings.reward_topic, 1)
    request = RewardRequest.from_bytes(produced.value)
    assert (request.identity_value, request.triggers, request.reference) == (
        "2222",
        ("WELCOME5000",),
        "welcome-0001",
    )


async def test_the_air_webhook_takes_any_body_keyed_by_wallet(edge: Edge) -> None:
    token = {"X-Auth-Token": WEBHOOK_TOKEN}
    settle = orjson.dumps(CASES["POSCONNECT.WALLET.SETTLE"]()[0])
    bad = await edge.http.post("/air/notifications", content=settle, headers={"X-Auth-Token": "x"})
    assert bad.status_code == 401
    for path in ("/air/notifications", f"/out/mparticle/{fh.CONNECTOR_ID}"):
        answer = await edge.http.post(path, content=settle, headers=token)
        assert (answer.status_code, answer.json()) == (200, {"status": "OK"})
    garbage = await edge.http.post("/air/notifications", content=b"\x00not json", headers=token)
    assert garbage.status_code == 200
    unknown = await edge.http.post("/out/mparticle/other", content=settle, headers=token)
    assert unknown.status_code == 403
    huge = await edge.http.post(
        "/air/notifications", content=b"x" * (edge.settings.max_message_bytes + 1), headers=token
    )
    assert huge.status_code == 413
    produced = await edge.read(edge.settings.input_topic, 3)
    assert sorted((m.key or b"", m.value) for m in produced) == sorted(
        [(b"900100", settle), (b"900100", settle), (b"", b"\x00not json")]
    )
    assert [m.key for m in produced if m.value == b"\x00not json"] == [None]
    assert edge.edges.producer.problem is None


EDGE_AUTH = {
    "/mparticle/firehose": firehose_headers(),
    f"/in/mparticle/{fh.CONNECTOR_ID}": {"X-Auth-Token": fh.EXTERNAL_KEY},
    "/air/notifications": {"X-Auth-Token": WEBHOOK_TOKEN},
}


@pytest.mark.parametrize("path", sorted(EDGE_AUTH))
async def test_ten_megabytes_to_any_edge_is_413(
    edge: Edge, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = b'{"a": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    answer = await edge.http.post(path, content=body, headers=EDGE_AUTH[path])
    limit = edge.settings.max_message_bytes
    assert (answer.status_code, answer.json()) == (413, {"message": f"over {limit} bytes"})
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []


def counted(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


@pytest.mark.parametrize(
    ("kind", "answered"),
    [
        ("dsr_processing_request", "dsr_processing_response"),
        ("event_processing_request", "event_processing_response"),
    ],
)
async def test_requests_not_registered_for_get_their_empty_response(
    edge: Edge, kind: str, answered: str
) -> None:
    before = counted("airmp_edge_requests_total", route="firehose", status="200")
    request_id = "3d1b8a52-0f6e-4e8f-9a7c-2b5d4c6e8f10"
    message = {"type": kind, "id": request_id, "timestamp_ms": 1, "firehose_version": "2.1"}
    answer = await post_firehose(edge, message)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["type"], body["id"], body["firehose_version"]) == (
        answered,
        request_id,
        firehose.FIREHOSE_VERSION,
    )
    assert sorted(body) == ["firehose_version", "id", "timestamp_ms", "type"]
    assert counted("airmp_edge_requests_total", route="firehose", status="200") == before + 1


async def test_an_unknown_firehose_type_is_400_naming_it(edge: Edge) -> None:
    answer = await post_firehose(edge, {"type": "flux_capacitor_request", "id": "x"})
    assert (answer.status_code, answer.json()) == (
        400,
        {"message": "unknown Firehose message type 'flux_capacitor_request'"},
    )


@dataclass
class Served:
    port: int
    settings: Settings


@pytest.fixture
async def served(kafka_bootstrap: str) -> AsyncIterator[Served]:
    """The worker's own web server (streams.app.App's driver) on a loopback port."""
    app_id = unique("server")
    settings = load_settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        app_id=app_id,
        store="memory://",
        web_port=free_port(),
        edge_header_timeout_seconds=1.0,
    )
    app = WorkerApp(app_id, **app_options(settings))
    install_edges(app, settings)
    web = cast(EdgeWeb, app.web)
    await web.start_server()
    try:
        yield Served(settings.web_port, settings)
    finally:
        await web.stop_server()


async def exchange(port: int, sent: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(sent)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()


async def test_a_64_kb_header_is_400_and_a_warning(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    before = counted("airmp_edge_refused_connections_total", reason="malformed")
    request = b"POST /mparticle/firehose HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n" % (b"a" * 65536)
    answer = await exchange(served.port, request)
    assert answer.split(b" ", 2)[1] == b"400", answer[:200]  # aiohttp answers as HTTP/1.0
    assert [r.levelname for r in caplog.records if r.name.startswith("aiohttp")] == []
    warnings = [r.getMessage() for r in caplog.records if r.name == "airmp.edges"]
    assert warnings == ["a malformed HTTP request from 127.0.0.1 answered 400 (LineTooLong)"]
    assert counted("airmp_edge_refused_connections_total", reason="malformed") == before + 1


async def test_connections_sending_headers_slowly_are_closed(served: Served) -> None:
    before = counted("airmp_edge_refused_connections_total", reason="header_timeout")
    slow = [await asyncio.open_connection("127.0.0.1", served.port) for _ in range(20)]
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _, writer in slow:
        writer.write(b"POST /mparticle/firehose HTTP/1.1\r\n")

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        while not reader.at_eof() and loop.time() - started < 15:
            try:
                writer.write(b"X")
                await writer.drain()
            except ConnectionError:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.read(1), timeout=0.2)
        writer.close()
        return b"closed" if reader.at_eof() else b"open"

    states = await asyncio.gather(*(trickle(r, w) for r, w in slow))
    assert states == [b"closed"] * 20
    assert loop.time() - started < 5  # closed at the 1 s timeout, well before 15 s
    # A client that sends its request at once is served on the same server.
    registration = orjson.dumps({"type": "module_registration_request", "id": "r"})
    request = b"POST /mparticle/firehose HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
    request += b"Connection: close\r\n\r\n%s"
    answer = await exchange(served.port, request % (len(registration), registration))
    assert answer.split(b" ", 2)[1] == b"200", answer[:200]
    assert counted("airmp_edge_refused_connections_total", reason="header_timeout") == before + 20
