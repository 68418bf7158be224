"""The one way an operator command runs: `run(prefix, command, settings, options)`.

Every command is a function `(settings, options, out, err) -> exit status`, its options one
small frozen dataclass; `ops/cli.py` builds the options and calls `run`. What is common to
all of them is here only:

- the event loop: `on_loop` (one coroutine) and `loop` (several, as `airmp map
  --air-lookups` asks AIR once per void), both with aiokafka's connection errors quiet, since
  the command prints its own one line instead;
- `OpsError` (ops/errors.py) and Kafka's `BrokerError`: the message on one line after the
  command's prefix, exit status 2;
- Ctrl-C: exit status 130 and one line, the command's own `interrupted` line where it says
  what an interruption leaves behind (replay, dead-letters), else "interrupted".
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TextIO, TypeVar

from config import Settings
from ops.errors import OpsError
from streams.kafka import BrokerError, quiet_aiokafka

Opts = TypeVar("Opts")  # the command's options
W = TypeVar("W")  # where its output goes: text, or bytes for `airmp map`
T = TypeVar("T")

Command = Callable[[Settings, Opts, W, TextIO], int]

ONE_LINE = (OpsError, BrokerError)
INTERRUPTED = 130  # 128 + SIGINT, as a shell reports it


def say(err: TextIO, prefix: str, text: str) -> None:
    """One line on stderr, flushed: a long command's progress must show as it happens."""
    err.write(f"{prefix}: {text}\n")
    err.flush()


def guarded(
    prefix: str, work: Callable[[], int], err: TextIO, *, interrupted: str | None = None
) -> int:
    """`work`'s exit status; 2 with one line for our errors and Kafka's; 130 with the
    `interrupted` line (or "interrupted") on Ctrl-C."""
    try:
        return work()
    except ONE_LINE as exc:
        say(err, prefix, str(exc))
        return 2
    except KeyboardInterrupt:
        say(err, prefix, interrupted or "interrupted")
        return INTERRUPTED


def run(
    prefix: str,
    command: Command[Opts, W],
    settings: Settings,
    options: Callable[[], Opts],
    out: W,
    err: TextIO | None = None,
    *,
    interrupted: str | None = None,
) -> int:
    """`command`'s exit status. `options` is built here, inside the guard, so an argument
    found wrong while building them (a time that cannot be read) is one line too."""
    stderr = err or sys.stderr
    return guarded(
        prefix, lambda: command(settings, options(), out, stderr), stderr, interrupted=interrupted
    )


def on_loop(main: Coroutine[Any, Any, T]) -> T:
    """`main` run on a new event loop, aiokafka's connection errors quiet."""
    with quiet_aiokafka():
        return asyncio.run(main)


@contextmanager
def loop() -> Iterator[asyncio.Runner]:
    """One event loop for several coroutines (`runner.run(...)` each), then closed."""
    with quiet_aiokafka(), asyncio.Runner() as runner:
        yield runner
