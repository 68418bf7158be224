"""Mapping options: the subset of Settings the mapping engine needs, frozen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mappers.currencies import exponent
from mappers.vocabulary import ENVIRONMENTS, normalise_identity_key

# TEMPORARY (branch wt-air): a local copy of config.settings.normalise_identity_key, so that
# mappers does not import config (an import cycle); the lead resolves it at merge.
_IDENTITY_KEYS: tuple[str, ...] = (
    "customer_id",
    "email",
    "other",
    *(f"other_id_{n}" for n in range(2, 11)),
    "mobile_number",
    "phone_number_2",
    "phone_number_3",
    "facebook",
    "facebook_custom_audience_id",
    "google",
    "twitter",
    "microsoft",
    "yahoo",
    "alias",
)
_COMPACT_IDENTITY_KEYS = {key.replace("_", ""): key for key in _IDENTITY_KEYS}


def normalise_identity_key(value: str) -> str:
    """`customerid`, `Customer_ID`, `otherid2` -> mParticle's underscored key."""
    compact = value.strip().lower().replace("_", "").replace("-", "")
    try:
        return _COMPACT_IDENTITY_KEYS[compact]
    except KeyError:
        raise ValueError(
            "must be an mParticle identity type: " + ", ".join(_IDENTITY_KEYS)
        ) from None


@dataclass(frozen=True, slots=True)
class MappingOptions:
    identity_type: str = "CARD"
    mparticle_identity_type: str = "other"
    mparticle_wallet_id_type: str = "customer_id"
    currency: str = "GBP"
    environment: str = "development"
    dedup_window_seconds: int = 7 * 24 * 3600
    dedup_max_ids: int = 256
    recent_transactions_max: int = 64
    dedup: bool = True
    strict: bool = False  # process() re-raises what a mapper raises (tests), not a rejection

    def __post_init__(self) -> None:
        # Built directly in tests and tools too, so accept what Settings accepts.
        set_ = object.__setattr__
        set_(self, "identity_type", self.identity_type.strip().upper())
        set_(self, "mparticle_identity_type", normalise_identity_key(self.mparticle_identity_type))
        set_(
            self, "mparticle_wallet_id_type", normalise_identity_key(self.mparticle_wallet_id_type)
        )
        set_(self, "currency", self.currency.strip().upper())
        env = str(self.environment)
        if env not in ENVIRONMENTS:
            raise ValueError(f"environment must be production or development, not {env!r}")
        set_(self, "environment", env)

    @property
    def currency_exponent(self) -> int:
        return exponent(self.currency)

    @classmethod
    def from_settings(cls, settings: Any, *, dedup: bool = True) -> MappingOptions:
        return cls(
            identity_type=settings.identity_type,
            mparticle_identity_type=settings.mparticle_identity_type,
            mparticle_wallet_id_type=settings.mparticle_wallet_id_type,
            currency=settings.currency,
            environment=str(settings.mparticle_environment),
            dedup_window_seconds=settings.dedup_window_seconds,
            dedup_max_ids=settings.dedup_max_ids,
            recent_transactions_max=settings.recent_transactions_max,
            dedup=dedup,
        )
