"""mParticle's audience output (the Firehose protocol) -> reward requests, and its answers.

Pure: a parsed request in, what to answer and what to produce out. The HTTP side (auth,
Kafka, timing) is streams/edges/firehose.py. The messages and answers are mParticle's
Firehose SDK model (../shared/conformance/mparticle-firehose: the tests validate against
its schemas).

A marketer connects an audience to this output with the SBA action reference(s) of an AIR
behavioural-action trigger, comma-separated (`audience_subscription_settings`); each user
who enters the audience (`action: add`, or the legacy `added_audiences`) becomes one reward
request per audience and action reference, for the user's raw identity of the configured
type. A hashed identity cannot find a wallet: such a profile is rejected (`no_raw_identity`).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from mappers.rewards import RewardRequest

NAME = "Eagle Eye AIR"
DESCRIPTION = (
    "Rewards each user who enters a connected audience in Eagle Eye AIR, through an AIR"
    " behavioural-action (SBA) trigger: points or coupons, once per user, audience and"
    " action reference."
)
VERSION = "1.0"
FIREHOSE_VERSION = "2.7.0"
# Setting ids: mParticle stores what the customer enters under them.
CONNECTOR_ID = "air_connector_id"
EXTERNAL_KEY = "air_external_key"
ACTION_REFERENCES = "action_references"


def answer(kind: str, request_id: str | None, **fields: Any) -> dict[str, Any]:
    """A response message: its type, an id (the request's when it is a UUID), a time."""
    return {
        "type": kind,
        "id": request_id if _is_uuid(request_id) else str(uuid.uuid4()),
        "timestamp_ms": int(datetime.now(UTC).timestamp() * 1000),
        "firehose_version": FIREHOSE_VERSION,
        **fields,
    }


def registration(request_id: str | None, identity_type: str) -> dict[str, Any]:
    """What this output is and needs: the AIR identity as a raw user identity; per account,
    the AIR connector id and external key; per audience, the SBA action reference(s)."""
    return answer(
        "module_registration_response",
        request_id,
        name=NAME,
        description=DESCRIPTION,
        version=VERSION,
        permissions={
            "user_identities": [{"type": identity_type, "encoding": "raw", "required": True}]
        },
        audience_processing_registration={
            "account_settings": [
                _text(CONNECTOR_ID, "AIR Connector ID", "the connector id Eagle Eye gave you"),
                _text(EXTERNAL_KEY, "AIR external Key", "the key to call the connector with", True),
            ],
            "audience_subscription_settings": [
                _text(
                    ACTION_REFERENCES,
                    "Action reference",
                    "the AIR SBA action reference(s) to trigger, comma-separated",
                ),
            ],
        },
    )


def _text(
    setting_id: str, name: str, description: str, confidential: bool = False
) -> dict[str, Any]:
    return {
        "type": "text",
        "id": setting_id,
        "name": name,
        "description": description,
        "required": True,
        "confidential": confidential,
        "visible": True,
    }


def action_references(settings: Any) -> tuple[str, ...]:
    """The SBA action references of an audience's settings ("A, B" -> ("A", "B"))."""
    raw = settings.get(ACTION_REFERENCES) if isinstance(settings, Mapping) else None
    if not isinstance(raw, str):
        return ()
    return tuple(part.strip() for part in raw.split(",") if part.strip())


class FirehoseFault(StrEnum):
    """Why a profile of a membership change cannot be rewarded (the dead letter's kind)."""

    NO_RAW_IDENTITY = "no_raw_identity"  # hashed, or no identity of the configured type
    NO_ACTION_REFERENCE = "no_action_reference"  # the audience was connected without one


@dataclass(frozen=True, slots=True)
class Rejected:
    """A profile that cannot be rewarded for these audiences: one dead letter, carrying that
    profile (at `position` in `user_profiles`), never the whole request."""

    position: int
    audience_ids: tuple[str, ...]
    fault: FirehoseFault
    why: str


@dataclass
class Membership:
    """What a membership change request asks for."""

    rewards: list[RewardRequest] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)  # add, delete, attribute_update, ...


def shape_problem(request: Mapping[str, Any]) -> str | None:
    """Why a membership change is malformed (the edge answers 400 with it), or None. No
    `user_profiles` at all is mParticle's verification request."""
    profiles = request.get("user_profiles")
    if profiles is None:
        return None
    if not isinstance(profiles, list):
        return "user_profiles is not a list"
    for position, profile in enumerate(profiles):
        if not isinstance(profile, Mapping):
            return f"user_profiles[{position}] is not an object"
    return None


def without_account_settings(request: Mapping[str, Any]) -> dict[str, Any]:
    """The request as the fan-out needs it: the account's settings (the AIR external key,
    which the registration marks confidential) checked by the edge and dropped, so that
    they never reach Kafka."""
    account = request.get("account")
    if not isinstance(account, Mapping):
        return dict(request)
    kept = {name: value for name, value in account.items() if name != "account_settings"}
    return {**request, "account": kept}


def membership(
    request: Mapping[str, Any],
    identity_type: str,
    remembered: Mapping[str, tuple[str, ...]],
    at: datetime | None = None,
) -> Membership:
    """One reward request per profile x audience entered x action reference.
    `identity_type` is the Firehose name of the identity that carries the AIR identity;
    `remembered` has the action references of audiences subscribed earlier, for audiences
    that arrive without them."""
    out = Membership()
    request_id = str(request.get("id") or "")
    for position, profile in enumerate(_list(request.get("user_profiles"))):
        identity = _raw_identity(profile, identity_type)
        faults: dict[FirehoseFault, list[str]] = {}
        for audience in _entered(profile, out.counts):
            audience_id = str(audience.get("audience_id", ""))
            triggers = action_references(audience.get("audience_subscription_settings"))
            triggers = triggers or remembered.get(audience_id, ())
            if identity is None:
                faults.setdefault(FirehoseFault.NO_RAW_IDENTITY, []).append(audience_id)
            elif not triggers:
                faults.setdefault(FirehoseFault.NO_ACTION_REFERENCE, []).append(audience_id)
            else:
                out.rewards.extend(
                    RewardRequest.for_audience(
                        identity,
                        trigger,
                        audience_id=audience_id,
                        request_id=request_id,
                        audience_name=_text_or_none(audience.get("audience_name")),
                        at=at,
                    )
                    for trigger in triggers
                )
        for fault, audiences in faults.items():
            why = _WHY[fault].format(identity_type=identity_type)
            out.rejected.append(Rejected(position, tuple(audiences), fault, why))
    return out


_WHY = {
    FirehoseFault.NO_RAW_IDENTITY: "no raw {identity_type} identity (a hashed one finds no wallet)",
    FirehoseFault.NO_ACTION_REFERENCE: "no action reference for the audience",
}


def _entered(profile: Mapping[str, Any], counts: Counter[str]) -> list[Mapping[str, Any]]:
    """The audiences a profile entered; other actions are counted."""
    entered = []
    for audience in _list(profile.get("audiences")):
        action = str(audience.get("action", ""))
        counts[action] += 1
        if action == "add":
            entered.append(audience)
    for audience in _list(profile.get("added_audiences")):  # before Firehose SDK 2.0
        counts["add"] += 1
        entered.append(audience)
    if removed := len(_list(profile.get("removed_audiences"))):
        counts["delete"] += removed
    return entered


def _raw_identity(profile: Mapping[str, Any], identity_type: str) -> str | None:
    for identity in _list(profile.get("user_identities")):
        if identity.get("type") == identity_type and identity.get("encoding", "raw") == "raw":
            value = identity.get("value")
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _is_uuid(value: str | None) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
