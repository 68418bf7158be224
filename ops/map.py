"""`airmp map`: map AIR notifications from files (or stdin) to records on stdout
(docs/mapping.md §2).

Each input is one JSON object, a JSON array of objects, or JSON Lines. Records go to stdout
as one compact JSON line each; each bad input is one JSON line on stderr. Output depends on
the input only (no clock), so two runs on the same input are byte-identical.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TextIO

import orjson

from config.settings import Settings
from mappers import Mapper, MappingOptions, Notification, Rejection, parse, void_lookup
from sinks import AirClient, ReferenceLookups

STDIN = "-"


Lookup = Callable[[str, str], "str | None"]  # (walletId, walletTransactionId) -> reference


def run_map(
    paths: list[str],
    settings: Settings,
    stdout: BinaryIO,
    stderr: TextIO,
    stdin: BinaryIO | None = None,
    lookup: Lookup | None = None,
) -> int:
    """Map every input in order with one in-memory Mapper; 2 if a file cannot be read.
    With `lookup`, a SPEND.VOID whose parent is unknown asks it (`--air-lookups`)."""
    mapper = Mapper(MappingOptions.from_settings(settings))
    status = 0
    for path in paths or [STDIN]:
        name = "<stdin>" if path == STDIN else path
        try:
            data = _read(path, stdin)
        except OSError as exc:
            stderr.write(f"airmp map: cannot read {name}: {exc.strerror or exc}\n")
            status = 2
            continue
        for index, raw in _items(data):
            notification = parse(raw)
            looked_up = _look_up(mapper, notification, lookup) if lookup else None
            outcome = mapper.map_notification(notification, looked_up)
            if outcome.record is not None:
                stdout.write(orjson.dumps(outcome.record) + b"\n")
            if outcome.rejection is not None:
                read = None if isinstance(notification, Rejection) else notification
                line = {
                    "source": f"{name}:{index}",
                    "reason": outcome.rejection.reason,
                    "event_name": read.event_name if read is not None else None,
                    "event_id": read.event_id if read is not None else None,
                }
                stderr.write(orjson.dumps(line).decode() + "\n")
    stdout.flush()
    return status


def _look_up(
    mapper: Mapper, notification: Notification | Rejection, lookup: Lookup
) -> dict[str, str] | None:
    if isinstance(notification, Rejection) or notification.wallet_id is None:
        return None
    ask = void_lookup(notification, mapper.states.get(notification.wallet_id))
    reference = lookup(*ask) if ask is not None else None
    return {ask[1]: reference} if ask is not None and reference is not None else None


def map_with_air_lookups(
    paths: list[str], settings: Settings, stdout: BinaryIO, stderr: TextIO
) -> int:
    """`airmp map --air-lookups`: as run_map, asking AIR (the configured client) for what
    a SPEND.VOID's record needs and wallet state does not know."""
    if not settings.air_enabled:
        stderr.write(
            "airmp map: --air-lookups needs AIRMP_AIR_CLIENT_ID, _SECRET and _WALLET_URL\n"
        )
        return 2
    with asyncio.Runner() as runner:
        client = AirClient.from_settings(settings)
        lookups = ReferenceLookups(client)
        try:
            return run_map(
                paths,
                settings,
                stdout,
                stderr,
                lookup=lambda w, t: runner.run(lookups.reference(w, t)),
            )
        finally:
            runner.run(client.close())


def _read(path: str, stdin: BinaryIO | None) -> bytes:
    if path == STDIN:
        return (stdin or sys.stdin.buffer).read()
    with open(path, "rb") as handle:
        return handle.read()


def _items(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(1-based index, raw bytes): the object, each array element, or each non-blank line."""
    if not data.strip():
        return
    try:
        whole: Any = orjson.loads(data)
    except orjson.JSONDecodeError:
        # Not one JSON document: JSON Lines; the index is the line number.
        for number, line in enumerate(data.split(b"\n"), start=1):
            if line.strip():
                yield number, line
        return
    if isinstance(whole, list):
        for number, item in enumerate(whole, start=1):
            yield number, orjson.dumps(item)
    else:
        yield 1, data
