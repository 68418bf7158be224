"""`airmp lag`: how far the connector's consumer group is behind, per topic and partition.

The Faust app reads the input topic (ingest), the by-wallet topic (wallet_events) and the
records topic (sink) in ONE consumer group, `AIRMP_APP_ID`. For each group asked about this
shows every partition of those topics (and of any other topic the group committed on):
committed offset, end offset, lag (`streams.kafka.collect_lag`, the numbers of the worker's
lag gauge too).
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import asdict
from typing import TextIO

import orjson

from config import Settings
from streams.kafka import BrokerError, PartitionLag, collect_lag, quiet_aiokafka
from streams.topics import consumed_topics


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


def run_lag(
    settings: Settings,
    groups: list[str],
    *,
    as_json: bool = False,
    max_lag: int | None = None,
    watch: float | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Print the lag; 0 when within --max-lag, 1 when above it, 2 when Kafka cannot be used."""
    out = out or sys.stdout
    err = err or sys.stderr
    groups = groups or [settings.app_id]
    topics = consumed_topics(settings)
    status = 0
    with quiet_aiokafka():
        while True:
            try:
                rows = asyncio.run(collect_lag(settings, groups, topics))
            except BrokerError as exc:
                err.write(f"airmp lag: {exc}\n")
                err.flush()
                status = 2
                if watch is None:
                    return status
            else:
                if watch is not None and not as_json:
                    out.write(time.strftime("%Y-%m-%d %H:%M:%S") + "\n")
                out.write((render_json(rows) if as_json else render_table(rows)) + "\n")
                out.flush()
                over = [r for r in rows if max_lag is not None and r.lag > max_lag]
                status = 1 if over else 0
                if over and not as_json:
                    err.write(
                        f"airmp lag: {len(over)} partition(s) lag more than --max-lag {max_lag}\n"
                    )
                    err.flush()
                if watch is None:
                    return status
            try:
                time.sleep(watch)
            except KeyboardInterrupt:
                return status
