"""The local mParticle endpoint: validation, limits, auth, recording, faults; and the schema
oracle's agreement (skipped, visibly, when MPARTICLE_SCHEMA_DIR is unset)."""

from __future__ import annotations

import asyncio
import copy
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from testkit.local_mparticle import LocalEndpoint
from testkit.mparticle_rules import LAXER_THAN_SCHEMA, STRICTER_THAN_SCHEMA, batch_errors
from tests.sinks.conftest import KEY, SECRET
from tests.sinks.records import commerce_event, record

Check = Callable[[Any], list[str]]


def valid_batch() -> dict[str, Any]:
    return record(1)["batch"]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(batch: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = batch
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return change


_DELETE = object()

# (id, change to a valid batch, does mParticle's published schema also reject it?)
INVALID: list[tuple[str, Callable[[dict[str, Any]], None], bool]] = [
    ("environment", _set("environment", "staging"), True),
    ("no environment", _set("environment", _DELETE), True),
    ("unknown field", _set("colour", "blue"), True),
    ("unknown identity", _set("user_identities", {"loyalty_card": "1"}), True),
    ("no identity", _set("user_identities", {}), False),
    ("identities absent", _set("user_identities", _DELETE), False),
    ("identity not a string", _set("user_identities", {"customer_id": ["a"]}), True),
    ("events not a list", _set("events", {"a": 1}), True),
    ("events absent", _set("events", _DELETE), False),
    ("event type", _set("events.0.event_type", "loyalty_event"), True),
    ("no event_name", _set("events.0.data.event_name", _DELETE), True),
    ("no custom_event_type", _set("events.0.data.custom_event_type", _DELETE), True),
    ("custom_event_type", _set("events.0.data.custom_event_type", "loyalty"), True),
    ("source_message_id", _set("events.0.data.source_message_id", "not-a-uuid"), True),
    ("attribute object", _set("events.0.data.custom_attributes", {"a": {"b": 1}}), True),
    ("attribute list", _set("events.0.data.custom_attributes", {"a": [1]}), True),
    ("timestamp string", _set("events.0.data.timestamp_unixtime_ms", "17000"), True),
    ("user attribute object", _set("user_attributes", {"a": {"b": "c"}}), True),
    ("user attribute list of objects", _set("user_attributes", {"a": [{"b": 1}]}), True),
    ("mpid string", _set("mpid", "123"), True),
    ("deleted not a list", _set("deleted_user_attributes", "tier"), True),
    ("batch too large", _set("user_attributes", {"n": "x" * 132_000}), False),
]


def _commerce_batch() -> dict[str, Any]:
    batch = valid_batch()
    batch["events"] = [commerce_event(1)]
    return batch


def _commerce(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    inner = _set("events.0.data." + path, value)

    def change(batch: dict[str, Any]) -> None:
        batch["events"] = [commerce_event(1)]
        inner(batch)

    return change


INVALID += [
    ("product action", _commerce("product_action.action", "buy"), True),
    ("no product action", _commerce("product_action.action", _DELETE), True),
    ("amount string", _commerce("product_action.total_amount", "63.00"), True),
    ("transaction id int", _commerce("product_action.transaction_id", 42), True),
    ("price string", _commerce("product_action.products.0.price", "3.50"), True),
    (
        "product attribute number",
        _commerce("product_action.products.0.custom_attributes", {"size": 12}),
        True,
    ),
]

# (id, change to a valid batch, does mParticle's published schema also accept it?)
VALID: list[tuple[str, Callable[[dict[str, Any]], None], bool]] = [
    ("custom", lambda b: None, True),
    ("commerce", lambda b: b.update(_commerce_batch()), True),
    ("attribution type", _set("events.0.data.custom_event_type", "attribution"), True),
    ("other_id_10", _set("user_identities", {"other_id_10": "x", "mobile_number": "+44"}), True),
    ("user attribute list", _set("user_attributes", {"tiers": ["gold", "silver"], "n": 1}), True),
    ("deleted attributes", _set("deleted_user_attributes", ["tier"]), True),
    ("no events", _set("events", []), True),
    ("schema_version", _set("schema_version", 2), True),
    ("SDK's customerid", _set("user_identities", {"customerid": "wallet-1"}), False),
]


def _batch(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    batch = copy.deepcopy(valid_batch())
    change(batch)
    return batch


async def _post(ep: LocalEndpoint, body: Any, path: str = "/v2/bulkevents", **kw: Any) -> Any:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    kw.setdefault("auth", (KEY, SECRET))
    async with httpx.AsyncClient(base_url=ep.base_url) as client:
        return await client.post(path, content=content, **kw)


@pytest.mark.parametrize(("name", "change", "_"), VALID, ids=[v[0] for v in VALID])
async def test_a_valid_batch_is_accepted_and_recorded(
    endpoint: LocalEndpoint, name: str, change: Callable[[dict[str, Any]], None], _: bool
) -> None:
    batch = _batch(change)
    single = await _post(endpoint, batch, "/v2/events")
    bulk = await _post(endpoint, [batch, batch])
    assert (single.status_code, bulk.status_code) == (202, 202), bulk.text
    assert endpoint.state.accepted == [batch] * 3
    path = endpoint.state._record_file.name  # type: ignore[union-attr]
    with open(path, "rb") as f:
        assert [orjson.loads(line) for line in f] == [batch] * 3


@pytest.mark.parametrize(("name", "change", "_"), INVALID, ids=[v[0] for v in INVALID])
async def test_an_invalid_batch_fails_the_whole_request(
    endpoint: LocalEndpoint, name: str, change: Callable[[dict[str, Any]], None], _: bool
) -> None:
    good, bad = valid_batch(), _batch(change)
    response = await _post(endpoint, [good, bad, good])
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors and {e["batch_index"] for e in errors} == {1}
    assert endpoint.state.accepted == []


async def test_request_limits_and_malformed_bodies(endpoint: LocalEndpoint) -> None:
    batch = valid_batch()
    assert (await _post(endpoint, [batch] * 100)).status_code == 202
    too_many = await _post(endpoint, [batch] * 101)
    assert too_many.status_code == 400 and "100" in too_many.text
    assert (await _post(endpoint, b"[{")).status_code == 400
    assert (await _post(endpoint, batch)).status_code == 400  # bulk body must be an array
    big = [record(n, pad=60_000)["batch"] for n in range(5)]
    assert len(orjson.dumps(big)) > 256 * 1024
    assert (await _post(endpoint, big)).status_code == 413
    assert len(endpoint.state.accepted) == 100


async def test_bad_credentials_get_401(endpoint: LocalEndpoint) -> None:
    assert (await _post(endpoint, [valid_batch()], auth=(KEY, "wrong"))).status_code == 401
    assert (await _post(endpoint, [valid_batch()], auth=None)).status_code == 401
    assert endpoint.state.accepted == []


async def test_mock_control_endpoints(endpoint: LocalEndpoint) -> None:
    async with httpx.AsyncClient(base_url=endpoint.base_url) as client:
        assert (await client.get("/_mock/health")).json() == {"status": "ok"}
        faults = await client.post("/_mock/faults", json={"server_error_next": 1})
        assert faults.json()["server_error_next"] == 1
        assert (await client.post("/_mock/faults", json={"bogus": 1})).status_code == 400
        assert (await _post(endpoint, [valid_batch()])).status_code == 503
        assert (await _post(endpoint, [valid_batch()])).status_code == 202
        accepted = (await client.get("/_mock/accepted")).json()
        assert len(accepted["batches"]) == 1
        assert [(r["status"], r["batches"]) for r in accepted["requests"]] == [(503, 1), (202, 1)]
        assert accepted["requests"][0]["body_bytes"] > 0
        await client.post("/_mock/reset")
        assert (await client.get("/_mock/accepted")).json() == {"batches": [], "requests": []}


async def test_injected_429_and_per_batch_rejection(endpoint: LocalEndpoint) -> None:
    endpoint.faults.update({"rate_limit_next": 1, "retry_after": 2})
    limited = await _post(endpoint, [valid_batch()])
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")
    endpoint.faults.update({"reject_source_request_ids": [valid_batch()["source_request_id"]]})
    rejected = await _post(endpoint, [record(5)["batch"], valid_batch()])
    assert rejected.status_code == 400
    assert rejected.json()["errors"][0]["batch_index"] == 1


async def test_accept_then_drop_records_the_batch_and_the_client_sees_no_answer(
    endpoint: LocalEndpoint,
) -> None:
    """The case only a re-send with the same source_request_id covers: mParticle has the
    batch, the client never heard so. Requests it does not accept leave the counter alone."""
    endpoint.faults.update({"drop_after_accept_next": 1, "rate_limit_next": 1})
    first, second = valid_batch(), record(2)["batch"]
    limited = await _post(endpoint, [first])
    assert limited.status_code == 429
    assert endpoint.faults.drop_after_accept_next == 1
    with pytest.raises(httpx.RemoteProtocolError, match="without sending"):
        await _post(endpoint, [first])
    assert endpoint.state.accepted == [first]
    assert endpoint.faults.drop_after_accept_next == 0
    assert (await _post(endpoint, [first, second])).status_code == 202
    assert endpoint.state.accepted == [first, first, second]
    logs = [(r.status, r.batches, r.dropped_after_accept) for r in endpoint.state.requests]
    assert logs == [(429, 1, False), (-1, 1, True), (202, 2, False)]
    path = endpoint.state._record_file.name  # type: ignore[union-attr]
    with open(path, "rb") as f:
        assert [orjson.loads(line) for line in f] == [first, first, second]


async def test_accepted_since_returns_only_the_newer_batches_and_requests(
    endpoint: LocalEndpoint,
) -> None:
    batches = [record(n)["batch"] for n in range(1, 4)]
    for batch in batches:
        assert (await _post(endpoint, [batch])).status_code == 202
    async with httpx.AsyncClient(base_url=endpoint.base_url) as client:
        view = (await client.get("/_mock/accepted", params={"since": 2})).json()
        assert view["batches"] == batches[2:]
        assert len(view["requests"]) == 3
        view = (await client.get("/_mock/accepted?since=5&requests_since=2")).json()
        assert (view["batches"], len(view["requests"])) == ([], 1)
        assert (await client.get("/_mock/accepted?since=-1")).status_code == 400
        assert (await client.get("/_mock/accepted?since=x")).status_code == 400


# --- agreement with mParticle's published schema ------------------------------------------


@pytest.mark.parametrize(("name", "change", "oracle"), VALID, ids=[v[0] for v in VALID])
def test_batches_the_endpoint_accepts_pass_the_oracle_or_are_laxer_by_evidence(
    mparticle_oracle: tuple[Check, Check],
    name: str,
    change: Callable[[dict[str, Any]], None],
    oracle: bool,
) -> None:
    """Laxer by evidence (LAXER_THAN_SCHEMA): mParticle's own SDK sends it."""
    check_batch, check_bulk = mparticle_oracle
    batch = _batch(change)
    assert batch_errors(batch) == []
    if oracle:
        assert check_batch(batch) == []
        assert check_bulk([batch, batch]) == []
    else:
        assert check_batch(batch) == [
            "user_identities: Additional properties are not allowed ('customerid' was unexpected)"
        ]
        assert list(LAXER_THAN_SCHEMA) == ["user_identities.customerid"]


@pytest.mark.parametrize(("name", "change", "oracle"), INVALID, ids=[v[0] for v in INVALID])
def test_batches_the_endpoint_rejects_are_rejected_by_the_oracle_or_stricter_by_design(
    mparticle_oracle: tuple[Check, Check],
    name: str,
    change: Callable[[dict[str, Any]], None],
    oracle: bool,
) -> None:
    """Stricter by design (STRICTER_THAN_SCHEMA): a batch with no identity or no events is
    useless to this connector and means a mapping bug; the schema does not know sizes."""
    check_batch, _ = mparticle_oracle
    batch = _batch(change)
    assert batch_errors(batch)
    if oracle:
        assert check_batch(batch), f"the oracle accepts {name}"
    else:
        assert check_batch(batch) == [], "documented as stricter, but the oracle agrees"
        assert name in ("no identity", "identities absent", "events absent", "batch too large")
    assert {"user_identities", "events"} <= set(STRICTER_THAN_SCHEMA)


async def test_runs_as_a_command(tmp_path: Any) -> None:
    """`airmp mock-mparticle --port 0 --record FILE`, credentials from the AIRMP_ variables."""
    record_file = tmp_path / "out.jsonl"
    airmp = str(Path(sys.executable).with_name("airmp"))
    process = await asyncio.create_subprocess_exec(
        *(airmp, "mock-mparticle", "--port", "0", "--record", str(record_file)),
        env={
            **os.environ,
            "AIRMP_MPARTICLE_API_KEY": KEY,
            "AIRMP_MPARTICLE_API_SECRET": SECRET,
        },
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        url = line.decode().split()[-1]
        async with httpx.AsyncClient(base_url=url, auth=(KEY, SECRET)) as client:
            response = await client.post("/v2/events", content=orjson.dumps(valid_batch()))
        assert response.status_code == 202
        assert orjson.loads(record_file.read_bytes()) == valid_batch()
    finally:
        process.terminate()
        await process.wait()
