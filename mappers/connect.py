"""Eagle Eye Connect's generic inbound contract -> a reward request.

`POST /in/{platform}/{connectorId}` with `{"type": "services/trigger", "body": {...}}`, as
Eagle Eye Connect's Segment and Braze destinations call it: the body is AIR's own
/services/trigger body. Its callers switch to this connector by changing a URL, so the
shapes are Connect's, exactly: a body that does not validate is answered 400
`{"message": "Validation error", "errors": [{"path": "body.identityValue", ...}]}`.

Here `walletTransaction.reference` may be absent: it is then derived from the request
(identity value and triggers), so the same request sent again is the same reward, which
AIR grants once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from mappers.rewards import Cause, CauseKind, RewardRequest

_NAMESPACE = uuid.UUID("5d0f6a4e-2b7c-4f8e-9a1d-7c3e2b1f0a68")  # fixed: references stay
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Reference(_Model):
    reference: Text


class _OptionalReference(_Model):
    reference: Text | None = None


class _TriggerBody(_Model):
    identityValue: Text
    walletTransaction: _OptionalReference | None = None
    triggers: Annotated[list[_Reference], Field(min_length=1, max_length=20)]


class _Inbound(_Model):
    type: Literal["services/trigger"]
    body: _TriggerBody


def validation_errors(error: ValidationError) -> list[dict[str, str]]:
    """pydantic's errors in Connect's shape: [{"path": "body.identityValue", "message"}]."""
    return [
        {
            "path": ".".join(str(part) for part in item["loc"]) or "body",
            "message": str(item["msg"]),
        }
        for item in error.errors()
    ]


def reward_request(raw: bytes, connector_id: str, at: datetime | None = None) -> RewardRequest:
    """The reward the request asks for; raises ValidationError (see `validation_errors`)
    or ValueError when the bytes are no JSON."""
    try:
        document: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    inbound = _Inbound.model_validate(document)
    body = inbound.body
    triggers = tuple(t.reference for t in body.triggers)
    given = body.walletTransaction.reference if body.walletTransaction else None
    key = "|".join(("connect", connector_id, body.identityValue, *triggers))
    return RewardRequest(
        identity_value=body.identityValue,
        triggers=triggers,
        reference=given or f"in-{uuid.uuid5(_NAMESPACE, key)}",
        cause=Cause(kind=CauseKind.API, note=f"Eagle Eye Connect inbound ({connector_id})"),
        requested_at=at or datetime.now(UTC),
    )
