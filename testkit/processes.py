"""The connector's processes on this machine: `airmp worker`, the local mParticle endpoint
and other `airmp` commands, each a subprocess configured by AIRMP_ variables; and waiting
for them. Used by the demo, the integration tests, the benchmarks and chaos."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
AIRMP = str(Path(sys.executable).parent / "airmp")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it when the process that started it dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    os.setsid()  # its own process group: a Ctrl-C in our terminal is ours to handle


def clean_env(**airmp: str) -> dict[str, str]:
    """This process's environment without any AIRMP_ variable, plus `airmp`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRMP_")}
    env.update(airmp)
    return env


def airmp(
    args: list[str], env: dict[str, str], timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """Run an `airmp` command with only the given AIRMP_ settings; its output as text."""
    return subprocess.run(
        [AIRMP, *args],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(ROOT),
    )


def worker_env(bootstrap: str, data_dir: Path, **overrides: str) -> dict[str, str]:
    """Settings for one worker of a test or harness: its own app id, topics and data dir
    (AIRMP_APP_ID among `overrides` keeps topics and data dir under that id)."""
    app_id = overrides.pop("AIRMP_APP_ID", None) or f"t-{uuid.uuid4().hex[:8]}"
    env = {
        "AIRMP_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "AIRMP_APP_ID": app_id,
        "AIRMP_INPUT_TOPIC": f"{app_id}-air",
        "AIRMP_RECORDS_TOPIC": f"{app_id}-records",
        "AIRMP_DEAD_LETTER_TOPIC": f"{app_id}-dlq",
        "AIRMP_REWARD_TOPIC": f"{app_id}-rewards",
        "AIRMP_AUDIENCE_TOPIC": f"{app_id}-audiences",
        "AIRMP_TOPIC_PARTITIONS": "3",
        "AIRMP_STORE": "memory://",
        "AIRMP_DATA_DIR": str(data_dir / "data"),
        "AIRMP_WEB_PORT": str(free_port()),
        "AIRMP_LOG_LEVEL": "info",
        "AIRMP_KAFKA_SESSION_TIMEOUT_SECONDS": "8",  # a killed worker's partitions move fast
        "AIRMP_IDENTITY_TYPE": "CARD",
        "AIRMP_CURRENCY": "GBP",
        "AIRMP_MPARTICLE_ENVIRONMENT": "development",
    }
    env.update(overrides)
    return env


def poll(what: Callable[[], T | None], timeout: float, interval: float = 0.3) -> T | None:
    """`what()` until it returns something truthy, or None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]  # name -> labels -> value


def scrape(port: str | int) -> Samples | None:
    """A worker's /metrics, parsed; None while it does not answer."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    return {dict(k)[label]: v for k, v in samples.get(name, {}).items()}


def http_status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=3).status_code
    except httpx.HTTPError:
        return None


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
            preexec_fn=die_with_parent if self.die_with_parent else None,
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


