"""`airmp`: one click group, Faust's own, with the connector's commands on it.

Faust's group (`faust.cli.faust.cli`) gives `airmp worker` and Faust's other commands; the
operator commands below are declared on it, and `worker` is Faust's worker command with
the start-up the connector needs. Nothing rewrites argv:

- the log level comes from AIRMP_LOG_LEVEL as click's `default_map` for the worker's
  `--loglevel` (click's defaults from configuration): an explicit `-l`, before or after
  `worker`, still wins, as Faust's compat option keeps the first value given;
- the topics are created before Faust's worker starts (Faust ignores a missing topic until
  its next metadata refresh), in the worker command itself, so `airmp worker --help`
  needs no broker; a broker that cannot be used stops it with one line, exit status 2.

Settings are read once (`read_settings()`); a wrong one stops any command with one line naming
the variable (exit status 2).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import click
from faust.cli.faust import cli
from faust.cli.worker import worker as faust_worker
from mode.utils.loops import get_event_loop

from config import Settings, SettingsError, load_settings
from ops import help as help_mod
from ops import runner
from streams.app import create_app
from streams.dead_letters import Stage
from streams.kafka import quiet_aiokafka
from streams.logs import configure as configure_logging
from streams.logs import faust_options as logging_options
from streams.topics import ensure_topics

if TYPE_CHECKING:
    from ops.dead_letters.letters import Selection

FAUST_COMMANDS = frozenset(cli.commands)  # Faust's own, before ours are declared below


@functools.cache
def read_settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"airmp: {exc}", err=True)
        sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    """`airmp`; `argv` (default: the process's arguments) is for tests."""
    show_all, args = help_mod.split_all(sys.argv[1:] if argv is None else argv)
    help_mod.tidy(cli, FAUST_COMMANDS, show_all)
    app = create_app(read_settings(), **logging_options(read_settings()))
    # What `app.main()` does, with the default log level: the app is prepared for a command
    # by the command itself (faust.cli.base.AppCommand -> prepare_app).
    cli(args, app=app, default_map={"worker": {"loglevel": read_settings().log_level}})


class worker(faust_worker):
    """Run the connector: its agents, the HTTP edges, health and metrics."""

    # Defining the subclass registers it with Faust's group (Command.__init_subclass__), as
    # a command named after the class: in place of Faust's `worker`, same options and help.

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        create_topics_or_exit(read_settings())
        super().__call__(*args, **kwargs)


def create_topics_or_exit(settings: Settings) -> None:
    """The worker's topics, before Faust subscribes; one line and exit 2 when Kafka fails."""
    configure_logging(settings)  # the start-up lines in the chosen format

    def create() -> int:
        with quiet_aiokafka():  # our one line replaces aiokafka's "Unable connect" errors
            # On the loop Faust's worker then runs on (mode's get-or-create loop), not a
            # new one as `runner.on_loop` would make: hence `guarded` alone.
            get_event_loop().run_until_complete(ensure_topics(settings))
        return 0

    status = runner.guarded("airmp worker", create, sys.stderr)
    if status:
        sys.exit(status)


@cli.command("map")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--air-lookups",
    is_flag=True,
    help="ask AIR (AIRMP_AIR_*) for a SPEND.VOID's parent reference the input lacks",
)
def map_command(files: tuple[str, ...], air_lookups: bool) -> None:
    """Map AIR notifications (files, or stdin) to mParticle-ready records on stdout.

    Each input is a JSON object, a JSON array of objects, or JSON Lines. Bad inputs are
    reported on stderr as JSON lines with their reason. Offline unless --air-lookups.
    """
    from ops.map import PREFIX, MapOptions, run_map

    options = functools.partial(MapOptions, files, air_lookups)
    sys.exit(runner.run(PREFIX, run_map, read_settings(), options, sys.stdout.buffer))


@cli.command("mock-mparticle")
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


