"""Kafka's Metadata request v8, which aiokafka (up to v5) does not have: the topics'
partitions and, per KIP-430, the operations the broker lets this principal do on each topic
and on the cluster, without creating anything (`allow_auto_topic_creation` false: the
admin client's own metadata request would let a broker with auto.create.topics.enable
create a missing topic, with the broker's default partitions)."""

from __future__ import annotations

from enum import IntEnum

from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Array, Boolean, Int16, Int32, Schema, String

NOT_TOLD = -(2**31)  # Kafka's "authorized operations not included" (INT32_MIN)


class Operation(IntEnum):
    """Kafka's AclOperation codes: bit n of an authorized-operations field is code n."""

    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8


def allows(operations: int, operation: Operation) -> bool:
    return operations != NOT_TOLD and bool(operations & (1 << operation))


class MetadataResponse_v8(Response):
    API_KEY = 3
    API_VERSION = 8
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "brokers",
            Array(
                ("node_id", Int32),
                ("host", String("utf-8")),
                ("port", Int32),
                ("rack", String("utf-8")),
            ),
        ),
        ("cluster_id", String("utf-8")),
        ("controller_id", Int32),
        (
            "topics",
            Array(
                ("error_code", Int16),
                ("topic", String("utf-8")),
                ("is_internal", Boolean),
                (
                    "partitions",
                    Array(
                        ("error_code", Int16),
                        ("partition", Int32),
                        ("leader", Int32),
                        ("leader_epoch", Int32),
                        ("replicas", Array(Int32)),
                        ("isr", Array(Int32)),
                        ("offline_replicas", Array(Int32)),
                    ),
                ),
                ("topic_authorized_operations", Int32),
            ),
        ),
        ("cluster_authorized_operations", Int32),
    )


class MetadataRequest_v8(RequestStruct):
    API_KEY = 3
    API_VERSION = 8
    RESPONSE_TYPE = MetadataResponse_v8
    SCHEMA = Schema(
        ("topics", Array(String("utf-8"))),
        ("allow_auto_topic_creation", Boolean),
        ("include_cluster_authorized_operations", Boolean),
        ("include_topic_authorized_operations", Boolean),
    )


class AccessRequest(Request[MetadataRequest_v8]):
    """Metadata v8 of `topics`, with the authorized operations; never auto-creates. A broker
    without v8 (Kafka before 2.3) makes `prepare` raise NotImplementedError."""

    API_KEY = 3

    def __init__(self, topics: list[str]) -> None:
        self._topics = topics

    def build(self, request_struct_class: type[MetadataRequest_v8]) -> MetadataRequest_v8:
        return request_struct_class(self._topics, False, True, True)