def start_local_service(
    args: list[str], env: dict[str, str], log_path: Path, health_url: str, die: bool
) -> subprocess.Popen[bytes]:
    """An `airmp mock-...` command in a subprocess, once its health route answers."""
    log = open(log_path, "ab")  # noqa: SIM115 - the child owns it
    process = subprocess.Popen(
        [AIRMP, *args],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent if die else None,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(health_url, timeout=1).raise_for_status()
            return process
        except httpx.HTTPError:
            if process.poll() is not None:
                break
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{args[0]} did not start: {log_path.read_text()}")


def stop_local_service(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        process.wait(timeout=20)


@dataclass(kw_only=True)
class LocalService:
    """A local fake (`airmp mock-...`) in a subprocess on a free loopback port."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    die_with_parent: bool = False  # as Worker.die_with_parent

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_local_service(self.process)
        self.process = None


@dataclass
class Endpoint(LocalService):
    """`airmp mock-mparticle` in a subprocess on a free loopback port."""

    log_path: Path
    api_key: str = "it-api-key"
    api_secret: str = "it-secret"

    def start(self) -> Endpoint:
        env = {
            "AIRMP_MPARTICLE_API_KEY": self.api_key,
            "AIRMP_MPARTICLE_API_SECRET": self.api_secret,
        }
        self.process = start_local_service(
            ["mock-mparticle", "--port", str(self.port)],
            env,
            self.log_path,
            f"{self.base_url}/_mock/health",
            self.die_with_parent,
        )
        return self

    def accepted(self) -> dict[str, list[dict[str, Any]]]:
        """What the endpoint accepted: {"batches": [...], "requests": [...]}."""
        view: dict[str, list[dict[str, Any]]] = httpx.get(
            f"{self.base_url}/_mock/accepted", timeout=10
        ).json()
        return view

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
    ) -> dict[str, list[dict[str, Any]]]:
        """Until every mParticle event id in `ids` was accepted (or timeout): the last view."""
        deadline = time.monotonic() + timeout
        while True:
            view = self.accepted()
            seen = {
                e["data"]["source_message_id"] for b in view["batches"] for e in b.get("events", [])
            }
            if ids <= seen or time.monotonic() > deadline:
                return view
            time.sleep(0.3)


@dataclass
class Air(LocalService):
    """`airmp mock-air` (the local AIR) in a subprocess on a free loopback port; for each
    reward it grants it produces a SERVICE.TRIGGER to `emit_topic` when given."""

    log_path: Path
    client_id: str = "it-air-client"
    client_secret: str = "it-air-secret"
    wallets_file: Path | None = None
    triggers: tuple[str, ...] = ("WELCOME5000=points:5000",)
    emit_bootstrap: str | None = None
    emit_topic: str | None = None
    emit_url: str | None = None  # e.g. a worker's AIR webhook edge
    emit_token: str | None = None

    def start(self) -> Air:
        args = ["mock-air", "--port", str(self.port)]
        args += [f"--trigger={trigger}" for trigger in self.triggers]
        if self.wallets_file is not None:
            args += ["--wallets", str(self.wallets_file)]
        if self.emit_bootstrap and self.emit_topic:
            args += ["--emit-kafka", self.emit_bootstrap, "--emit-topic", self.emit_topic]
        if self.emit_url:
            args += ["--emit-url", self.emit_url]
        env = self.env()  # as a worker's: the command reads the same settings
        if self.emit_token:
            env["AIRMP_AIR_WEBHOOK_TOKEN"] = self.emit_token
        self.process = start_local_service(
            args, env, self.log_path, f"{self.base_url}/_mock/health", self.die_with_parent
        )
        return self

    def granted(self) -> dict[str, Any]:
        """{"grants": [...], "granted": {reference: n}, "requests": {...}, "repeats": {...}}."""
        view: dict[str, Any] = httpx.get(f"{self.base_url}/_mock/granted", timeout=10).json()
        return view

    def faults(self, **changes: object) -> None:
        httpx.post(f"{self.base_url}/_mock/faults", json=changes, timeout=10).raise_for_status()

    def tell(self, notifications: list[bytes]) -> None:
        """AIR notifications it learns wallets, balances and transactions from."""
        body = b"[" + b",".join(notifications) + b"]"
        httpx.post(
            f"{self.base_url}/_mock/notifications", content=body, timeout=10
        ).raise_for_status()

    def env(self, secret: str | None = None) -> dict[str, str]:
        """Worker settings that point the reward path here (`secret` to get it wrong)."""
        return {
            "AIRMP_AIR_CLIENT_ID": self.client_id,
            "AIRMP_AIR_CLIENT_SECRET": secret or self.client_secret,
            "AIRMP_AIR_WALLET_URL": self.base_url,
            "AIRMP_AIR_MAX_BACKOFF_SECONDS": "1",
        }