@cli.command("mock-air")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8091, show_default=True, type=int)
@click.option("--client-id", envvar="AIRMP_AIR_CLIENT_ID", default="local-air-client")
@click.option("--client-secret", envvar="AIRMP_AIR_CLIENT_SECRET", default="local-air-secret")
@click.option("--wallets", "wallets_file", default=None, help="JSON file of known wallets")
@click.option(
    "--trigger",
    "triggers",
    multiple=True,
    metavar="REF=points:N|ecoupon:CAMPAIGN",
    help="an SBA trigger it knows (default WELCOME5000=points:5000)",
)
@click.option("--triggers-file", default=None, help="JSON object of triggers")
@click.option("--record", "record_path", default=None, help="append grants (JSONL)")
@click.option(
    "--emit-kafka", default=None, metavar="HOST:PORT", help="produce SERVICE.TRIGGER here"
)
@click.option("--emit-topic", default=None, help="... to this topic (the AIR input topic)")
@click.option("--emit-url", default=None, help="POST SERVICE.TRIGGER here (the AIR webhook edge)")
@click.option("--emit-token", envvar="AIRMP_AIR_WEBHOOK_TOKEN", default=None)
@click.option("--prefix", default="", help="API prefix of its routes, such as /2.0")
def mock_air_command(
    host: str,
    port: int,
    client_id: str,
    client_secret: str,
    wallets_file: str | None,
    triggers: tuple[str, ...],
    triggers_file: str | None,
    record_path: str | None,
    emit_kafka: str | None,
    emit_topic: str | None,
    emit_url: str | None,
    emit_token: str | None,
    prefix: str,
) -> None:
    """Run the local AIR (signed wallet API, rewards, SERVICE.TRIGGER) for tests and demos."""
    import asyncio

    from testkit.local_air import DEFAULT_TRIGGERS, run_local_air

    try:
        asyncio.run(
            run_local_air(
                host,
                port,
                client_id=client_id,
                client_secret=client_secret,
                wallets_file=wallets_file,
                triggers=triggers or DEFAULT_TRIGGERS,
                triggers_file=triggers_file,
                record=record_path,
                emit_bootstrap=emit_kafka,
                emit_topic=emit_topic,
                emit_url=emit_url,
                emit_token=emit_token,
                prefix=prefix,
            )
        )
    except ValueError as exc:
        click.echo(f"airmp mock-air: {exc}", err=True)
        sys.exit(2)


@cli.command("reward")
@click.option("--identity", required=True, help="the customer's AIR identity value")
@click.option("--trigger", "triggers", required=True, multiple=True, help="SBA action reference")
@click.option("--reference", default=None, help="idempotency key (default: a new one)")
@click.option("--note", default=None, help="why, kept with the request")
def reward_command(
    identity: str, triggers: tuple[str, ...], reference: str | None, note: str | None
) -> None:
    """Produce one reward request by hand; the worker's reward agent asks AIR for it once.

    Exit status: 0 produced, 2 a bad request or Kafka errors (one line).
    """
    from ops.reward import PREFIX, RewardOptions, run_reward

    options = functools.partial(RewardOptions, identity, triggers, reference, note)
    sys.exit(runner.run(PREFIX, run_reward, read_settings(), options, sys.stdout))


@cli.command("lag")
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
    from ops.lag import PREFIX, LagOptions, run_lag

    options = functools.partial(LagOptions, groups, as_json, max_lag, watch)
    sys.exit(runner.run(PREFIX, run_lag, read_settings(), options, sys.stdout))


@cli.command("check")
@click.option("--json", "as_json", is_flag=True, help="one JSON object instead of a table")
def check_command(as_json: bool) -> None:
    """Check the settings and reach Kafka, mParticle and AIR without side effects.

    One row per check: the brokers, the group, each topic, mParticle's and AIR's
    credentials, the edges' tokens. Exit status: 0 all passed, 1 any failed.
    """
    from ops.check import CheckOptions, run_check

    options = functools.partial(CheckOptions, as_json)
    sys.exit(runner.run("airmp check", run_check, read_settings(), options, sys.stdout))


