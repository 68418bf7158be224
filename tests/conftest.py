"""Shared fixtures: the AIR samples, the mParticle schema oracle, and a real Kafka broker.

The samples and schemas are found by themselves where CI has them (`../shared` beside the
checkout) when `AIR_SAMPLES_DIR` / `MPARTICLE_SCHEMA_DIR` are not set, so the README's
`make test` runs what CI runs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

Check = Callable[[Any], list[str]]
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
KAFKA_IMAGE = "apache/kafka:4.1.1"
NOTES: list[str] = []  # one line each, printed in pytest's summary


def pytest_configure(config: pytest.Config) -> None:
    for variable, path in (
        ("AIR_SAMPLES_DIR", SHARED / "air-samples"),
        ("MPARTICLE_SCHEMA_DIR", SHARED / "conformance" / "mparticle"),
    ):
        if not os.environ.get(variable) and path.is_dir():
            os.environ[variable] = str(path)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for note in NOTES:
        terminalreporter.write_line(f"note: {note}")


@pytest.fixture(scope="session")
def air_samples_dir() -> Path:
    """`AIR_SAMPLES_DIR` (real AIR sandbox notifications); the test skips, visibly, without it."""
    value = os.environ.get("AIR_SAMPLES_DIR")
    if not value:
        pytest.skip("AIR_SAMPLES_DIR is not set: the real AIR samples are not available")
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"AIR_SAMPLES_DIR={value} is not a directory")
    return path


@pytest.fixture(scope="session")
def mparticle_oracle() -> tuple[Check, Check]:
    """(check a batch, check a bulk body) -> schema errors; from `MPARTICLE_SCHEMA_DIR`."""
    value = os.environ.get("MPARTICLE_SCHEMA_DIR")
    if not value:
        pytest.skip("MPARTICLE_SCHEMA_DIR is not set: mParticle's schema oracle is not available")
    from tests import oracle

    batch, bulk = oracle.load(value)
    return oracle.errors_of(batch), oracle.errors_of(bulk)


@pytest.fixture(scope="session")
def firehose_oracle() -> dict[str, Check]:
    """Firehose message name -> schema check; from `MPARTICLE_FIREHOSE_SCHEMA_DIR`, else
    `mparticle-firehose` beside `MPARTICLE_SCHEMA_DIR` (as ../shared has them)."""
    value = os.environ.get("MPARTICLE_FIREHOSE_SCHEMA_DIR")
    if not value and os.environ.get("MPARTICLE_SCHEMA_DIR"):
        value = str(Path(os.environ["MPARTICLE_SCHEMA_DIR"]).parent / "mparticle-firehose")
    if not value or not Path(value).is_dir():
        pytest.skip("no Firehose schemas (MPARTICLE_FIREHOSE_SCHEMA_DIR): oracle not available")
    from tests import firehose_oracle

    return firehose_oracle.load(value)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real Kafka broker: `KAFKA_BOOTSTRAP_SERVERS`, else testcontainers, else our launcher."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    missing = _docker_images_missing() if _docker_answers() else None
    if missing == []:
        with _apache_kafka_container() as bootstrap:
            yield bootstrap
        return
    if missing:
        NOTES.append(
            f"Docker answers but {', '.join(missing)} cannot be had (no registry?): "
            "the tests used the project's own Kafka launcher instead"
        )
    from testkit.localkafka import LocalKafka

    with LocalKafka() as broker:
        yield broker.bootstrap


@contextlib.contextmanager
def _apache_kafka_container() -> Iterator[str]:
    """The same Apache Kafka (KRaft, one node) in Docker. Its listener is bound to a host port
    chosen first, so the broker can advertise the address clients reach it on.
    (testcontainers' KafkaContainer is built around Confluent's images, hence generic.)"""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    from testkit.processes import free_port

    port = free_port()
    container = (
        DockerContainer(KAFKA_IMAGE)
        .with_bind_ports(9092, port)
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093")
        .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://127.0.0.1:{port}")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env(
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        )
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
        .with_env("KAFKA_MESSAGE_MAX_BYTES", "16777216")
    )
    with container:
        wait_for_logs(container, "Kafka Server started", timeout=120)
        yield f"127.0.0.1:{port}"


def _docker_images_missing() -> list[str]:
    """The images the testcontainers path needs that Docker neither has nor can pull."""
    import docker
    from testcontainers.core.config import testcontainers_config

    client = docker.from_env(timeout=30)
    wanted = [KAFKA_IMAGE]
    if not testcontainers_config.ryuk_disabled:
        wanted.append(testcontainers_config.ryuk_image)
    missing = []
    for image in wanted:
        try:
            client.images.get(image)
        except Exception:
            try:
                client.images.pull(image)
            except Exception:
                missing.append(image)
    return missing


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True
