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

    from sinks.local_endpoint import run_endpoint

    asyncio.run(
        run_endpoint(host, port, api_key=api_key, api_secret=api_secret, record=record_path)
    )


OUR_COMMANDS: list[click.Command] = [map_command, mock_mparticle_command]


def main(argv: list[str] | None = None) -> Any:
    args = sys.argv[1:] if argv is None else argv
    settings = _settings()
    from faust.cli.faust import cli as faust_cli

    from streams.app import create_app

    for command in OUR_COMMANDS:
        faust_cli.add_command(command)
    if args[:1] == ["worker"]:
        import asyncio

        from streams.topics import ensure_topics

        asyncio.run(ensure_topics(settings))
        if not any(a in ("-l", "--loglevel") for a in args):
            args = [*args, "--loglevel", settings.log_level]
    sys.argv = ["airmp", *args]
    create_app(settings).main()
