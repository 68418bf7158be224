"""Mapping options: the subset of Settings the mapping engine needs, frozen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mappers.currencies import exponent
from mappers.vocabulary import ENVIRONMENTS, normalise_identity_key


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
