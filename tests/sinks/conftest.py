"""Fixtures: the local mParticle endpoint on loopback, and sinks pointed at it."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from sinks import MParticleSink, Retries
from testkit.local_mparticle import LocalEndpoint

KEY, SECRET = "test-key", "test-secret-value"

MakeSink = Callable[..., Awaitable[MParticleSink]]


@pytest.fixture
async def endpoint(tmp_path: Any) -> AsyncIterator[LocalEndpoint]:
    async with LocalEndpoint(KEY, SECRET, record=tmp_path / "accepted.jsonl") as ep:
        yield ep


@pytest.fixture
async def make_sink(endpoint: LocalEndpoint) -> AsyncIterator[MakeSink]:
    """Sinks with millisecond backoffs and a seeded jitter, closed after the test."""
    made: list[MParticleSink] = []

    async def make(**kwargs: Any) -> MParticleSink:
        options: dict[str, Any] = {
            "retries": Retries(backoff_base=0.01, max_backoff=0.05, rng=random.Random(7))
        }
        options.update(kwargs)
        base = options.pop("base_url", endpoint.base_url)
        secret = options.pop("api_secret", SECRET)
        sink = MParticleSink(base, KEY, secret, **options)
        made.append(sink)
        return sink

    yield make
    for sink in made:
        await sink.close()
