"""What `airmp check` asks Kafka, without side effects: nothing is created, produced,
committed, and no consumer joins the group (joining would rebalance a running worker).

- The brokers: `streams.kafka.check_broker` (one connection, one metadata request), which
  names the setting to fix when that fails.
- The topics: one Metadata v8 request (`ops.check.protocol`) that never auto-creates:
  partitions, and the operations this principal may do on each topic (KIP-430).
- A missing topic the worker would create: CreateTopics with `validate_only`, so the
  broker checks the CREATE permission, the partitions, the replication factor and the
  max.message.bytes config, and creates nothing.
- The group: DescribeGroups (its state and members), and READ on it (the worker needs it to
  join and commit) from a heartbeat of a member the group does not have (see `_group`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, for_code
from aiokafka.protocol.group import HeartbeatRequest

from config import Settings
from ops.check.protocol import NOT_TOLD, AccessRequest
from streams.kafka import KafkaClients, check_broker
from streams.topics import new_topics, topic_names

MISSING = "UnknownTopicOrPartitionError"
GROUP_DENIED = "GroupAuthorizationFailedError"
PROBE_MEMBER = "airmp-check"  # no member is named so: the heartbeat is always refused
COORDINATOR_WAIT_SECONDS = 20.0


@dataclass(frozen=True)
class TopicFacts:
    name: str
    error: str | None  # None: it exists; else Kafka's error, by name
    partitions: int = 0
    operations: int = NOT_TOLD  # bitfield of `protocol.Operation`
    creation: str | None = None  # missing, creation validated: None, or why it would fail


@dataclass(frozen=True)
class GroupFacts:
    group: str
    error: str | None
    state: str = ""
    members: int = 0
    read_error: str | None = None  # None: READ granted


@dataclass(frozen=True)
class KafkaFacts:
    brokers: int
    topics: list[TopicFacts]
    group: GroupFacts
    access_told: bool = True  # False: the broker has no Metadata v8 (Kafka before 2.3)


def error_name(code: int) -> str | None:
    return None if code == 0 else for_code(code).__name__


async def gather(settings: Settings) -> KafkaFacts:
    """Raises `streams.kafka.BrokerError` (one line) when the brokers cannot be used."""
    await check_broker(settings)
    async with KafkaClients(settings) as kafka:
        admin = await kafka.admin()
        brokers, topics, told = await _topics(admin, topic_names(settings))
        missing = [t.name for t in topics if t.error == MISSING]
        if missing and settings.topic_auto_create:
            refused = await _creation(admin, settings, missing)
            topics = [
                TopicFacts(t.name, t.error, creation=refused.get(t.name))
                if t.error == MISSING
                else t
                for t in topics
            ]
        group = await _group(admin, settings.app_id)
    return KafkaFacts(brokers, topics, group, told)


async def _topics(
    admin: AIOKafkaAdminClient, names: list[str]
) -> tuple[int, list[TopicFacts], bool]:
    # aiokafka's admin client sends only the requests it knows: ours goes through its
    # connection pool (private, but the same connections and credentials).
    client: Any = admin._client
    try:
        response = await client.send(client.get_random_node(), AccessRequest(names))
    except NotImplementedError:
        return len(client.cluster.brokers()), [TopicFacts(n, None) for n in names], False
    body = response.to_object()
    found = {
        t["topic"]: TopicFacts(
            t["topic"],
            error_name(t["error_code"]),
            len(t["partitions"]),
            t["topic_authorized_operations"],
        )
        for t in body["topics"]
    }
    return len(body["brokers"]), [found.get(n, TopicFacts(n, MISSING)) for n in names], True


async def _creation(
    admin: AIOKafkaAdminClient, settings: Settings, names: list[str]
) -> dict[str, str]:
    """The missing topics the broker would not create, with why (validate_only)."""
    try:
        response = await admin.create_topics(new_topics(settings, names), validate_only=True)
    except KafkaError as exc:
        return {name: type(exc).__name__ for name in names}
    refused = {}
    for topic in response.to_object()["topic_errors"]:
        error = error_name(topic["error_code"])
        if error is not None:
            refused[topic["topic"]] = error
    return refused


async def _group(admin: AIOKafkaAdminClient, group: str) -> GroupFacts:
    """The group's state, and whether this principal may READ it. DescribeGroups tells
    the operations only of a group that exists, so READ is asked of a heartbeat from a
    member that is not in the group: the broker checks READ on the group first and then
    refuses the unknown member, leaving the group as it was."""
    deadline = time.monotonic() + COORDINATOR_WAIT_SECONDS
    while True:
        try:
            responses = await admin.describe_consumer_groups([group])
            node = await admin.find_coordinator(group)
            client: Any = admin._client  # as in `_topics`
            beat = await client.send(node, HeartbeatRequest(group, -1, PROBE_MEMBER))
            break
        except KafkaError as exc:  # e.g. GroupAuthorizationFailedError from FindCoordinator
            # A broker just started has no coordinator yet: asked again, for a while.
            if not exc.retriable or time.monotonic() > deadline:
                return GroupFacts(group, type(exc).__name__)
            await asyncio.sleep(0.5)
    described = responses[0].to_object()["groups"][0]
    read = error_name(beat.to_object()["error_code"])
    return GroupFacts(
        group,
        error_name(described["error_code"]),
        described["state"],
        len(described["members"]),
        read_error=read if read == GROUP_DENIED else None,
    )
