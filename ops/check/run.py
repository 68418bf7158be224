"""`airmp check`: every row, gathered (the I/O), then rendered."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from typing import TextIO

from config import Settings
from ops.check.kafka_facts import KafkaFacts, gather
from ops.check.kafka_rows import kafka_rows
from ops.check.rows import Row, exit_status, render_json, render_table
from ops.check.services import probe_air, probe_mparticle
from ops.check.settings_rows import edge_rows, settings_row
from streams.kafka import BrokerError, quiet_aiokafka


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


def run_check(
    settings: Settings,
    *,
    as_json: bool = False,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> int:
    """Print the rows; 1 when any check failed, else 0."""
    out = out or sys.stdout
    with quiet_aiokafka():  # a failed connection is the brokers' row, not aiokafka's ERROR
        rows = asyncio.run(check_rows(settings, os.environ if environ is None else environ))
    out.write((render_json(rows) if as_json else render_table(rows)) + "\n")
    out.flush()
    return exit_status(rows)
