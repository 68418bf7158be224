"""The local AIR's HTTP side: AIR's routes under the API prefix, the `_mock` routes, the
aiohttp app (`create_app`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from mappers.reading import Notification, Rejection, parse
from sinks.air import CLIENT_ID_HEADER, HASH_HEADER, TRIGGER_PATH
from testkit.local_air.config import AirConfig
from testkit.local_air.emission import Emitter
from testkit.local_air.faults import RequestLog, error_body
from testkit.local_air.rewards import load_triggers, triggers_from
from testkit.local_air.state import AirState
from testkit.local_air.wallets import load_wallets

log = logging.getLogger(__name__)

WALLET_TRANSACTION_ROUTE = "/wallet/{wallet_id}/transaction/{transaction_id}"


# --- HTTP -------------------------------------------------------------------------------------

STATE_KEY = web.AppKey("air_state", AirState)
EMITTER_KEY = web.AppKey("air_emitter", Emitter)


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError  # nothing more to write to a dead connection


async def _guard(request: web.Request, body: bytes, entry: RequestLog) -> web.Response | None:
    """The faults and checks every API request meets first; None: go on. A refusal is
    logged in `entry` with its status."""
    refused = await _refusal(request, body, entry)
    if refused is not None:
        entry.status = refused.status
    return refused


async def _refusal(request: web.Request, body: bytes, entry: RequestLog) -> web.Response | None:
    state = request.app[STATE_KEY]
    faults = state.faults
    if faults.delay_seconds > 0:
        await asyncio.sleep(faults.delay_seconds)
    if faults.drop_next > 0:
        faults.drop_next -= 1
        entry.status = -1
        _abort(request)
    if request.method == "POST" and request.content_length is None:
        return _error(411, "a Content-Length is required (no chunked bodies)")
    problem = state.auth_problem(
        request.raw_path.encode(),
        body,
        request.headers.get(CLIENT_ID_HEADER),
        request.headers.get(HASH_HEADER),
    )
    if problem:
        return _error(401, f"authentication failed: {problem}")
    if faults.rate_limit_next > 0:
        faults.rate_limit_next -= 1
        headers = {}
        if faults.retry_after is not None:
            headers["Retry-After"] = f"{faults.retry_after:g}"
        return _error(429, "rate limit exceeded", **headers)
    if faults.server_error_next > 0:
        faults.server_error_next -= 1
        return _error(faults.server_error_status, "injected server error")
    return None


def _log(request: web.Request) -> RequestLog:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    port = peer[1] if isinstance(peer, tuple) and len(peer) >= 2 else None
    entry = RequestLog(request.method, request.path, arrival=time.time(), client_port=port)
    request.app[STATE_KEY].requests.append(entry)
    return entry


async def _trigger(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    entry = _log(request)
    body = await request.read()
    refused = await _guard(request, body, entry)
    if refused is not None:
        return refused
    answer = state.trigger(body)
    entry.status, entry.reference = answer.status, answer.reference
    entry.granted, entry.repeat = answer.granted, answer.repeat
    faults = state.faults
    if answer.granted and faults.drop_after_accept_next > 0:
        faults.drop_after_accept_next -= 1
        entry.status, entry.dropped_after_accept = -1, True
        _abort(request)
    if answer.granted and faults.delay_after_accept_seconds > 0:
        await asyncio.sleep(faults.delay_after_accept_seconds)
    return web.Response(status=answer.status, body=answer.body, content_type="application/json")


async def _wallet_transaction(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    entry = _log(request)
    body = await request.read()
    refused = await _guard(request, body, entry)
    if refused is not None:
        return refused
    wallet_id = request.match_info["wallet_id"]
    transaction_id = request.match_info["transaction_id"]
    found = state.transaction(wallet_id, transaction_id)
    if found is None:
        entry.status = 404
        message = f"wallet {wallet_id} has no transaction {transaction_id}"
        return _error(404, message, "WALLET_TRANSACTION_NOT_FOUND")
    entry.status = 200
    return web.Response(status=200, body=orjson.dumps(found), content_type="application/json")


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """aiohttp's own 404/405 as AIR-shaped JSON errors."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason)


def _since(request: web.Request, items: list[Any]) -> list[Any] | web.Response:
    try:
        since = int(request.query.get("since", "0"))
    except ValueError as exc:
        return _error(400, str(exc))
    if since < 0:
        return _error(400, "since must not be negative")
    return items[since:]


