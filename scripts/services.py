"""The connector's processes on this machine: `airmp worker` and the local mParticle
endpoint, each a subprocess configured by AIRMP_ variables. Used by the demo, the
integration tests and the benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from localkafka import _die_with_parent, free_port

ROOT = Path(__file__).resolve().parents[1]
AIRMP = str(Path(sys.executable).parent / "airmp")


@dataclass
class Worker:
    """`airmp worker` in a subprocess, configured only through AIRMP_ variables."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    extra_args: list[str] = field(default_factory=list)
    # SIGKILL the worker when the thread that started it dies (even by SIGKILL), and give it
    # its own session so a Ctrl-C reaches only us: for harnesses that kill their parent.
    die_with_parent: bool = False

    def start(self) -> Worker:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [AIRMP, "worker", "--without-web", *self.extra_args]
            if self.env.get("AIRMP_WEB_DISABLED")
            else [AIRMP, "worker", *self.extra_args],
            env={**os.environ, **self.env},
            cwd=self.env.get("AIRMP_TEST_CWD", str(ROOT)),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if self.die_with_parent else None,
        )
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        process, self.process = self.process, None
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Endpoint:
    """`airmp mock-mparticle` in a subprocess on a free loopback port."""

    log_path: Path
    api_key: str = "it-key"
    api_secret: str = "it-secret"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    die_with_parent: bool = False  # as Worker.die_with_parent

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Endpoint:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        env = {
            **os.environ,
            "AIRMP_MPARTICLE_API_KEY": self.api_key,
            "AIRMP_MPARTICLE_API_SECRET": self.api_secret,
        }
        self.process = subprocess.Popen(
            [AIRMP, "mock-mparticle", "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if self.die_with_parent else None,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.base_url}/_mock/health", timeout=1).raise_for_status()
                return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"local endpoint did not start: {self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def accepted(self) -> dict[str, list[dict[str, object]]]:
        return httpx.get(f"{self.base_url}/_mock/accepted", timeout=10).json()  # type: ignore[no-any-return]

    def faults(self, **changes: object) -> None:
        httpx.post(f"{self.base_url}/_mock/faults", json=changes, timeout=10).raise_for_status()

    def env(self) -> dict[str, str]:
        """Worker settings that point the sink here."""
        return {
            "AIRMP_MPARTICLE_API_ENDPOINT": self.base_url,
            "AIRMP_MPARTICLE_API_KEY": self.api_key,
            "AIRMP_MPARTICLE_API_SECRET": self.api_secret,
            "AIRMP_SINK_LINGER_SECONDS": "0.3",
            "AIRMP_SINK_ENABLED": "true",
        }

    def wait_for_events(
        self, ids: set[str], timeout: float = 120
    ) -> dict[str, list[dict[str, object]]]:
        """Until every mParticle event id in `ids` was accepted (or timeout): the last view."""
        deadline = time.monotonic() + timeout
        while True:
            view = self.accepted()
            seen = {
                e["data"]["source_message_id"]  # type: ignore[index]
                for b in view["batches"]
                for e in b.get("events", [])  # type: ignore[attr-defined]
            }
            if ids <= seen or time.monotonic() > deadline:
                return view
            time.sleep(0.3)
