"""`airmp map`: map AIR notifications from files (or stdin) to §2 records on stdout.

Each input is one JSON object, a JSON array of objects, or JSON Lines. Records go to stdout
as one compact JSON line each; each bad input is one JSON line on stderr. Output depends on
the input only (no clock), so two runs on the same input are byte-identical.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any, BinaryIO, TextIO

import orjson

from config.settings import Settings
from mappers import Mapper, MappingOptions, Rejection, parse

STDIN = "-"


def run_map(
    paths: list[str],
    settings: Settings,
    stdout: BinaryIO,
    stderr: TextIO,
    stdin: BinaryIO | None = None,
) -> int:
    """Map every input in order with one in-memory Mapper; 2 if a file cannot be read."""
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
            outcome = mapper.map_notification(notification)
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
