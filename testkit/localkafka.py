"""A real Apache Kafka broker (KRaft, single node, 127.0.0.1) for tests, the demo and benchmarks.

The broker's jars come from Maven Central (`org.apache.kafka:kafka_2.13` and its runtime
dependencies), resolved once by Maven into a cache outside the work tree; the broker runs on
the machine's JDK. The JVM is tied to this process with PR_SET_PDEATHSIG, so it dies with
us even when we are killed: no broker outlives a test session or the demo.

    python -m testkit.localkafka fetch              # resolve the jars only
    python -m testkit.localkafka run -- CMD ARGS    # start, run CMD with
                                                    # KAFKA_BOOTSTRAP_SERVERS set, stop
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

from testkit.processes import die_with_parent, free_port

KAFKA_VERSION = os.environ.get("AIRMP_KAFKA_VERSION", "4.1.1")
LOG4J_VERSION = "2.24.3"  # the log4j2 that Kafka 4.1 itself depends on
CACHE_DIR = Path(os.environ.get("AIRMP_CACHE_DIR", Path.home() / ".cache" / "airmp"))
START_TIMEOUT = float(os.environ.get("AIRMP_KAFKA_START_TIMEOUT", "60"))

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.airmp</groupId><artifactId>kafka-runtime</artifactId>
  <version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId><version>{log4j}</version></dependency>
  </dependencies>
</project>
"""

_LOG4J2 = """status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.server.name = org.apache.kafka.server
logger.server.level = INFO
"""


def log(message: str) -> None:
    print(f"[localkafka] {message}", file=sys.stderr, flush=True)


def libs_dir(version: str = KAFKA_VERSION) -> Path:
    """The broker's runtime jars, resolved with Maven on first use (under a lock)."""
    home = CACHE_DIR / f"kafka-{version}"
    libs = home / "libs"
    done = home / ".resolved"
    if done.exists():
        return libs
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test runs resolve once
        if done.exists():
            return libs
        if shutil.which("mvn") is None:
            raise RuntimeError("Maven (mvn) is needed to fetch Apache Kafka from Maven Central")
        (home / "pom.xml").write_text(_POM.format(kafka=version, log4j=LOG4J_VERSION))
        log(f"resolving Apache Kafka {version} from Maven Central into {libs} ...")
        shutil.rmtree(libs, ignore_errors=True)
        result = subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(home / "pom.xml"),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={libs}",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"Maven could not resolve Kafka {version}:\n{result.stdout[-4000:]}")
        done.touch()
        log(f"resolved {len(list(libs.glob('*.jar')))} jars")
    return libs


_PREFIX = "airmp-kafka-"


def _remove_orphans() -> None:
    """Temp dirs of brokers whose owner was killed (SIGKILL skips our clean-up)."""
    for path in Path(tempfile.gettempdir()).glob(_PREFIX + "*"):
        try:
            owner = int((path / "owner.pid").read_text())
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (OSError, ValueError):
            continue  # not ours to judge (no pid file yet, or another user's)


