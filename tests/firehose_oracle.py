"""mParticle's Firehose (audience output) JSON Schemas, draft-03, as a test oracle: what we
accept (requests) and what we answer (responses). The `$ref`s resolve locally by their
`id` URNs, so nothing is fetched."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jsonschema import Draft3Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT3

Check = Callable[[Any], list[str]]
MESSAGES = (
    "ModuleRegistrationRequest",
    "ModuleRegistrationResponse",
    "AudienceSubscriptionRequest",
    "AudienceSubscriptionResponse",
    "AudienceMembershipChangeRequest",
    "AudienceMembershipChangeResponse",
)


def load(schema_dir: str | Path) -> dict[str, Check]:
    """Message name (as MESSAGES) -> check(instance) -> errors."""
    documents = [json.loads(path.read_text()) for path in Path(schema_dir).glob("*_schema.json")]
    registry: Registry = Registry().with_resources(
        (doc["id"], Resource.from_contents(doc, default_specification=DRAFT3)) for doc in documents
    )
    by_name = {doc["id"].rsplit(":", 1)[-1]: doc for doc in documents}
    checks = {}
    for name in MESSAGES:
        validator = Draft3Validator(by_name[name], registry=registry)
        checks[name] = _errors_of(validator)
    return checks


def _errors_of(validator: Draft3Validator) -> Check:
    def check(instance: Any) -> list[str]:
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in validator.iter_errors(instance)
        ]

    return check
