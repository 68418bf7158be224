"""The rows of `airmp check` and their two renderings: pure, no I/O.

A row is one check: its name, its status and one line of reason. The reason is built from
setting names, topic names, counts and HTTP statuses only, never from a secret's value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum

import orjson


class Status(StrEnum):
    ok = "ok"
    fail = "FAIL"
    skip = "skip"  # not configured, or not reachable because an earlier check failed


@dataclass(frozen=True)
class Row:
    name: str
    status: Status
    reason: str


def ok(name: str, reason: str) -> Row:
    return Row(name, Status.ok, reason)


def fail(name: str, reason: str) -> Row:
    return Row(name, Status.fail, reason)


def skip(name: str, reason: str) -> Row:
    return Row(name, Status.skip, reason)


def exit_status(rows: Iterable[Row]) -> int:
    """1 when any check failed; a skipped check is no failure."""
    return 1 if any(r.status is Status.fail for r in rows) else 0


def render_table(rows: list[Row]) -> str:
    header = ("CHECK", "STATUS", "REASON")
    body = [(r.name, r.status.value, r.reason) for r in rows]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(2)]
    lines = [
        f"{name.ljust(widths[0])}  {status.ljust(widths[1])}  {reason}".rstrip()
        for name, status, reason in [header, *body]
    ]
    failed = sum(r.status is Status.fail for r in rows)
    lines.append(f"{len(rows)} checks, {failed} failed")
    return "\n".join(lines)


def render_json(rows: list[Row]) -> str:
    return orjson.dumps(
        {
            "ok": exit_status(rows) == 0,
            "checks": [{**asdict(r), "status": r.status.value} for r in rows],
        }
    ).decode()
