"""The project's own Firehose requests, as mParticle's audience output sends them (for
tests and the demo; the schemas in ../shared/conformance/mparticle-firehose check them)."""

from __future__ import annotations

import uuid
from typing import Any

VERSION = "2.7.0"
CONNECTOR_ID = "connector-42"
EXTERNAL_KEY = "external-key-secret"
ACCOUNT_ID = 8100


def _message(kind: str, request_id: str | None = None) -> dict[str, Any]:
    return {
        "type": kind,
        "id": request_id or str(uuid.uuid4()),
        "timestamp_ms": 1764579600000,
        "firehose_version": VERSION,
    }


def account(connector_id: str = CONNECTOR_ID, key: str = EXTERNAL_KEY) -> dict[str, Any]:
    return {
        "account_id": ACCOUNT_ID,
        "account_settings": {"air_connector_id": connector_id, "air_external_key": key},
    }


def registration_request() -> dict[str, Any]:
    return _message("module_registration_request")


def subscription_request(
    audience_id: int, references: str | None, action: str = "add", **account_args: str
) -> dict[str, Any]:
    message = {
        **_message("audience_subscription_request"),
        "account": account(**account_args),
        "audience_id": audience_id,
        "audience_name": f"Audience {audience_id}",
        "action": action,
    }
    if references is not None:
        message["audience_subscription_settings"] = {"action_references": references}
    return message


def identity(kind: str, value: str, encoding: str = "raw") -> dict[str, str]:
    return {"type": kind, "encoding": encoding, "value": value}


def audience(
    audience_id: int, action: str = "add", references: str | None = "WELCOME5000"
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "audience_id": audience_id,
        "audience_name": f"Audience {audience_id}",
        "action": action,
    }
    if references is not None:
        entry["audience_subscription_settings"] = {"action_references": references}
    return entry


def profile(identities: list[dict[str, str]], audiences: list[dict[str, Any]]) -> dict[str, Any]:
    return {"user_identities": identities, "audiences": audiences, "mpid": "-8123"}


def membership_request(
    profiles: list[dict[str, Any]] | None, request_id: str | None = None, **account_args: str
) -> dict[str, Any]:
    message = {
        **_message("audience_membership_change_request", request_id),
        "account": account(**account_args),
    }
    if profiles is not None:
        message["user_profiles"] = profiles
    return message
