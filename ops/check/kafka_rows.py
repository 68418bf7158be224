"""Kafka's answers (`kafka_facts.KafkaFacts`) as rows: pure.

Partition counts: the by-wallet, records, audience and reward topics are each the source
of a table whose changelog has AIRMP_TOPIC_PARTITIONS partitions, and Faust refuses a
source topic with another count (PartitionsMismatch), so theirs must match. The input
topic may differ (its notifications then all take the trip through the by-wallet topic),
and so may the dead-letter topic, which nothing in the group reads.
"""

from __future__ import annotations

from config import Settings
from ops.check.kafka_facts import MISSING, GroupFacts, KafkaFacts, TopicFacts
from ops.check.protocol import NOT_TOLD, Operation, allows
from ops.check.rows import Row, fail, ok, skip
from streams.kafka import BrokerError
from streams.topics import by_wallet_topic, consumed_topics, topic_names

BROKERS = "kafka brokers"


def group_name(settings: Settings) -> str:
    return f"kafka group {settings.app_id}"


def topic_row_name(topic: str) -> str:
    return f"topic {topic}"


def written_topics(settings: Settings) -> list[str]:
    """What the worker produces to: the agents' outputs, and with the edges on what the
    edges take (AIR's webhook: the input topic; the Firehose: the audience topic)."""
    written = [
        by_wallet_topic(settings),
        settings.records_topic,
        settings.dead_letter_topic,
        settings.reward_topic,
    ]
    if settings.edges_enabled:
        written += [settings.input_topic, settings.audience_topic]
    return written


def kafka_rows(settings: Settings, facts: KafkaFacts | BrokerError) -> list[Row]:
    names = [group_name(settings), *(topic_row_name(t) for t in topic_names(settings))]
    if isinstance(facts, BrokerError):
        return [fail(BROKERS, str(facts)), *(skip(n, "Kafka did not answer") for n in names)]
    rows = [ok(BROKERS, f"{facts.brokers} broker(s) answered")]
    rows.append(group_row(settings, facts.group))
    rows += [topic_row(settings, t, facts.access_told) for t in facts.topics]
    return rows


def group_row(settings: Settings, group: GroupFacts) -> Row:
    name = group_name(settings)
    if group.error is not None:
        return fail(name, f"{group.error}: grant READ on group {group.group}")
    state = "new" if group.state in ("", "Dead") else f"{group.state}, {group.members} members"
    if group.read_error is not None:
        return fail(name, f"{state}; READ not granted on group {group.group}")
    return ok(name, f"{state}; may read")


def topic_row(settings: Settings, topic: TopicFacts, access_told: bool = True) -> Row:
    name = topic_row_name(topic.name)
    if topic.error == MISSING:
        return _missing_row(settings, topic)
    if topic.error is not None:
        return fail(name, f"{topic.error}: grant DESCRIBE on topic {topic.name}")
    wanted = settings.topic_partitions
    counts = f"{topic.partitions} partitions"
    if topic.partitions != wanted:
        counts = f"{topic.partitions} partitions, AIRMP_TOPIC_PARTITIONS={wanted}"
        if topic.name not in (settings.input_topic, settings.dead_letter_topic):
            return fail(
                name, f"{counts}: its table's changelog has {wanted} (Faust: PartitionsMismatch)"
            )
        if topic.name == settings.input_topic:
            counts += " (every notification goes through the by-wallet topic)"
    if not access_told or topic.operations == NOT_TOLD:
        return ok(name, f"{counts}; permissions not told by the broker")
    denied = _denied(settings, topic)
    if denied:
        return fail(name, f"{counts}; {' and '.join(denied)} not granted")
    return ok(name, f"{counts}; {_allowed(settings, topic.name)}")


def _needs(settings: Settings, topic: str) -> list[Operation]:
    needs = []
    if topic in consumed_topics(settings):
        needs.append(Operation.READ)
    if topic in written_topics(settings):
        needs.append(Operation.WRITE)
    return needs


def _denied(settings: Settings, topic: TopicFacts) -> list[str]:
    return [op.name for op in _needs(settings, topic.name) if not allows(topic.operations, op)]


def _allowed(settings: Settings, topic: str) -> str:
    words = {Operation.READ: "read", Operation.WRITE: "write"}
    needs = [words[op] for op in _needs(settings, topic)]
    return f"may {' and '.join(needs)}" if needs else "exists"


def _missing_row(settings: Settings, topic: TopicFacts) -> Row:
    name = topic_row_name(topic.name)
    partitions = settings.topic_partitions
    if not settings.topic_auto_create:
        return fail(
            name,
            f"missing and AIRMP_TOPIC_AUTO_CREATE=false: create it ({partitions} partitions)",
        )
    if topic.creation is not None:
        return fail(name, f"missing, and the broker would not create it: {topic.creation}")
    return ok(name, f"missing: the worker creates it ({partitions} partitions, validated)")
