"""`airmp lag`: how far the connector's consumer group is behind, per topic and partition.

The Faust app reads the input topic (ingest), the by-wallet topic (wallet_events) and the
records topic (sink) in ONE consumer group, `AIRMP_APP_ID`. For each group asked about this
shows every partition of those topics (and of any other topic the group committed on):
committed offset, end offset, lag (`streams.kafka.collect_lag`, the numbers of the worker's
lag gauge too).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TextIO

import orjson

from config import Settings
from ops.runner import on_loop, say
from streams.kafka import BrokerError, PartitionLag, collect_lag
from streams.topics import consumed_topics

PREFIX = "airmp lag"


def render_table(rows: list[PartitionLag]) -> str:
    header = ("GROUP", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG")
    body = [
        (
            r.group,
            r.topic,
            str(r.partition),
            "-" if r.committed is None else str(r.committed),
            str(r.end),
            str(r.lag),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = []
    for row in [header, *body]:
        cells = [
            cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    total = sum(r.lag for r in rows)
    lines.append(f"total lag: {total}")
    return "\n".join(lines)


def render_json(rows: list[PartitionLag]) -> str:
    return orjson.dumps(
        {"partitions": [asdict(r) for r in rows], "total_lag": sum(r.lag for r in rows)}
    ).decode()


@dataclass(frozen=True)
class LagOptions:
    groups: tuple[str, ...] = ()  # default: AIRMP_APP_ID
    as_json: bool = False
    max_lag: int | None = None
    watch: float | None = None  # seconds between reports; None: once


def run_lag(settings: Settings, options: LagOptions, out: TextIO, err: TextIO) -> int:
    """Print the lag; 0 when within --max-lag, 1 when above it, 2 when Kafka cannot be used.
    Once, a Kafka error raises (`ops.runner`: one line, 2); with --watch it is said and the
    next report tried, and Ctrl-C between reports ends with the last status."""
    groups = list(options.groups) or [settings.app_id]
    topics = consumed_topics(settings)
    if options.watch is None:
        return _report(settings, options, groups, topics, out, err)
    status = 0
    while True:
        try:
            status = _report(settings, options, groups, topics, out, err)
        except BrokerError as exc:
            say(err, PREFIX, str(exc))
            status = 2
        try:
            time.sleep(options.watch)
        except KeyboardInterrupt:
            return status


def _report(
    settings: Settings,
    options: LagOptions,
    groups: list[str],
    topics: list[str],
    out: TextIO,
    err: TextIO,
) -> int:
    """One report on `out`; 1 when a partition lags more than --max-lag, else 0."""
    rows = on_loop(collect_lag(settings, groups, topics))
    if options.watch is not None and not options.as_json:
        out.write(time.strftime("%Y-%m-%d %H:%M:%S") + "\n")
    out.write((render_json(rows) if options.as_json else render_table(rows)) + "\n")
    out.flush()
    max_lag = options.max_lag
    over = [r for r in rows if max_lag is not None and r.lag > max_lag]
    if over and not options.as_json:
        say(err, PREFIX, f"{len(over)} partition(s) lag more than --max-lag {max_lag}")
    return 1 if over else 0