@cli.command("replay")
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
    from ops.replay.run import INTERRUPTED, PREFIX, ReplayOptions, run_replay

    options = functools.partial(ReplayOptions, from_timestamp, from_offset, to_timestamp, dry_run)
    status = runner.run(
        PREFIX, run_replay, read_settings(), options, sys.stdout, interrupted=INTERRUPTED
    )
    sys.exit(status)


# --- airmp dead-letters -----------------------------------------------------------------------


@cli.group("dead-letters")
def dead_letters_group() -> None:
    """The dead-letter topic: counts, each dead letter, and re-driving them where they came
    from. No consumer group, nothing committed; the range read is fixed at the start."""


def _selection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--since, --until, --reason, --stage, --event-name: the same on every sub-command."""
    options = [
        click.option(
            "--since", metavar="T", help="dead-lettered at or after T: ISO 8601, epoch ms, 2h, 7d"
        ),
        click.option("--until", metavar="T", help="dead-lettered before T"),
        click.option(
            "--reason", "reasons", multiple=True, metavar="KIND", help="not_json, invalid_batch..."
        ),
        click.option(
            "--stage", "stages", multiple=True, type=click.Choice([s.value for s in Stage])
        ),
        click.option("--event-name", "event_names", multiple=True, metavar="NAME"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _selection(
    since: str | None,
    until: str | None,
    reasons: tuple[str, ...],
    stages: tuple[str, ...],
    event_names: tuple[str, ...],
) -> Selection:
    """The filters as a `Selection`, times read against now; raises for a time it cannot
    read (said by the runner: one line, exit status 2)."""
    import time

    from ops.dead_letters.letters import Selection

    now = int(time.time() * 1000)
    return Selection.of_options(since, until, reasons, stages, event_names, now)


def _dead_letters(command: Callable[..., int], options: Callable[[], Any]) -> NoReturn:
    """Every `airmp dead-letters` command: read settings, run it, exit with its status."""
    from ops.dead_letters.run import INTERRUPTED, PREFIX

    settings = read_settings()
    sys.exit(runner.run(PREFIX, command, settings, options, sys.stdout, interrupted=INTERRUPTED))


@dead_letters_group.command("summary")
@_selection_options
@click.option("--json", "as_json", is_flag=True, help="one JSON object instead of a table")
def dead_letters_summary(as_json: bool, **filters: Any) -> None:
    """Counts by reason x stage x eventName, with the first and last time of each.

    Exit status: 0 done, 2 bad arguments or Kafka errors (one line).
    """
    from ops.dead_letters.run import SummaryOptions, run_summary

    _dead_letters(run_summary, lambda: SummaryOptions(_selection(**filters), as_json))


@dead_letters_group.command("show")
@_selection_options
@click.option("--limit", type=click.IntRange(min=1), default=None, help="at most N")
def dead_letters_show(limit: int | None, **filters: Any) -> None:
    """Each dead letter: reason, detail, source topic/partition/offset, body pretty-printed.

    Exit status: 0 done, 2 bad arguments or Kafka errors (one line).
    """
    from ops.dead_letters.run import ShowOptions, run_show

    _dead_letters(run_show, lambda: ShowOptions(_selection(**filters), limit))


@dead_letters_group.command("redrive")
@_selection_options
@click.option("--limit", type=click.IntRange(min=1), default=None, help="at most N")
@click.option("--dry-run", is_flag=True, help="say what would be re-driven; produce nothing")
@click.option("--all", "everything", is_flag=True, help="every dead letter (no filter given)")
def dead_letters_redrive(
    limit: int | None, dry_run: bool, everything: bool, **filters: Any
) -> None:
    """Produce the selected dead letters again where their stage reads: the AIR input topic
    (ingest, wallet), the records topic (sink), the reward topic (reward), with the header
    airmp-redriven-from. A notification keeps its source headers, so the worker maps it
    again though its eesEventId was seen; a record keeps its source_request_id.

    Exit status: 0 done, 1 some could not be re-driven (stage unknown), 2 bad arguments
    or Kafka errors (one line).
    """
    from ops.dead_letters.run import RedriveOptions, run_redrive

    _dead_letters(
        run_redrive,
        lambda: RedriveOptions(_selection(**filters), everything, limit, dry_run),
    )
