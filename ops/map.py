"""`airmp map`: map AIR notifications from files (or stdin) to records on stdout
(docs/mapping.md §2).

Each input is one JSON object, a JSON array of objects, or JSON Lines. Records go to stdout
as one compact JSON line each; each bad input is one JSON line on stderr. Output depends on
the input only (no clock), so two runs on the same input are byte-identical.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, TextIO

import orjson

from config.settings import Settings
from mappers import Mapper, MappingOptions, Notification, Rejection, parse, void_lookup
from ops.errors import UsageError
from ops.runner import loop
from sinks import AirClient, ReferenceLookups

STDIN = "-"
PREFIX = "airmp map"


Lookup = Callable[[str, str], "str | None"]  # (walletId, walletTransactionId) -> reference


@dataclass(frozen=True)
class MapOptions:
    paths: tuple[str, ...] = ()  # none: stdin
    air_lookups: bool = False
    stdin: BinaryIO | None = None  # default: the process's (tests give their own)


def run_map(settings: Settings, options: MapOptions, out: BinaryIO, err: TextIO) -> int:
    """Map every input in order with one in-memory Mapper; 2 if a file cannot be read.
    With --air-lookups, a SPEND.VOID whose parent is unknown asks AIR."""
    if options.air_lookups:
        return map_with_air_lookups(settings, options, out, err)
    return map_inputs(settings, options, out, err)


def map_inputs(
    settings: Settings,
    options: MapOptions,
    out: BinaryIO,
    err: TextIO,
    lookup: Lookup | None = None,
) -> int:
    """`run_map` with `lookup` asked for what a SPEND.VOID's record needs, if given. A file
    that cannot be read is said and the next one mapped (status 2 at the end)."""
    mapper = Mapper(MappingOptions.from_settings(settings))
    status = 0
    for path in options.paths or (STDIN,):
        name = "<stdin>" if path == STDIN else path
        try:
            data = _read(path, options.stdin)
        except OSError as exc:
            err.write(f"{PREFIX}: cannot read {name}: {exc.strerror or exc}\n")
            status = 2
            continue
        for index, raw in _items(data):
            _map_one(mapper, raw, f"{name}:{index}", lookup, out, err)
    out.flush()
    return status


def _map_one(
    mapper: Mapper, raw: bytes, source: str, lookup: Lookup | None, out: BinaryIO, err: TextIO
) -> None:
    """Its record on `out`, or its rejection as one JSON line on `err`."""
    notification = parse(raw)
    looked_up = _look_up(mapper, notification, lookup) if lookup else None
    outcome = mapper.map_notification(notification, looked_up)
    if outcome.record is not None:
        out.write(orjson.dumps(outcome.record) + b"\n")
    if outcome.rejection is not None:
        read = None if isinstance(notification, Rejection) else notification
        line = {
            "source": source,
            "reason": outcome.rejection.reason,
            "event_name": read.event_name if read is not None else None,
            "event_id": read.event_id if read is not None else None,
        }
        err.write(orjson.dumps(line).decode() + "\n")


def _look_up(
    mapper: Mapper, notification: Notification | Rejection, lookup: Lookup
) -> dict[str, str] | None:
    if isinstance(notification, Rejection) or notification.wallet_id is None:
        return None
    ask = void_lookup(notification, mapper.states.get(notification.wallet_id))
    reference = lookup(*ask) if ask is not None else None
    return {ask[1]: reference} if ask is not None and reference is not None else None


def map_with_air_lookups(
    settings: Settings, options: MapOptions, out: BinaryIO, err: TextIO
) -> int:
    """`airmp map --air-lookups`: as run_map, asking AIR (the configured client) for what
    a SPEND.VOID's record needs and wallet state does not know."""
    if not settings.air_enabled:
        raise UsageError("--air-lookups needs AIRMP_AIR_CLIENT_ID, _SECRET and _WALLET_URL")
    with loop() as runner:
        client = AirClient.from_settings(settings)
        lookups = ReferenceLookups(client)
        try:
            return map_inputs(
                settings,
                options,
                out,
                err,
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
