"""`airmp reward`: one reward request by hand, onto the reward topic (support cases,
trying a trigger). The worker's reward agent asks AIR for it, once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

from pydantic import ValidationError

from config import Settings
from mappers.rewards import RewardRequest
from ops.errors import UsageError
from ops.runner import on_loop
from streams.kafka import KafkaClients

PREFIX = "airmp reward"


@dataclass(frozen=True)
class RewardOptions:
    identity: str
    triggers: tuple[str, ...]
    reference: str | None = None
    note: str | None = None


async def produce_reward(settings: Settings, request: RewardRequest) -> tuple[int, int]:
    """(partition, offset) of the request on the reward topic, once Kafka has it (acks=all)."""
    async with KafkaClients(settings) as clients:
        producer = await clients.producer(enable_idempotence=True)
        meta = await producer.send_and_wait(
            settings.reward_topic, key=request.key, value=request.to_bytes()
        )
        return int(meta.partition), int(meta.offset)


def _request(options: RewardOptions) -> RewardRequest:
    """The request; `UsageError` naming the first field pydantic refused."""
    try:
        return RewardRequest.by_hand(
            options.identity, options.triggers, reference=options.reference, note=options.note
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise UsageError(f"{where}: {first['msg']}") from None


def run_reward(settings: Settings, options: RewardOptions, out: TextIO, err: TextIO) -> int:
    """Exit status: 0 produced; a bad request or Kafka errors raise (`ops.runner`: 2)."""
    request = _request(options)
    partition, offset = on_loop(produce_reward(settings, request))
    out.write(
        f"reward {request.reference} for {len(options.triggers)} trigger(s) on"
        f" {settings.reward_topic}[{partition}]@{offset}\n"
    )
    if not settings.air_enabled:
        err.write(
            f"{PREFIX}: note: AIR credentials are not set here; a worker with them sends it\n"
        )
    return 0
