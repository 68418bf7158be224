"""streams.metrics.KNOWN_LABELS: the label values it spells out are the enums' and views' own,
and it names every labelled metric a panel or alert reads. (A real worker serving them at 0:
tests/ops/test_worker_metrics.py.)"""

from __future__ import annotations

from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from mappers import RejectReason
from mappers.firehose import FirehoseFault
from sinks import RefusalReason
from streams import metrics
from streams.dead_letters import Fault
from streams.edges import ROUTES
from streams.rewards import RewardFault
from tests.ops.test_monitoring import NOT_OURS, alert_rules, dashboard_metrics, metrics_in

SUFFIXES = ("_total", "_bucket", "_sum", "_count")


def family_of(sample: str) -> str:
    for suffix in SUFFIXES:
        if sample.endswith(suffix):
            return sample.removesuffix(suffix)
    return sample


def labelled_metrics() -> dict[str, MetricWrapperBase]:
    """Family name -> every labelled metric the worker declares (both registries)."""
    found = [*vars(metrics).values(), *vars(metrics.SINK_OBSERVER).values()]
    declared = [m for m in found if isinstance(m, MetricWrapperBase) and m._labelnames]
    return {name: m for m in declared for name in (f.name for f in m.describe())}


def test_the_stream_layers_kinds_and_routes_are_its_enums_and_views() -> None:
    assert (*Fault, *RewardFault, *FirehoseFault) == metrics.STREAM_FAULTS
    assert set(metrics.EDGE_ROUTES) == {view.route_name for _, view in ROUTES}


def test_every_dead_letter_kind_is_known() -> None:
    kinds = {v for (v,) in metrics.KNOWN_LABELS[metrics.DEAD_LETTERS]}
    assert kinds == {*RejectReason, *RefusalReason, *Fault, *RewardFault, *FirehoseFault}
    assert len(kinds) == len(metrics.KNOWN_LABELS[metrics.DEAD_LETTERS])


def test_the_table_names_every_labelled_metric_read() -> None:
    read = set(dashboard_metrics()).union(*(metrics_in(r["expr"]) for r in alert_rules()))
    labelled = labelled_metrics()
    wanted = {labelled[f] for f in map(family_of, read - NOT_OURS) if f in labelled}
    # Per assigned partition (set by the lag timer), and per topic read (prime's argument).
    dynamic = {metrics.CONSUMER_LAG, metrics.REREADS}
    assert wanted - dynamic <= set(metrics.KNOWN_LABELS)  # more may be primed
    assert dynamic <= wanted


def test_prime_serves_the_rereads_of_each_topic_read_at_0() -> None:
    metrics.prime(["t-primed-only"])  # a topic no other test reads
    rereads = REGISTRY.get_sample_value("airmp_partition_rereads_total", {"topic": "t-primed-only"})
    assert rereads == 0