class LocalKafka:
    """Start a single-node KRaft broker on free 127.0.0.1 ports; stop it on exit.

    `scram_users` (name -> password) adds a SASL_PLAINTEXT listener with SCRAM-SHA-256 and
    SCRAM-SHA-512 beside the PLAINTEXT one; its address is `sasl_bootstrap`.
    """

    def __init__(
        self,
        *,
        workdir: str | Path | None = None,
        heap: str = "768m",
        scram_users: dict[str, str] | None = None,
        version: str = KAFKA_VERSION,
        port: int = 0,
        controller_port: int = 0,
    ) -> None:
        self.version = version
        self.heap = heap
        self.scram_users = dict(scram_users or {})
        self._own_workdir = workdir is None
        if workdir is None:
            _remove_orphans()
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=_PREFIX))
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "owner.pid").write_text(str(os.getpid()))
        # 0: a free port, chosen at the first start and kept, so stop() + start() (same
        # workdir) brings the broker back on the same address with the same data.
        self.port = port
        self.controller_port = controller_port
        self.sasl_port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.sasl_port}"

    @property
    def log_file(self) -> Path:
        return self.workdir / "logs" / "server.log"

    def _java(self, libs: Path, main: str, *args: str) -> list[str]:
        return [
            "java",
            "-Xms256m",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.workdir / 'logs'}",
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    def _write_config(self) -> Path:
        self.port = self.port or free_port()
        self.controller_port = controller = self.controller_port or free_port()
        listeners = [f"PLAINTEXT://127.0.0.1:{self.port}", f"CONTROLLER://127.0.0.1:{controller}"]
        protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
        extra: list[str] = []
        if self.scram_users:
            self.sasl_port = self.sasl_port or free_port()
            listeners.append(f"SASL://127.0.0.1:{self.sasl_port}")
            protocols.append("SASL:SASL_PLAINTEXT")
            extra += [
                "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512",
                "listener.name.sasl.scram-sha-256.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                "listener.name.sasl.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            ]
        advertised = [x for x in listeners if not x.startswith("CONTROLLER")]
        lines = [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller}",
            "listeners=" + ",".join(listeners),
            "advertised.listeners=" + ",".join(advertised),
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=" + ",".join(protocols),
            f"log.dirs={self.workdir / 'data'}",
            "num.partitions=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=10",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "log.segment.bytes=67108864",
            "message.max.bytes=16777216",  # poison-message tests send a few MB
            *extra,
        ]
        path = self.workdir / "server.properties"
        path.write_text("\n".join(lines) + "\n")
        (self.workdir / "log4j2.properties").write_text(_LOG4J2)
        return path

    def start(self) -> LocalKafka:
        libs = libs_dir(self.version)
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        config = self._write_config()
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        # "--cluster-id=<id>": an id may start with "-", which a separate argument would make
        # the storage tool read as an option.
        fmt = ["format", f"--cluster-id={cluster_id}", "-c", str(config)]
        for user, password in self.scram_users.items():
            for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
                fmt += ["--add-scram", f"{mech}=[name={user},password={password}]"]
        formatted = (self.workdir / "data" / "meta.properties").exists()  # a restart
        result = (
            subprocess.run(
                self._java(libs, "kafka.tools.StorageTool", *fmt), capture_output=True, text=True
            )
            if not formatted
            else None
        )
        if result is not None and result.returncode != 0:
            raise RuntimeError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")
        started = time.monotonic()
        with open(self.workdir / "logs" / "stdout.log", "wb") as out:
            self.process = subprocess.Popen(
                self._java(libs, "kafka.Kafka", str(config)),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )
        try:
            self._wait_ready(started)
        except BaseException:
            self.stop()
            raise
        log(f"Kafka {self.version} ready on {self.bootstrap} in {time.monotonic() - started:.1f}s")
        return self

    def _wait_ready(self, started: float) -> None:
        """Ready = the broker answers a metadata request with itself as a live broker."""
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"Kafka exited with {self.process.returncode}: {self._tail()}")
            if time.monotonic() - started > START_TIMEOUT:
                raise RuntimeError(f"Kafka did not answer in {START_TIMEOUT:.0f}s: {self._tail()}")
            if _answers_metadata(self.bootstrap):
                return
            time.sleep(0.25)

    def _tail(self) -> str:
        parts = []
        for name in ("stdout.log", "server.log"):
            path = self.workdir / "logs" / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _answers_metadata(bootstrap: str) -> bool:
    import asyncio
    import logging

    from aiokafka import AIOKafkaClient

    host, port = bootstrap.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False  # not listening yet: skip the client and its connection-error logs
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    async def probe() -> bool:
        client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await client.bootstrap()
            metadata = await client.fetch_all_metadata()
            return bool(metadata.brokers())
        except Exception:
            return False
        finally:
            await client.close()

    return asyncio.run(probe())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="resolve the broker's jars from Maven Central")
    run = sub.add_parser("run", help="start a broker, run a command against it, stop")
    run.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "fetch":
        print(libs_dir())
        return 0
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("run needs a command after --")
    with LocalKafka() as broker:
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}
        child = subprocess.Popen(cmd, env=env)
        with contextlib.suppress(KeyboardInterrupt):
            child.wait()
        if child.poll() is None:
            child.terminate()
            child.wait()
        return child.returncode


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C, so the broker is stopped by the context manager.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
