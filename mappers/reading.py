"""Tolerant reading of AIR notifications: bytes -> Notification, or a Rejection.

Parsing is one orjson.loads; request/response bodies are decoded only when a rule asks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from mappers.values import id_text


class RejectReason(StrEnum):
    """Why a notification cannot be mapped: low-cardinality, a metric label."""

    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    NO_EVENT_NAME = "no_event_name"
    NO_WALLET = "no_wallet"
    MISSING_OPERATION = "missing_operation"
    NO_IDENTITY = "no_identity"
    INVALID_NOTIFICATION = "invalid_notification"  # headers unusable: no eesEventId, bad date
    MAPPING_ERROR = "mapping_error"  # a mapper raised: a bug, or input no rule foresaw


@dataclass(frozen=True, slots=True)
class Rejection:
    """A notification the mapper cannot map, and why. The worker dead-letters it."""

    kind: RejectReason
    detail: str

    @property
    def reason(self) -> str:
        return f"{self.kind}: {self.detail}"


# (objectType in camelCase, operationType upper-case, objectValue)
Op = tuple[str, str, dict[str, Any]]

_RESOURCE_WALLET = re.compile(r"(?:^|/)wallet/(\d+)(?:/|$)")
_ENRICHMENT_PREFIX = "walletEntity_"


def object_type(name: str) -> str:
    """`WALLET_ACCOUNT_TRANSACTION_ENTITY` -> `walletAccountTransactionEntity`."""
    if "_" not in name and not name.isupper():
        return name
    first, *rest = name.lower().split("_")
    return first + "".join(part.capitalize() for part in rest)


def decode_json(value: Any) -> dict[str, Any] | None:
    """A body that is an object, a JSON string, or a JSON string escaped twice."""
    for _ in range(3):
        if isinstance(value, dict):
            return value
        if not isinstance(value, str | bytes):
            return None
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return value if isinstance(value, dict) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class Notification:
    """One AIR notification, read tolerantly. Only `parse` builds it."""

    __slots__ = (
        "_body",
        "_body_read",
        "doc",
        "enrichment",
        "event_date",
        "event_id",
        "event_name",
        "ops",
        "wallet_id",
    )

    def __init__(self, doc: dict[str, Any], event_name: str) -> None:
        self.doc = doc
        self.event_name = event_name
        headers = _dict(doc.get("headers"))
        self.event_id: str | None = id_text(headers.get("eesEventId"))
        date = headers.get("eventDate")
        self.event_date: str | None = date if isinstance(date, str) else None
        self.ops: list[Op] = _operations(doc.get("atomicOperations"))
        self.enrichment: dict[str, Any] = _dict(doc.get("enrichmentData"))
        self.wallet_id: str | None = _find_wallet(self.ops, self.enrichment, doc.get("request"))
        self._body: dict[str, Any] | None = None
        self._body_read = False

    @property
    def request_body(self) -> dict[str, Any] | None:
        """`request.body` decoded (once), or None when absent or not a JSON object."""
        if not self._body_read:
            self._body = decode_json(_dict(self.doc.get("request")).get("body"))
            self._body_read = True
        return self._body

    def identities(self) -> list[dict[str, Any]]:
        """The wallet's identities from enrichmentData (only those of this event's wallet)."""
        entry = self.enrichment.get(_ENRICHMENT_PREFIX + (self.wallet_id or ""))
        found = _dict(entry).get("identities")
        return [i for i in found if isinstance(i, dict)] if isinstance(found, list) else []

    def values(self, object_type: str) -> list[tuple[str, dict[str, Any]]]:
        """(operationType, objectValue) of the operations on one object type, in AIR's order."""
        return [(op, value) for kind, op, value in self.ops if kind == object_type]

    def __repr__(self) -> str:
        return f"Notification({self.event_name!r}, id={self.event_id!r}, wallet={self.wallet_id!r})"


def _operations(raw: Any) -> list[Op]:
    if not isinstance(raw, list):
        return []
    ops: list[Op] = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        kind, op, value = item.get("objectType"), item.get("operationType"), item.get("objectValue")
        if isinstance(kind, str) and isinstance(value, dict):
            ops.append((object_type(kind), op.upper() if isinstance(op, str) else "", value))
    return ops


def _find_wallet(ops: list[Op], enrichment: dict[str, Any], request: Any) -> str | None:
    """docs/mapping.md §1, in order: wallet transaction, other operations, enrichment, resource."""
    live = deleted = None
    for kind, op, value in ops:
        if kind == "walletTransactionEntity" and (wallet := id_text(value.get("walletId"))):
            # OPEN releases another wallet's abandoned transaction with a DELETE: the
            # event's wallet is the one whose transaction lives on (the last such).
            if op != "DELETE":
                live = wallet
            elif deleted is None:
                deleted = wallet
    if live or deleted:
        return live or deleted
    for _kind, _op, value in ops:
        wallet = id_text(value.get("walletId"))
        if wallet is None and isinstance(account := value.get("account"), dict):
            wallet = id_text(account.get("walletId"))
        if wallet:
            return wallet
    for key in enrichment:
        if key.startswith(_ENRICHMENT_PREFIX) and len(key) > len(_ENRICHMENT_PREFIX):
            return key[len(_ENRICHMENT_PREFIX) :]
    resource = _dict(request).get("resource")
    if isinstance(resource, str) and (match := _RESOURCE_WALLET.search(resource)):
        return match.group(1)
    return None


def parse(raw: bytes | bytearray | memoryview | str) -> Notification | Rejection:
    """Parse the bytes once. Rejected here: not_json, not_object, no_event_name."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejection(RejectReason.NOT_JSON, str(exc)[:200])
    if not isinstance(doc, dict):
        return Rejection(RejectReason.NOT_OBJECT, f"the notification is a JSON {_json_type(doc)}")
    name = _dict(doc.get("headers")).get("eventName")
    if not isinstance(name, str) or not name.strip():
        return Rejection(RejectReason.NO_EVENT_NAME, "headers.eventName is missing or empty")
    return Notification(doc, name.strip())


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"
