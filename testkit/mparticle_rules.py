"""What mParticle's Events API accepts in a batch: the local endpoint's rules.

Two validators, on purpose. `mappers.models` checks what this connector *emits*, strictly
(one spelling per identity key, only the fields the mapper writes, exact types): a batch
that fails there is a mapping bug, even if mParticle would take it. These rules check what
mParticle *accepts*, so that the local endpoint refuses only what the real one refuses and
any client can be tested against it: our sink, and mParticle's own SDK, which spells some
keys differently (`SDK_IDENTITY_SPELLINGS`). Both take their words from mappers.vocabulary.

The reference is mParticle's published schema (tests/oracle.py, patched as its README says):
these rules are at least as strict as it for what this connector sends, stricter by design
where a laxer value would only hide a mapping bug (`STRICTER_THAN_SCHEMA`), and laxer where
mParticle's own SDK shows the API takes more than the 2021 schema says (`LAXER_THAN_SCHEMA`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from mappers.vocabulary import (
    ACCEPTED_IDENTITY_KEYS,
    API_MAX_BATCH_BYTES,
    BATCH_FIELDS,
    COMMERCE_EVENT_TYPES,
    CUSTOM_EVENT_TYPES,
    ENVIRONMENTS,
    EVENT_TYPES,
    PRODUCT_ACTION_FIELDS,
    PRODUCT_ACTIONS,
)

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

STRICTER_THAN_SCHEMA = {
    "user_identities": "required, with at least one identity, every value a string",
    "events": "required, a list (the schema allows it absent or null)",
    "source_request_id": "a string when present (the schema allows any scalar)",
    "user_attributes": "list values hold strings only (the schema allows any scalar)",
    "event_type": "required on every event, and data an object",
}
LAXER_THAN_SCHEMA = {
    "user_identities.customerid": "customer_id as mParticle's Python SDK (0.16.1) sends it",
}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


def batch_errors(batch: Any, size: int | None = None) -> list[str]:
    """Every problem found in one batch; empty when mParticle would accept it."""
    if not isinstance(batch, Mapping):
        return ["batch is not an object"]
    errors: list[str] = []
    size = len(orjson.dumps(batch)) if size is None else size
    if size > API_MAX_BATCH_BYTES:
        errors.append(f"batch is {size} bytes; the limit is {API_MAX_BATCH_BYTES}")
    unknown = sorted(set(batch) - BATCH_FIELDS)
    if unknown:
        errors.append(f"unknown batch fields: {', '.join(unknown)}")
    if batch.get("environment") not in ENVIRONMENTS:
        errors.append("environment must be 'development' or 'production'")
    _identities(batch.get("user_identities"), errors)
    _user_attributes(batch.get("user_attributes"), errors)
    deleted = batch.get("deleted_user_attributes")
    if deleted is not None and not (
        isinstance(deleted, list) and all(isinstance(n, str) for n in deleted)
    ):
        errors.append("deleted_user_attributes must be a list of strings")
    srid = batch.get("source_request_id")
    if srid is not None and not isinstance(srid, str):
        errors.append("source_request_id must be a string")
    for name in ("mpid", "origin_mpid", "timestamp_unixtime_ms", "batch_id"):
        if batch.get(name) is not None and not _is_int(batch[name]):
            errors.append(f"{name} must be an integer")
    if batch.get("mp_deviceid") is not None and not _uuid(batch["mp_deviceid"]):
        errors.append("mp_deviceid must be a UUID")
    events = batch.get("events")
    if not isinstance(events, list):
        errors.append("events must be a list")
    else:
        for i, event in enumerate(events):
            errors.extend(f"events[{i}]: {e}" for e in _event_errors(event))
    return errors


def _uuid(value: Any) -> bool:
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def _identities(value: Any, errors: list[str]) -> None:
    if not isinstance(value, Mapping) or not value:
        errors.append("user_identities must be an object with at least one identity")
        return
    for key, identity in value.items():
        if key not in ACCEPTED_IDENTITY_KEYS:
            errors.append(f"user_identities: unknown identity type {key!r}")
        elif not isinstance(identity, str) or not identity:
            errors.append(f"user_identities.{key} must be a non-empty string")


def _user_attributes(value: Any, errors: list[str]) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        errors.append("user_attributes must be an object")
        return
    for name, v in value.items():
        ok = _is_scalar(v) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
        if not ok:
            errors.append(f"user_attributes.{name} must be a scalar or a list of strings")


def _scalar_map(value: Any, where: str, errors: list[str], strings: bool = False) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        errors.append(f"{where} must be an object")
        return
    for name, v in value.items():
        if not (isinstance(v, str) if strings else _is_scalar(v)):
            errors.append(f"{where}.{name} must be a {'string' if strings else 'scalar'}")


def _event_errors(event: Any) -> list[str]:
    if not isinstance(event, Mapping):
        return ["event is not an object"]
    errors: list[str] = []
    event_type = event.get("event_type")
    if event_type not in EVENT_TYPES:
        errors.append(f"event_type {event_type!r} is not an mParticle event type")
    if set(event) - {"event_type", "data"}:
        errors.append("an event has only event_type and data")
    data = event.get("data")
    if not isinstance(data, Mapping):
        return [*errors, "data must be an object"]
    for name in ("timestamp_unixtime_ms", "event_id", "session_id", "event_num"):
        if data.get(name) is not None and not _is_int(data[name]):
            errors.append(f"data.{name} must be an integer")
    for name in ("source_message_id", "session_uuid"):
        if data.get(name) is not None and not _uuid(data[name]):
            errors.append(f"data.{name} must be a UUID")
    _scalar_map(data.get("custom_attributes"), "data.custom_attributes", errors)
    _scalar_map(data.get("custom_flags"), "data.custom_flags", errors)
    if event_type == "custom_event":
        if not isinstance(data.get("event_name"), str):
            errors.append("data.event_name is required and must be a string")
        if data.get("custom_event_type") not in CUSTOM_EVENT_TYPES:
            errors.append(f"data.custom_event_type must be one of {', '.join(CUSTOM_EVENT_TYPES)}")
    elif event_type == "commerce_event":
        _commerce(data, errors)
    elif event_type == "screen_view" and not isinstance(data.get("screen_name"), str):
        errors.append("data.screen_name is required and must be a string")
    return errors


def _commerce(data: Mapping[str, Any], errors: list[str]) -> None:
    cet = data.get("custom_event_type")
    if cet is not None and cet not in COMMERCE_EVENT_TYPES:
        errors.append(f"data.custom_event_type {cet!r} is not a commerce event type")
    if not _is_scalar(data.get("event_name")) or not _is_scalar(data.get("currency_code")):
        errors.append("data.event_name and data.currency_code must be scalars")
    action = data.get("product_action")
    if action is None:
        return
    if not isinstance(action, Mapping):
        errors.append("data.product_action must be an object")
        return
    if action.get("action") not in PRODUCT_ACTIONS:
        errors.append(f"product_action.action must be one of {', '.join(PRODUCT_ACTIONS)}")
    if set(action) - PRODUCT_ACTION_FIELDS:
        errors.append(
            f"unknown product_action fields: {sorted(set(action) - PRODUCT_ACTION_FIELDS)}"
        )
    for name in ("total_amount", "tax_amount", "shipping_amount"):
        if action.get(name) is not None and not _is_number(action[name]):
            errors.append(f"product_action.{name} must be a number")
    if action.get("transaction_id") is not None and not isinstance(action["transaction_id"], str):
        errors.append("product_action.transaction_id must be a string")
    products = action.get("products")
    if products is None:
        return
    if not isinstance(products, list):
        errors.append("product_action.products must be a list")
        return
    for i, product in enumerate(products):
        where = f"product_action.products[{i}]"
        if not isinstance(product, Mapping):
            errors.append(f"{where} must be an object")
            continue
        for name in ("id", "name"):
            if name in product and not isinstance(product[name], str):
                errors.append(f"{where}.{name} must be a string")
        for name in ("price", "quantity", "total_product_amount"):
            if product.get(name) is not None and not _is_number(product[name]):
                errors.append(f"{where}.{name} must be a number")
        if product.get("position") is not None and not _is_int(product["position"]):
            errors.append(f"{where}.position must be an integer")
        _scalar_map(product.get("custom_attributes"), f"{where}.custom_attributes", errors, True)
