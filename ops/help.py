"""`airmp --help`: what the connector does and its own commands; Faust's with `--all`.

`airmp` is Faust's click group (so that `airmp worker` is Faust's worker with all its
options), which brings Faust's internal commands (agents, send, tables, ...) and root
options (--debug, --loop, ...) along. An operator reading `airmp --help` wants this
connector's commands: Faust's are hidden (click's `hidden`, so they still run) unless
`--all` comes before the command name.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

HELP = """The Eagle Eye AIR <-> mParticle connector.

AIR's notifications (from Kafka or the AIR webhook edge) become mParticle profile updates
and events, batched to mParticle's S2S API; mParticle audiences (the Firehose edge) become
rewards in AIR. `airmp worker` runs it; the other commands operate it.

Faust's own commands and options: `airmp --all --help`.
"""

# Root options that stay listed: the ones an operator of this connector uses.
KEPT_OPTIONS = frozenset({"loglevel", "version"})


def split_all(argv: Sequence[str]) -> tuple[bool, list[str]]:
    """Whether `--all` comes before the command name (a command's own `--all`, such as
    `dead-letters redrive --all`, stays its own), and the arguments without it."""
    args = list(argv)
    for i, arg in enumerate(args):
        if not arg.startswith("-"):
            return False, args  # the command name came first
        if arg == "--all":
            return True, args[:i] + args[i + 1 :]
    return False, args


def tidy(group: click.Group, faust_commands: frozenset[str], show_all: bool) -> None:
    """Our help text; Faust's commands (but `worker`) and options hidden unless `show_all`;
    ours listed first."""
    group.help = HELP
    for name in faust_commands - {"worker"}:
        group.commands[name].hidden = not show_all
    for param in group.params:
        if isinstance(param, click.Option) and param.name not in KEPT_OPTIONS:
            param.hidden = not show_all
    ours = sorted(set(group.commands) - faust_commands | {"worker"})
    theirs = sorted(faust_commands - {"worker"})

    def list_commands(ctx: click.Context) -> list[str]:
        return [*ours, *theirs]

    group.list_commands = list_commands  # type: ignore[method-assign]