async def _mock_faults(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        changes = await request.json()
        if not isinstance(changes, dict):
            raise ValueError("faults must be a JSON object")
        state.faults.update(changes)
    except ValueError as exc:
        return _error(400, str(exc))
    return web.json_response(state.faults.as_json())


async def _mock_reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return web.json_response({"reset": True})


async def _mock_notifications(request: web.Request) -> web.Response:
    """One AIR notification (a JSON object) or an array of them, learnt in order."""
    state = request.app[STATE_KEY]
    raw = await request.read()
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _error(400, f"not JSON: {exc}")
    documents = payload if isinstance(payload, list) else [payload]
    parsed = [parse(orjson.dumps(d)) for d in documents]
    for number, notification in enumerate(parsed):
        if isinstance(notification, Rejection):
            return _error(400, f"notification {number}: {notification.reason}")
    learnt = [state.learn(n) for n in parsed if isinstance(n, Notification)]
    return web.json_response({"learnt": len(parsed), "wallets": [w for w in learnt if w]})


async def _mock_add_wallets(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        payload = await request.json()
        specs = payload if isinstance(payload, list) else [payload]
        if not all(isinstance(s, dict) for s in specs):
            raise ValueError("wallets must be JSON objects")
        wallets = [state.add_wallet(spec) for spec in specs]
    except ValueError as exc:
        return _error(400, str(exc))
    return web.json_response({"wallets": [w.summary() for w in wallets]})


async def _mock_wallets(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.json_response({"wallets": [w.summary() for w in state.wallets.values()]})


async def _mock_add_triggers(request: web.Request) -> web.Response:
    """{"REFERENCE": "points:5000", ...}: added to (or replacing) the known triggers."""
    state = request.app[STATE_KEY]
    try:
        payload = await request.json()
        if not isinstance(payload, dict) or not all(isinstance(v, str) for v in payload.values()):
            raise ValueError("triggers must be a JSON object of reference -> spec")
        state.triggers.update(triggers_from(payload))
    except ValueError as exc:
        return _error(400, str(exc))
    return web.json_response({ref: reward.spec for ref, reward in state.triggers.items()})


async def _mock_triggers(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.json_response({ref: reward.spec for ref, reward in state.triggers.items()})


async def _mock_granted(request: web.Request) -> web.Response:
    """{"grants": [the JSONL records], "granted": {reference: rewards},
    "requests": {reference: trigger requests that got past signature and faults},
    "repeats": {reference: requests answered as the first}}."""
    return web.json_response(request.app[STATE_KEY].granted_json())


async def _mock_requests(request: web.Request) -> web.Response:
    found = _since(request, request.app[STATE_KEY].requests)
    if isinstance(found, web.Response):
        return found
    return web.json_response({"requests": [asdict(r) for r in found]})


async def _mock_emitted(request: web.Request) -> web.Response:
    found = _since(request, request.app[STATE_KEY].emitted)
    if isinstance(found, web.Response):
        return found
    return web.json_response({"notifications": found})


async def _mock_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _add_routes(app: web.Application, prefix: str) -> None:
    """AIR's routes under the API prefix; the _mock routes at the root."""
    app.router.add_post(prefix + TRIGGER_PATH, _trigger)
    app.router.add_get(prefix + WALLET_TRANSACTION_ROUTE, _wallet_transaction)
    for path, handler in (
        ("/_mock/faults", _mock_faults),
        ("/_mock/reset", _mock_reset),
        ("/_mock/notifications", _mock_notifications),
        ("/_mock/wallets", _mock_add_wallets),
        ("/_mock/triggers", _mock_add_triggers),
    ):
        app.router.add_post(path, handler)
    for path, handler in (
        ("/_mock/wallets", _mock_wallets),
        ("/_mock/triggers", _mock_triggers),
        ("/_mock/granted", _mock_granted),
        ("/_mock/requests", _mock_requests),
        ("/_mock/emitted", _mock_emitted),
        ("/_mock/health", _mock_health),
    ):
        app.router.add_get(path, handler)


def create_app(config: AirConfig) -> web.Application:
    """The local AIR as an aiohttp app, as `config` says."""
    known = load_triggers(config.triggers_file) if config.triggers_file else {}
    known.update(triggers_from(config.triggers))
    state = AirState(
        config.client_id,
        config.client_secret,
        triggers=known,
        faults=config.faults,
        record=Path(config.record) if config.record else None,
        clock=config.clock,
        event_ids=config.event_ids,
    )
    try:
        wallets_file = config.wallets_file
        for spec in [*(load_wallets(wallets_file) if wallets_file else []), *config.wallets]:
            state.add_wallet(spec)
    except BaseException:
        state.close()
        raise
    emitter = Emitter(config.targets)
    state.on_emit = emitter.put
    app = web.Application(middlewares=[_json_errors])
    app[STATE_KEY] = state
    app[EMITTER_KEY] = emitter
    _add_routes(app, config.route_prefix)

    async def _start(_: web.Application) -> None:
        await emitter.start()

    async def _close(_: web.Application) -> None:
        await emitter.stop()
        state.close()

    app.on_startup.append(_start)
    app.on_cleanup.append(_close)
    return app


def _error(status: int, message: str, code: str | None = None, **headers: str) -> web.Response:
    return web.Response(
        status=status,
        body=error_body(status, message, code),
        content_type="application/json",
        headers=headers or None,
    )
