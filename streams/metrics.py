"""Prometheus metrics of the stream processor (served on the worker's `/metrics`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from sinks.metrics import REGISTRY as SINK_REGISTRY
from sinks.metrics import sink_metrics

EVENTS_IN = Counter(
    "airmp_air_events_total", "AIR notifications consumed, by eventName", ["event_name"]
)
RECORDS_OUT = Counter(
    "airmp_records_total", "mParticle-ready records produced, by AIR eventName", ["event_name"]
)
DEAD_LETTERS = Counter(
    "airmp_dead_letters_total", "Inputs sent to the dead-letter topic, by reason", ["reason"]
)
DUPLICATES = Counter("airmp_duplicate_events_total", "AIR events seen before (not re-emitted)")
UNMAPPED = Counter(
    "airmp_unmapped_events_total", "Mapper counters (unmapped names, misses)", ["counter"]
)
TRUNCATED = Counter("airmp_truncated_attributes_total", "Attribute values cut to mParticle limits")
CONSUMER_LAG = Gauge(
    "airmp_consumer_lag", "Messages behind the end of the partition", ["topic", "partition"]
)

SINK_OBSERVER = sink_metrics(SINK_REGISTRY)
REREADS = Counter(
    "airmp_partition_rereads_total",
    "Partitions read again from a message the consumer skipped (see streams/offsets.py)",
    ["topic"],
)
RECOVERY_START = Gauge(
    "airmp_table_recovery_start_offset",
    "Changelog offset the last table recovery read from after, per partition (-1: all of it)",
    ["topic", "partition"],
)
