"""Shared fixtures: the AIR samples, the mParticle schema oracle, and a real Kafka broker."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

Check = Callable[[Any], list[str]]


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
def kafka_bootstrap() -> Iterator[str]:
    """A real Kafka broker: `KAFKA_BOOTSTRAP_SERVERS`, else testcontainers, else our launcher."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:4.1.1").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    from localkafka import LocalKafka

    with LocalKafka() as broker:
        yield broker.bootstrap


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True
