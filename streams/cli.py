"""`airmp`: Faust's own command line for this app (`airmp worker`, ...) plus our commands.

Settings are read once, here; a wrong one stops the command with one line naming the
variable (exit status 2).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from config import Settings, SettingsError, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"airmp: {exc}", err=True)
        sys.exit(2)


@click.command("map")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
def map_command(files: tuple[str, ...]) -> None:
    """Map AIR notifications (files, or stdin) to mParticle-ready records on stdout.

    Each input is a JSON object, a JSON array of objects, or JSON Lines. Bad inputs are
    reported on stderr as JSON lines with their reason.
    """
    from streams.map_command import run_map

    sys.exit(run_map(list(files), _settings(), sys.stdout.buffer, sys.stderr))


@click.command("mock-mparticle")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--record", "record_path", default=None, help="append accepted batches (JSONL)")
@click.option("--api-key", envvar="AIRMP_MPARTICLE_API_KEY", default="", show_default=False)
@click.option("--api-secret", envvar="AIRMP_MPARTICLE_API_SECRET", default="", show_default=False)
def mock_mparticle_command(
    host: str, port: int, record_path: str | None, api_key: str, api_secret: str
) -> None:
    """Run the local mParticle S2S-compatible endpoint (for tests and the demo)."""
    import asyncio

    from testkit.local_mparticle import run_endpoint

    asyncio.run(
        run_endpoint(host, port, api_key=api_key, api_secret=api_secret, record=record_path)
    )


# --- operations commands (lag, replay) ---------------------------------------------------
@click.command("lag")
@click.option("--group", "groups", multiple=True, help="consumer group (default: AIRMP_APP_ID)")
@click.option("--max-lag", type=click.IntRange(min=0), default=None, help="exit 1 above this")
@click.option("--watch", type=click.FloatRange(min=0.5), default=None, help="repeat every S s")
@click.option("--json", "as_json", is_flag=True, help="one JSON object instead of a table")
def lag_command(
    groups: tuple[str, ...], max_lag: int | None, watch: float | None, as_json: bool
) -> None:
    """Committed offset, end offset and lag of the connector's consumer group per partition.

    Exit status: 0 within --max-lag, 1 above it, 2 when Kafka cannot be reached or used.
    """
    from streams.lag import run_lag

    settings = _settings()
    sys.exit(run_lag(settings, list(groups), as_json=as_json, max_lag=max_lag, watch=watch))


@click.command("replay")
@click.option("--from-timestamp", metavar="T", help="ISO 8601 (UTC without offset) or epoch ms")
@click.option("--from-offset", metavar="O|P:O,...", help="offset on every partition, or per one")
@click.option("--to-timestamp", metavar="T2", help="stop before the first message at or after T2")
@click.option(
    "--dry-run",
    metavar="FILE",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="write the records to FILE (JSON lines) instead of the records topic",
)
def replay_command(
    from_timestamp: str | None,
    from_offset: str | None,
    to_timestamp: str | None,
    dry_run: str | None,
) -> None:
    """Re-process a range of the AIR input topic through mapping and delivery.

    No consumer group: partitions are assigned by hand and nothing is committed, so a live
    worker is not disturbed. Wallet state starts from the table's changelog (the newest), so
    older events never roll a profile back; records keep their source_request_id.
    Exit status: 0 done, 2 bad arguments or Kafka errors (one line).
    """
    from streams.replay import run_replay

    settings = _settings()
    sys.exit(
        run_replay(
            settings,
            from_timestamp=from_timestamp,
            from_offset=from_offset,
            to_timestamp=to_timestamp,
            dry_run=dry_run,
        )
    )


OPS_COMMANDS: list[click.Command] = [lag_command, replay_command]
# --- end of operations commands -----------------------------------------------------------

OUR_COMMANDS: list[click.Command] = [map_command, mock_mparticle_command, *OPS_COMMANDS]


def main(argv: list[str] | None = None) -> Any:
    args = sys.argv[1:] if argv is None else argv
    settings = _settings()
    from faust.cli.faust import cli as faust_cli

    from streams.app import create_app

    for command in OUR_COMMANDS:
        faust_cli.add_command(command)
    if args[:1] == ["worker"] and not {"--help", "-h"} & set(args):
        import asyncio

        from streams.kafka_check import BrokerError, start_up_check  # operations
        from streams.logs import configure as configure_logging  # operations
        from streams.topics import ensure_topics

        configure_logging(settings)  # operations: start-up lines in the chosen format
        try:  # operations: rejected credentials / no broker -> one line, exit 2
            asyncio.run(start_up_check(settings, ensure_topics))
        except BrokerError as exc:
            click.echo(f"airmp worker: {exc}", err=True)
            sys.exit(2)
        if not any(a in ("-l", "--loglevel") for a in args):
            args = [*args, "--loglevel", settings.log_level]
    sys.argv = ["airmp", *args]
    from streams.logs import faust_options as logging_options  # operations: log format

    create_app(settings, **logging_options(settings)).main()
