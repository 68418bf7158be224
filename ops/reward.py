"""`airmp reward`: one reward request by hand, onto the reward topic (support cases,
trying a trigger). The worker's reward agent asks AIR for it, once."""

from __future__ import annotations

import asyncio
from typing import TextIO

from pydantic import ValidationError

from config import Settings
from mappers.rewards import RewardRequest
from streams.kafka import BrokerError, KafkaClients, quiet_aiokafka


async def produce_reward(settings: Settings, request: RewardRequest) -> tuple[int, int]:
    """(partition, offset) of the request on the reward topic, once Kafka has it (acks=all)."""
    async with KafkaClients(settings) as clients:
        producer = await clients.producer(enable_idempotence=True)
        meta = await producer.send_and_wait(
            settings.reward_topic, key=request.key, value=request.to_bytes()
        )
        return int(meta.partition), int(meta.offset)


def run_reward(
    settings: Settings,
    identity: str,
    triggers: tuple[str, ...],
    reference: str | None,
    note: str | None,
    out: TextIO,
    err: TextIO,
) -> int:
    """Exit status: 0 produced, 2 a bad request or Kafka errors (one line)."""
    try:
        request = RewardRequest.by_hand(identity, triggers, reference=reference, note=note)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        err.write(f"airmp reward: {where}: {first['msg']}\n")
        return 2
    try:
        with quiet_aiokafka():
            partition, offset = asyncio.run(produce_reward(settings, request))
    except BrokerError as exc:
        err.write(f"airmp reward: {exc}\n")
        return 2
    out.write(
        f"reward {request.reference} for {len(triggers)} trigger(s) on"
        f" {settings.reward_topic}[{partition}]@{offset}\n"
    )
    if not settings.air_enabled:
        err.write(
            "airmp reward: note: AIR credentials are not set here; a worker with them sends it\n"
        )
    return 0
