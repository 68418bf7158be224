"""`airmp check`: every row, gathered (the I/O), then rendered."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

from config import Settings
from ops.check.kafka_facts import KafkaFacts, gather
from ops.check.kafka_rows import kafka_rows
from ops.check.rows import Row, exit_status, render_json, render_table
from ops.check.services import probe_air, probe_mparticle
from ops.check.settings_rows import edge_rows, settings_row
from ops.runner import on_loop
from streams.kafka import BrokerError


async def _kafka(settings: Settings) -> KafkaFacts | BrokerError:
    try:
        return await gather(settings)
    except BrokerError as exc:
        return exc


async def check_rows(settings: Settings, environ: Mapping[str, str]) -> list[Row]:
    """One row per check, in a fixed order: settings, Kafka, mParticle, AIR, the edges."""
    kafka, mparticle, air = await asyncio.gather(
        _kafka(settings), probe_mparticle(settings), probe_air(settings)
    )
    return [
        settings_row(environ),
        *kafka_rows(settings, kafka),
        mparticle,
        air,
        *edge_rows(settings),
    ]


@dataclass(frozen=True)
class CheckOptions:
    as_json: bool = False
    environ: Mapping[str, str] | None = None  # default: the process's environment (tests)


def run_check(settings: Settings, options: CheckOptions, out: TextIO, err: TextIO) -> int:
    """Print the rows; 1 when any check failed, else 0. A Kafka that cannot be used is the
    brokers' row, not an error (`_kafka`), so nothing is left for the runner to say."""
    environ = os.environ if options.environ is None else options.environ
    rows = on_loop(check_rows(settings, environ))
    out.write((render_json(rows) if options.as_json else render_table(rows)) + "\n")
    out.flush()
    return exit_status(rows)
