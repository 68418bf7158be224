"""Delivery over HTTP: to mParticle's S2S Events API (`MParticleSink`) and to AIR's wallet
API (`AirClient`). No Faust and no settings here (`from_settings` reads them by name)."""

from sinks.air import (
    AirClient,
    AirCredentialsRejected,
    AirOutcome,
    AirResult,
    NotSent,
    auth_hash,
)
from sinks.air_lookups import ReferenceLookups
from sinks.backoff import backoff_delay
from sinks.client import AuthenticationFailed, DeliveryError, MParticleSink
from sinks.options import Pacing, RequestLimits, Retries
from sinks.report import DeliveryReport, RefusalReason, Refused, SinkObserver

__all__ = [
    "AirClient",
    "AirCredentialsRejected",
    "AirOutcome",
    "AirResult",
    "AuthenticationFailed",
    "DeliveryError",
    "DeliveryReport",
    "MParticleSink",
    "NotSent",
    "Pacing",
    "ReferenceLookups",
    "RefusalReason",
    "Refused",
    "RequestLimits",
    "Retries",
    "SinkObserver",
    "auth_hash",
    "backoff_delay",
]
