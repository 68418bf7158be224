"""The edges' HTTP server: Faust's aiohttp web driver, with what a public endpoint needs
and aiohttp 3.14 lacks.

- A header-read timeout. A connection whose first request's headers have not all arrived
  AIRMP_EDGE_HEADER_TIMEOUT_SECONDS after it opened is closed (slowloris: many connections
  sending a header a byte at a time, each holding a socket). aiohttp's only timer is its
  keep-alive one, an hour under Faust's runner; with the edges' 75 s (`KEEPALIVE_SECONDS`)
  it still bounds the later requests of a kept-alive connection.
- A client's malformed request (a header or request line over aiohttp's 8,190 bytes, bytes
  that are not HTTP) is answered 400 by aiohttp with the reason, but logged with
  `logger.exception`: a traceback at ERROR for the client's mistake. Here it is one WARNING
  line naming the exception's class only (the offending line may hold a token).

Both are counted in `airmp_edge_refused_connections_total{reason}`. aiohttp builds its
protocol (`RequestHandler`) in `Server.__call__` with no way to name a subclass, so the
site hands the event loop a factory of ours (`EdgeSite.start`, TCPSite's own start with
that factory).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web import TCPSite
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_runner import BaseSite
from aiohttp.web_server import Server
from faust.web.drivers.aiohttp import Web as AiohttpWeb

from streams import metrics

log = logging.getLogger("airmp.edges")
KEEPALIVE_SECONDS = 75.0  # an idle kept-alive connection is closed after this (nginx: 75)
DEFAULT_HEADER_TIMEOUT_SECONDS = 10.0


class EdgeRequestHandler(RequestHandler):
    """aiohttp's protocol with a header-read timer and client errors logged as warnings."""

    def __init__(self, manager: Server, *, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.header_timeout = header_timeout
        self.header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.header_timer = asyncio.get_running_loop().call_later(
            self.header_timeout, self.headers_late
        )

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # _request_count: messages parsed (a request's headers, or a parse error).
        if self.header_timer is not None and self._request_count:
            self.header_timer.cancel()
            self.header_timer = None

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None
        super().connection_lost(exc)

    def headers_late(self) -> None:
        self.header_timer = None
        if self._request_count or self.transport is None:
            return
        metrics.EDGE_REFUSED.labels("header_timeout").inc()
        peer = self.transport.get_extra_info("peername")
        log.warning(
            "a connection from %s closed: no request headers within %g s",
            peer[0] if peer else "?",
            self.header_timeout,
        )
        self.force_close()

    def log_exception(self, *args: Any, **kw: Any) -> None:
        exc = kw.get("exc_info")
        if isinstance(exc, HttpProcessingError) and exc.code < 500:
            metrics.EDGE_REFUSED.labels("malformed").inc()
            peer = self.transport.get_extra_info("peername") if self.transport else None
            log.warning(
                "a malformed HTTP request from %s answered %d (%s)",
                peer[0] if peer else "?",
                exc.code,
                type(exc).__name__,
            )
            return
        super().log_exception(*args, **kw)


class EdgeSite(TCPSite):
    """TCPSite whose connections are `EdgeRequestHandler`s."""

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout

    async def start(self) -> None:
        await BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None

        def protocol() -> EdgeRequestHandler:
            options = {"loop": loop, **server._kwargs, "header_timeout": self.header_timeout}
            return EdgeRequestHandler(server, **options)

        self._server = await loop.create_server(
            protocol,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


class EdgeWeb(AiohttpWeb):
    """Faust's aiohttp driver serving over `EdgeSite`; `header_timeout` is set by
    `streams.edges.install_edges` from the settings."""

    header_timeout = DEFAULT_HEADER_TIMEOUT_SECONDS

    def _new_transport_tcp(self) -> BaseSite:
        return EdgeSite(
            self._runner,
            self.app.conf.web_bind,
            self.app.conf.web_port,
            ssl_context=self.app.conf.web_ssl_context,
            header_timeout=self.header_timeout,
        )
