"""pydantic models of what this connector emits, to validate produced batches (strict).

The hot path builds plain dicts (batch.py) for speed; tests validate every batch with
`Batch.model_validate`. Limits are checked here and enforced (truncate + count) in batch.py.
What mParticle itself accepts, a wider set, is testkit/mparticle_rules.py (why two: there).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)

from mappers.vocabulary import (
    IDENTITY_KEYS,
    MAX_NAME,
    MAX_USER_ATTRIBUTES,
    MAX_VALUE,
    CustomEventType,
    EnvironmentName,
    ProductActionType,
)

Amount = StrictInt | StrictFloat
Uuid = Annotated[
    str,
    Field(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
]


def _check_attributes(value: dict[str, str], max_count: int | None = None) -> dict[str, str]:
    if max_count is not None and len(value) > max_count:
        raise ValueError(f"more than {max_count} attributes")
    for name, item in value.items():
        if len(name) > MAX_NAME:
            raise ValueError(f"attribute name longer than {MAX_NAME}: {name[:40]}…")
        if len(item) > MAX_VALUE:
            raise ValueError(f"value of {name} longer than {MAX_VALUE}")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Product(_Model):
    id: StrictStr | None = None
    name: StrictStr | None = None
    price: Amount | None = None
    quantity: Amount | None = None
    total_product_amount: Amount | None = None


class ProductAction(_Model):
    action: ProductActionType
    transaction_id: StrictStr | None = None
    total_amount: Amount | None = None
    products: list[Product] = []


class _EventData(_Model):
    timestamp_unixtime_ms: StrictInt
    source_message_id: Uuid
    custom_attributes: dict[StrictStr, StrictStr] | None = None

    @field_validator("custom_attributes")
    @classmethod
    def _limits(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else _check_attributes(value)


class CustomEventData(_EventData):
    event_name: Annotated[StrictStr, Field(min_length=1, max_length=MAX_NAME)]
    custom_event_type: CustomEventType


class CommerceEventData(_EventData):
    product_action: ProductAction
    currency_code: Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$")]


class CustomEvent(_Model):
    event_type: Literal["custom_event"]
    data: CustomEventData


class CommerceEvent(_Model):
    event_type: Literal["commerce_event"]
    data: CommerceEventData


class Batch(_Model):
    environment: EnvironmentName
    user_identities: dict[StrictStr, StrictStr]
    user_attributes: dict[StrictStr, StrictStr] | None = None
    deleted_user_attributes: list[StrictStr] | None = None
    events: list[Annotated[CustomEvent | CommerceEvent, Field(discriminator="event_type")]]
    source_request_id: Uuid

    @field_validator("user_identities")
    @classmethod
    def _identities(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(IDENTITY_KEYS)
        if unknown:
            raise ValueError(f"not mParticle identity keys: {sorted(unknown)}")
        if not any(value.values()):
            raise ValueError("a batch needs at least one identity")
        return value

    @field_validator("user_attributes")
    @classmethod
    def _user_attributes(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else _check_attributes(value, MAX_USER_ATTRIBUTES)


class Record(_Model):
    """The record (docs/mapping.md §2): the AIR event it came from, and the batch."""

    air: dict[StrictStr, StrictStr | None]
    batch: Batch


def validate_record(record: Any) -> Record:
    return Record.model_validate(record)
