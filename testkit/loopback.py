"""An aiohttp app on 127.0.0.1 and a free port, for the local fakes (mParticle, AIR):
`async with Fake(...) as fake`, then `fake.base_url`."""

from __future__ import annotations

import socket
from typing import Self

from aiohttp import web


class LoopbackServer:
    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self.port = port

    @property
    def root_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def start(self) -> str:
        """Listen (port 0: a free one, then in `port`); the URL clients use."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self.root_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()
