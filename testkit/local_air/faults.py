"""Faults on demand, the log of requests, and AIR's error answers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import orjson

log = logging.getLogger(__name__)


@dataclass
class Faults:
    """Fault injection on the API routes (not /_mock); each `*_next` counter applies to that
    many coming requests."""

    rate_limit_next: int = 0
    retry_after: float | None = 1.0  # seconds sent in Retry-After; None sends no header
    server_error_next: int = 0
    server_error_status: int = 503
    drop_next: int = 0  # drop the connection before doing anything
    delay_seconds: float = 0.0  # before doing anything
    # Grant (and record, and emit), then drop the connection without answering: the client
    # does not know that it was rewarded.
    drop_after_accept_next: int = 0
    # Grant, then hold the answer this long: a client that times out meanwhile was rewarded.
    delay_after_accept_seconds: float = 0.0
    # Behave as an AIR that does not de-duplicate references: a repeat rewards again.
    regrant_repeats: bool = False

    def update(self, changes: Mapping[str, Any]) -> None:
        """All the changes, or none of them (ValueError names the first one refused)."""
        defaults = Faults()
        for name, value in changes.items():
            if name not in self.__dataclass_fields__:
                raise ValueError(f"unknown fault {name!r}")
            default = getattr(defaults, name)
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            else:  # float, or retry_after's None
                ok = (value is None and name == "retry_after") or (
                    isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
                )
            if not ok:
                raise ValueError(f"fault {name}: {value!r} is not allowed")
        for name, value in changes.items():
            setattr(self, name, value)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RequestLog:
    method: str
    path: str
    status: int = 0  # -1: no answer (dropped)
    reference: str | None = None  # walletTransaction.reference of a trigger
    repeat: bool = False  # answered as the first request with that reference
    granted: bool = False
    dropped_after_accept: bool = False
    arrival: float = 0.0  # time.time()
    client_port: int | None = None  # the connection it came on: shows keep-alive


@dataclass(frozen=True, slots=True)
class TriggerAnswer:
    status: int
    body: bytes
    reference: str | None = None
    granted: bool = False
    repeat: bool = False


_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORISED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    411: "LENGTH_REQUIRED",
    429: "TOO_MANY_REQUESTS",
}


def error_body(status: int, message: str, code: str | None = None) -> bytes:
    """AIR's error answer: {"errorCode", "errorMessage"}."""
    return orjson.dumps(
        {"errorCode": code or _CODES.get(status, "SERVER_ERROR"), "errorMessage": message}
    )
