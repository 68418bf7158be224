"""mParticle's published Events API JSON Schema, patched as its README says, as a test oracle."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry, Resource

BATCH_SCHEMA = "mparticle.inbound.eventsapi.schema.json"
BULK_SCHEMA = "mparticle.inbound.eventsapi.bulk.schema.json"


def _patch(schema: dict[str, Any]) -> dict[str, Any]:
    """Close the 2021 schema's known gaps, and change nothing else."""
    props = schema["properties"]
    identities = props["user_identities"]["properties"]
    for key in [f"other_id_{n}" for n in range(5, 11)] + [
        "mobile_number",
        "phone_number_2",
        "phone_number_3",
    ]:
        identities.setdefault(key, {"$ref": "#/definitions/String"})
    props.setdefault("schema_version", {"type": ["integer", "null"]})
    props.setdefault("partner_identities", {"type": ["object", "null"]})
    consent = schema["definitions"]["ConsentState"]["properties"]
    consent.setdefault("ccpa", {"type": ["object", "null"]})
    _allow_enum_value(schema["definitions"]["CustomEvent"], "custom_event_type", "attribution")
    return schema


def _allow_enum_value(definition: dict[str, Any], field: str, value: str) -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            enum = node.get("enum")
            if isinstance(enum, list) and "other" in enum and value not in enum:
                enum.append(value)
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(definition)


def load(schema_dir: str | Path) -> tuple[Draft7Validator, Draft7Validator]:
    """(batch validator, bulk validator); the bulk one resolves the batch schema locally."""
    base = Path(schema_dir)
    batch = _patch(json.loads((base / BATCH_SCHEMA).read_text()))
    bulk = json.loads((base / BULK_SCHEMA).read_text())
    registry: Registry = Registry().with_resource(batch["$id"], Resource.from_contents(batch))
    checker = Draft7Validator.FORMAT_CHECKER
    return (
        Draft7Validator(batch, format_checker=checker),
        Draft7Validator(bulk, format_checker=checker, registry=registry),
    )


def errors_of(validator: Draft7Validator) -> Callable[[Any], list[str]]:
    def check(instance: Any) -> list[str]:
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in validator.iter_errors(instance)
        ]

    return check
