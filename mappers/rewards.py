"""A reward request: what the reward topic carries, from its cause to AIR's /services/trigger.

A reward is asked for by an mParticle audience (a user entered an audience connected with
an AIR behavioural-action trigger) or by hand (`airmp reward`). Its `reference` becomes
AIR's `walletTransaction.reference`, the reward's idempotency key: it is derived from the
cause, so every re-delivery of the same cause (mParticle retrying a request, a worker
re-reading the topic after a crash) carries the same reference, and the connector never
asks AIR twice for one reward. Messages are keyed by `identity_value`, so one customer's
rewards stay in order.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

# Fixed: references derived from the same cause must stay the same across versions.
_NAMESPACE = uuid.UUID("3b1f4a52-8c9e-4d3b-9a63-5e0f2c7d1a94")
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class CauseKind(StrEnum):
    MPARTICLE_AUDIENCE = "mparticle_audience"  # a user entered a connected audience
    API = "api"  # asked for by hand or by another system (`airmp reward`)


class Cause(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: CauseKind
    request_id: str | None = None  # mParticle's request id, for an audience
    audience_id: str | None = None
    audience_name: str | None = None
    note: str | None = None  # free text for a request by hand


class RewardRequest(BaseModel):
    """One reward to ask AIR for: identity, SBA trigger references, idempotency reference."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identity_value: Text
    triggers: Annotated[tuple[Text, ...], Field(min_length=1, max_length=20)]
    reference: Reference
    cause: Cause
    requested_at: AwareDatetime

    @classmethod
    def for_audience(
        cls,
        identity_value: str,
        trigger: str,
        *,
        audience_id: str,
        request_id: str | None = None,
        audience_name: str | None = None,
        at: datetime | None = None,
    ) -> RewardRequest:
        """A user entered an audience connected with one SBA action reference: one reward
        per user, audience and action reference, ever (docs/mapping-decisions.md, "Audience
        rewards"). The reference is derived from those three alone, not from mParticle's
        request: its retries, a later request naming the same user and audience, and the
        user re-entering the audience after leaving it all map to the same reference, which
        the reward agent and AIR grant once. The request id is kept in the cause, to trace."""
        key = "|".join(("mparticle-audience", audience_id, identity_value, trigger))
        return cls(
            identity_value=identity_value,
            triggers=(trigger,),
            reference=f"mp-{uuid.uuid5(_NAMESPACE, key)}",
            cause=Cause(
                kind=CauseKind.MPARTICLE_AUDIENCE,
                request_id=request_id or None,
                audience_id=audience_id,
                audience_name=audience_name,
            ),
            requested_at=at or datetime.now(UTC),
        )

    @classmethod
    def by_hand(
        cls,
        identity_value: str,
        triggers: tuple[str, ...],
        *,
        reference: str | None = None,
        note: str | None = None,
        at: datetime | None = None,
    ) -> RewardRequest:
        """A reward asked for by hand: each call is a new cause (a new reference) unless
        the caller names one, to repeat a reward request safely."""
        return cls(
            identity_value=identity_value,
            triggers=triggers,
            reference=reference or f"api-{uuid.uuid4()}",
            cause=Cause(kind=CauseKind.API, note=note),
            requested_at=at or datetime.now(UTC),
        )

    @property
    def key(self) -> bytes:
        """The topic key: one customer's rewards in one partition, in order."""
        return self.identity_value.encode()

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))

    @classmethod
    def from_bytes(cls, raw: bytes) -> RewardRequest:
        """Raises pydantic's ValidationError (a ValueError) for anything else."""
        return cls.model_validate_json(raw)
