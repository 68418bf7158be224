"""A local mParticle-compatible S2S endpoint (`airmp mock-mparticle`), for tests and demos.

It validates like mParticle (testkit.mparticle_rules; a whole request is refused when any
batch is invalid), so mParticle's own SDK can be its client as well as our sink; it records
what it accepted (in memory, and one JSON line per batch in an optional file) and can
inject faults — 429, 5xx, delays, dropped connections (before or after accepting),
per-batch 400 — set when it is built or at runtime through POST /_mock/faults.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from aiohttp import web

from mappers.vocabulary import (
    API_MAX_BATCHES_PER_REQUEST,
    API_MAX_REQUEST_BYTES,
    BULK_PATH,
    SINGLE_PATH,
)
from testkit.loopback import LoopbackServer
from testkit.mparticle_rules import batch_errors


@dataclass
class Faults:
    """Fault injection; each `*_next` counter applies to that many coming requests."""

    rate_limit_next: int = 0
    retry_after: float | None = 1.0  # seconds sent in Retry-After; None sends no header
    server_error_next: int = 0
    server_error_status: int = 503
    drop_next: int = 0
    delay_seconds: float = 0.0
    # Accept (and record) the batches, then hold the 202 this long: a client killed
    # meanwhile has had its batches accepted without knowing it, the case a re-send covers.
    delay_after_accept_seconds: float = 0.0
    # Accept (and record) the batches of that many requests, then drop the connection
    # without answering: the client must re-send what mParticle already has.
    drop_after_accept_next: int = 0
    reject_source_request_ids: set[str] = field(default_factory=set)

    def update(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            if name not in self.__dataclass_fields__:
                raise ValueError(f"unknown fault {name!r}")
            setattr(self, name, set(value) if name == "reject_source_request_ids" else value)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["reject_source_request_ids"] = sorted(self.reject_source_request_ids)
        return data


@dataclass
class RequestLog:
    path: str
    status: int
    batches: int
    body_bytes: int
    arrival: float  # time.time() when the request arrived
    arrival_monotonic: float
    # The batches' ids, whatever the answer: lets tests check what a re-send carried.
    source_request_ids: list[str | None] = field(default_factory=list)
    # Accepted and recorded, but the connection was dropped instead of answering (status -1).
    dropped_after_accept: bool = False


class EndpointState:
    def __init__(self, api_key: str, api_secret: str, faults: Faults, record: Path | None):
        token = base64.b64encode(f"{api_key}:{api_secret}".encode()).decode()
        self._expected_auth = f"Basic {token}".encode()
        self.faults = faults
        self.accepted: list[dict[str, Any]] = []
        self.requests: list[RequestLog] = []
        self._record_file: IO[bytes] | None = record.open("ab") if record else None

    def authorised(self, header: str | None) -> bool:
        return hmac.compare_digest((header or "").encode(), self._expected_auth)

    def accept(self, batches: Iterable[dict[str, Any]]) -> None:
        for batch in batches:
            self.accepted.append(batch)
            if self._record_file is not None:
                self._record_file.write(orjson.dumps(batch) + b"\n")
        if self._record_file is not None:
            self._record_file.flush()

    def close(self) -> None:
        if self._record_file is not None:
            self._record_file.close()
            self._record_file = None


STATE_KEY = web.AppKey("state", EndpointState)


_CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 413: "REQUEST_TOO_LARGE"}


def _error(status: int, message: str) -> web.Response:
    code = _CODES.get(status, "SERVER_ERROR")
    return web.json_response({"errors": [{"code": code, "message": message}]}, status=status)


async def _events(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    faults = state.faults
    arrival, arrival_mono = time.time(), time.monotonic()
    body = await request.read()
    bulk = request.path == BULK_PATH
    log = RequestLog(request.path, 0, 0, len(body), arrival, arrival_mono)
    state.requests.append(log)
    try:
        payload: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        payload = exc
    batches = payload if isinstance(payload, list) and bulk else [payload]
    log.batches = len(batches)
    log.source_request_ids = [
        b.get("source_request_id") if isinstance(b, dict) else None for b in batches
    ]
    if faults.delay_seconds > 0:
        await asyncio.sleep(faults.delay_seconds)
    if faults.drop_next > 0:
        faults.drop_next -= 1
        log.status = -1  # no response at all
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError  # nothing more to write to a dead connection
    response = _respond(state, request, len(body), payload, bulk)
    log.status = response.status
    if response.status == 202 and faults.drop_after_accept_next > 0:
        faults.drop_after_accept_next -= 1
        log.status, log.dropped_after_accept = -1, True
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError
    if response.status == 202 and faults.delay_after_accept_seconds > 0:
        await asyncio.sleep(faults.delay_after_accept_seconds)
    return response


def _respond(
    state: EndpointState, request: web.Request, size: int, payload: Any, bulk: bool
) -> web.Response:
    faults = state.faults
    if not state.authorised(request.headers.get("Authorization")):
        return _error(401, "invalid API key or secret")
    if faults.rate_limit_next > 0:
        faults.rate_limit_next -= 1
        headers = {}
        if faults.retry_after is not None:
            headers["Retry-After"] = f"{faults.retry_after:g}"
        return web.Response(status=429, headers=headers, text="rate limited")
    if faults.server_error_next > 0:
        faults.server_error_next -= 1
        return _error(faults.server_error_status, "injected server error")
    if size > API_MAX_REQUEST_BYTES:
        return _error(413, f"request is {size} bytes; the limit is {API_MAX_REQUEST_BYTES}")
    if isinstance(payload, orjson.JSONDecodeError):
        return _error(400, f"invalid JSON: {payload}")
    if bulk:
        if not isinstance(payload, list):
            return _error(400, "a bulk body must be a JSON array of batches")
        if len(payload) > API_MAX_BATCHES_PER_REQUEST:
            return _error(400, f"{len(payload)} batches; at most {API_MAX_BATCHES_PER_REQUEST}")
        batches = payload
    else:
        batches = [payload]
    problems: list[dict[str, Any]] = []
    for index, batch in enumerate(batches):
        errors = batch_errors(batch)
        srid = batch.get("source_request_id") if isinstance(batch, dict) else None
        if isinstance(srid, str) and srid in faults.reject_source_request_ids:
            errors.append("rejected by fault injection")
        problems.extend({"code": "BAD_REQUEST", "batch_index": index, "message": e} for e in errors)
    if problems:
        return web.json_response({"errors": problems}, status=400)
    state.accept(batches)
    return web.Response(status=202)


async def _accepted(request: web.Request) -> web.Response:
    """`?since=N` / `?requests_since=M`: only the batches / request logs from that index on,
    so a long run can poll without fetching everything each time."""
    state = request.app[STATE_KEY]
    try:
        since = int(request.query.get("since", "0"))
        requests_since = int(request.query.get("requests_since", "0"))
    except ValueError as exc:
        return _error(400, str(exc))
    if since < 0 or requests_since < 0:
        return _error(400, "since and requests_since must not be negative")
    return web.json_response(
        {
            "batches": state.accepted[since:],
            "requests": [asdict(r) for r in state.requests[requests_since:]],
        }
    )


async def _reset(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    state.accepted.clear()
    state.requests.clear()
    state.faults = Faults()
    return web.json_response({"reset": True})


async def _faults(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        state.faults.update(await request.json())
    except (ValueError, TypeError, AttributeError) as exc:
        return _error(400, str(exc))
    return web.json_response(state.faults.as_json())


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(
    api_key: str,
    api_secret: str,
    *,
    record: str | Path | None = None,
    faults: Faults | None = None,
) -> web.Application:
    """The endpoint as an aiohttp app; `record`: a JSON-lines file of accepted batches."""
    # Read bodies far beyond 256 KiB ourselves, so an oversized one gets mParticle's 413.
    app = web.Application(client_max_size=64 * 1024 * 1024)
    state = EndpointState(api_key, api_secret, faults or Faults(), Path(record) if record else None)
    app[STATE_KEY] = state
    app.router.add_post(BULK_PATH, _events)
    app.router.add_post(SINGLE_PATH, _events)
    app.router.add_get("/_mock/accepted", _accepted)
    app.router.add_post("/_mock/reset", _reset)
    app.router.add_post("/_mock/faults", _faults)
    app.router.add_get("/_mock/health", _health)

    async def _close(_: web.Application) -> None:
        state.close()

    app.on_cleanup.append(_close)
    return app


class LocalEndpoint(LoopbackServer):
    """The endpoint on 127.0.0.1 and a free port: `async with LocalEndpoint(...) as ep`."""

    def __init__(
        self,
        api_key: str = "test-key",
        api_secret: str = "test-secret",
        *,
        record: str | Path | None = None,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(create_app(api_key, api_secret, record=record, faults=faults), host, port)

    @property
    def state(self) -> EndpointState:
        return self.app[STATE_KEY]

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def base_url(self) -> str:
        return self.root_url


async def run_endpoint(
    host: str,
    port: int,
    *,
    api_key: str,
    api_secret: str,
    record: str | Path | None = None,
    faults: Faults | None = None,
) -> None:
    """Serve until cancelled (the CLI runs this with asyncio.run)."""
    endpoint = LocalEndpoint(
        api_key, api_secret, record=record, faults=faults, host=host, port=port
    )
    url = await endpoint.start()
    print(f"mock mParticle listening on {url}", flush=True)  # port 0: says which port
    try:
        await asyncio.Event().wait()
    finally:
        await endpoint.stop()
