"""Create the topics the worker uses before Faust subscribes to them.

Faust's consumer ignores a topic that is missing when it subscribes until its next metadata
refresh (minutes), and a topic first written to would be auto-created by the broker with
the broker's default partition count. So every topic is created up front, when missing,
with the configured partitions and a message size limit that fits any input.
"""

from __future__ import annotations

import contextlib
import logging

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from config import Settings
from streams.errors import BrokerError
from streams.kafka import TOPICS_TIMEOUT_MS, KafkaClients

log = logging.getLogger("airmp.topics")


def topic_names(settings: Settings) -> list[str]:
    return [
        settings.input_topic,
        by_wallet_topic(settings),
        settings.records_topic,
        settings.dead_letter_topic,
        settings.reward_topic,  # created even with rewards off: producers may write ahead
        settings.audience_topic,
    ]


def by_wallet_topic(settings: Settings) -> str:
    return f"{settings.app_id}-air-by-wallet"


def consumed_topics(settings: Settings) -> list[str]:
    """The topics the connector's consumer group reads: the input topic (ingest), the
    by-wallet topic (wallet_events), the records topic (sink), the audience topic
    (fan_out_audiences) and, with AIR credentials, the reward topic (rewards)."""
    topics = [
        settings.input_topic,
        by_wallet_topic(settings),
        settings.records_topic,
        settings.audience_topic,
    ]
    return [*topics, settings.reward_topic] if settings.air_enabled else topics


def topic_config(settings: Settings) -> dict[str, str]:
    return {"max.message.bytes": str(settings.kafka_max_bytes)}


def new_topics(settings: Settings, names: list[str]) -> list[NewTopic]:
    """The topics as the worker creates them: partitions, replication, size limit."""
    return [
        NewTopic(
            name,
            settings.topic_partitions,
            settings.topic_replication_factor,
            topic_configs=topic_config(settings),
        )
        for name in names
    ]


def missing_message(settings: Settings, missing: list[str]) -> str:
    return (
        f"missing topics {', '.join(missing)} and AIRMP_TOPIC_AUTO_CREATE is false: create them "
        f"({settings.topic_partitions} partitions) or set AIRMP_TOPIC_AUTO_CREATE=true"
    )


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing topics; return the names created. Raises `BrokerError` (one line),
    also when topics are missing and AIRMP_TOPIC_AUTO_CREATE is false."""
    async with KafkaClients(settings) as kafka:
        admin = await kafka.admin(request_timeout_ms=TOPICS_TIMEOUT_MS)
        existing = set(await admin.list_topics())
        missing = [name for name in topic_names(settings) if name not in existing]
        if missing and not settings.topic_auto_create:
            raise BrokerError(missing_message(settings, missing))
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker won the race
                await admin.create_topics(new_topics(settings, missing))
            log.info("created topics: %s", ", ".join(missing))
        return missing
