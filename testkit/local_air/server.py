"""The local AIR on a port: `LocalAir` for tests, `run_local_air` for `airmp mock-air`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from testkit.local_air.config import DEFAULT_PORT, DEFAULT_TRIGGERS, AirConfig
from testkit.local_air.emission import Emitter, targets_for
from testkit.local_air.faults import Faults
from testkit.local_air.rewards import Reward
from testkit.local_air.routes import EMITTER_KEY, STATE_KEY, create_app
from testkit.local_air.state import AirState
from testkit.loopback import LoopbackServer

log = logging.getLogger(__name__)


class LocalAir(LoopbackServer):
    """The local AIR on 127.0.0.1 and a free port: `async with LocalAir(...) as air_`."""

    def __init__(
        self,
        client_id: str = "local-air-client",
        client_secret: str = "local-air-secret",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        config: AirConfig | None = None,
        **options: Any,
    ) -> None:
        """`config`, or its fields: the credentials and `options`, the others by name."""
        if config is not None and options:
            raise TypeError("LocalAir: give a config or its fields, not both")
        self.config = config or AirConfig(client_id, client_secret, **options)
        super().__init__(create_app(self.config), host, port)

    def __repr__(self) -> str:
        return f"LocalAir({self.base_url!r})"

    @property
    def state(self) -> AirState:
        return self.app[STATE_KEY]

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def emitter(self) -> Emitter:
        return self.app[EMITTER_KEY]

    @property
    def base_url(self) -> str:
        """The wallet domain a client is given (the API prefix included)."""
        return self.root_url + self.config.route_prefix

    async def drain(self) -> None:
        """Until every notification emitted so far reached its targets."""
        await self.emitter.drain()

    async def start(self) -> str:
        """Listen; the wallet domain (`base_url`) clients use."""
        await super().start()
        return self.base_url


async def run_local_air(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    client_id: str,
    client_secret: str,
    wallets_file: str | Path | None = None,
    triggers: Mapping[str, str | Reward] | Iterable[str] = DEFAULT_TRIGGERS,
    triggers_file: str | Path | None = None,
    record: str | Path | None = None,
    emit_bootstrap: str | None = None,
    emit_topic: str | None = None,
    emit_url: str | None = None,
    emit_token: str | None = None,
    prefix: str = "",
    faults: Faults | None = None,
) -> None:
    """Serve until cancelled (`airmp mock-air` runs this with asyncio.run). The options are
    the command's: the emit_* ones name its targets, the others are `AirConfig`'s."""
    targets = targets_for(
        emit_bootstrap=emit_bootstrap,
        emit_topic=emit_topic,
        emit_url=emit_url,
        emit_token=emit_token,
    )
    config = AirConfig(
        client_id,
        client_secret,
        wallets_file=wallets_file,
        triggers=triggers,
        triggers_file=triggers_file,
        record=record,
        targets=targets,
        prefix=prefix,
        faults=faults,
    )
    await serve(config, host, port)


async def serve(config: AirConfig, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
    """The local AIR of `config` on host:port until cancelled; one line says where."""
    local = LocalAir(host=host, port=port, config=config)
    url = await local.start()
    emits = ", ".join(t.name for t in config.targets) or "nowhere"
    # Port 0 picks a free port: this line says which; the secret is never printed.
    print(f"mock AIR listening on {url} (notifications to {emits})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await local.stop()
