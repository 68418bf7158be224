"""Small value helpers: AIR scalars -> mParticle strings and numbers, lookups that never raise."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def dig(value: Any, *keys: str) -> Any:
    """value[k1][k2]…, or None as soon as a level is not an object."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def lst(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def id_text(value: Any) -> str | None:
    """An AIR id as a non-empty string (AIR sends ids as strings, sometimes as numbers)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def num(value: Any) -> int | float | None:
    """A JSON number (not a boolean, not NaN/inf), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


def text(value: Any) -> str | None:
    """An attribute value as mParticle wants it: a string. Integers as decimal strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def major(minor: Any, exponent: int) -> int | float | None:
    """AIR minor units -> major units of the configured currency: 6300 GBP -> 63.0."""
    value = num(minor)
    if value is None:
        return None
    if exponent == 0:
        return value
    return value / 10**exponent


def compact(value: Any) -> str:
    """Stringified lists: compact JSON, keys in insertion order."""
    return orjson.dumps(value).decode()


def event_micros(date: str | None) -> int | None:
    """`headers.eventDate` (UTC, no offset) -> microseconds since the epoch."""
    if not isinstance(date, str):
        return None
    try:
        parsed = datetime.fromisoformat(date)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // _MICROSECOND


def put(target: dict[str, str], name: str, value: Any) -> None:
    """Set an attribute only when it has a value: never-known attributes are omitted."""
    if (as_text := text(value)) is not None:
        target[name] = as_text
