"""Prometheus metrics of the stream processor (served on the worker's `/metrics`)."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from mappers import REGISTRY as EVENT_MAPPERS
from mappers import RejectReason
from mappers.firehose import FirehoseFault
from sinks import RefusalReason
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
SINK_REPEATS = Counter(
    "airmp_sink_repeated_batches_total",
    "Records whose batch mParticle had already accepted from this connector, met again and "
    "completed without a request (a crash, a rebalance past the grace period, input mapped "
    "again; streams/accepted.py)",
)
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
REWARD_REQUESTS = Counter(
    "airmp_reward_requests_total", "Reward requests read from the reward topic"
)
REWARDS = Counter(
    "airmp_rewards_total",
    "Reward requests finished, by outcome (granted, already_granted, dead_lettered)",
    ["outcome"],
)
AIR_REQUESTS = Counter(
    "airmp_air_requests_total",
    "Requests to AIR, by operation and answer (status, timeout, connection_error)",
    ["operation", "status"],
)
AIR_RETRIES = Counter("airmp_air_retries_total", "AIR requests retried, by reason", ["reason"])
AIR_LATENCY = Histogram(
    "airmp_air_request_seconds",
    "AIR's answer time, by operation",
    ["operation"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
AIR_LOOKUPS = Counter(
    "airmp_air_lookups_total",
    "SPEND.VOID parent references asked of AIR, by outcome (found, not_found, failed, cached)",
    ["outcome"],
)
EDGE_REQUESTS = Counter(
    "airmp_edge_requests_total",
    "HTTP requests to the edges, by route and status",
    ["route", "status"],
)
EDGE_SECONDS = Histogram(
    "airmp_edge_request_seconds",
    "The edges' answer time, by route (Kafka's ack included)",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EDGE_REFUSED = Counter(
    "airmp_edge_refused_connections_total",
    "Connections the edges' server refused before any route: malformed HTTP (400), or no"
    " request headers within AIRMP_EDGE_HEADER_TIMEOUT_SECONDS (closed)",
    ["reason"],
)
FIREHOSE_ACTIONS = Counter(
    "airmp_firehose_audience_actions_total",
    "Audience membership actions mParticle sent (add, delete, attribute_update)",
    ["action"],
)
AUDIENCE_CHANGES = Counter(
    "airmp_audience_changes_total",
    "Membership changes the fan-out agent read, by outcome (fanned_out, duplicate)",
    ["outcome"],
)
AUDIENCE_REWARDS = Counter(
    "airmp_audience_reward_requests_total",
    "Reward requests the fan-out agent put on the reward topic",
)
DEAD_LETTER_SECRETS_MASKED = Counter(
    "airmp_dead_letter_secrets_masked_total",
    "Places a configured secret was masked in a dead letter (should stay 0)",
)
READY = Gauge("airmp_ready", "1 while /readyz answers 200, else 0 (set when /metrics is read)")
# The delivering paths (streams/delivery.py `Path.component`): a new one adds its name here.
STOPPED_COMPONENTS = ("sink", "rewards")
STOPPED = Gauge(
    "airmp_stopped",
    "1 while a delivery is stopped (sink: mParticle refused the credentials or a status it "
    "cannot fix; rewards: AIR refused the credentials), else 0 (set when /metrics is read)",
    ["component"],
)
ASSIGNMENTS = Counter(
    "airmp_partition_assignments_total",
    "Partition assignments this worker took (its start, then one per rebalance)",
)
ROUTES = Counter(
    "airmp_ingest_routes_total",
    "AIR events by route: mapped where they landed (keyed by walletId) or re-keyed",
    ["route"],
)


@functools.cache
def counter(metric: Counter, *labels: str) -> Counter:
    """`metric.labels(*labels)`, kept for the per-event path: prometheus_client takes a lock
    and checks the labels on every call, for the same few children each time."""
    return metric.labels(*labels)


# --- Known label values: every labelled series a panel or alert reads, at 0 from the start --
# A child appears at its first increment, so Prometheus first sees it at 1 and increase()
# reads 0: the first dead letter alerted nobody (issue 21). The stream layer's own kinds and
# routes are spelled here (their modules import this one); tests/streams/test_metrics.py
# holds them equal to the enums and views.
STREAM_FAULTS = (
    *("processing_error", "not_a_record"),  # streams.dead_letters.Fault
    *("invalid_reward_request", "air_refused"),  # streams.rewards.RewardFault
    *FirehoseFault,
)
EDGE_ROUTES = ("firehose", "connect", "air_webhook")  # route_name of streams.edges.ROUTES
EDGE_REFUSALS = ("malformed", "header_timeout")  # streams/edges/server.py
EDGE_STATUSES = ("200", "400", "401", "403", "413", "429", "500")  # what the edges answer
# mParticle's and AIR's answers as the sink and the AIR client label them; what is retried.
ANSWERS = (
    *("200", "201", "202", "400", "401", "403", "404", "408", "413", "429"),
    *("500", "502", "503", "504", "timeout", "connection_error"),
)
RETRIED = ("throttled", "408", "500", "502", "503", "504", "timeout", "connection_error")


def _each(*labels: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    """Every combination of the labels' values, in the metric's label order."""
    return tuple(itertools.product(*(tuple(map(str, values)) for values in labels)))


KNOWN_LABELS: dict[MetricWrapperBase, tuple[tuple[str, ...], ...]] = {
    EVENTS_IN: _each(EVENT_MAPPERS),
    RECORDS_OUT: _each(EVENT_MAPPERS),
    DEAD_LETTERS: _each((*RejectReason, *RefusalReason, *STREAM_FAULTS)),
    UNMAPPED: _each(("duplicate", "void_reference_miss")),
    STOPPED: _each(STOPPED_COMPONENTS),
    REWARDS: _each(("granted", "already_granted", "dead_lettered")),
    AIR_REQUESTS: _each(("trigger",), ANSWERS),
    AIR_LATENCY: _each(("trigger",)),
    AUDIENCE_CHANGES: _each(("fanned_out", "duplicate")),
    FIREHOSE_ACTIONS: _each(("add", "delete", "attribute_update")),
    EDGE_REQUESTS: _each(EDGE_ROUTES, EDGE_STATUSES),
    EDGE_SECONDS: _each(EDGE_ROUTES),
    EDGE_REFUSED: _each(EDGE_REFUSALS),
    SINK_OBSERVER.requests: _each(ANSWERS),
    SINK_OBSERVER.retries: _each(RETRIED),
    SINK_OBSERVER.wait_seconds: _each(("rate_limit", "throttled")),
    SINK_OBSERVER.refused_records: _each(RefusalReason),
}


def prime(topics: Iterable[str] = ()) -> None:
    """Every series of `KNOWN_LABELS` at 0, and the re-reads of each topic the worker reads
    (known from its settings only): once, at the worker's start."""
    for metric, known in KNOWN_LABELS.items():
        for values in known:
            metric.labels(*values)
    for topic in topics:
        REREADS.labels(topic)
