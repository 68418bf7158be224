"""Delivery over HTTP: to mParticle's S2S Events API (`MParticleSink`) and to AIR's wallet
API (`AirClient`). No Faust and no settings here (`from_settings` reads them by name).
Both take option objects (sinks/options.py) and raise from one tree (sinks/errors.py)."""

from sinks.air import AIR_PACING, AirClient, AirOutcome, AirResult, auth_hash
from sinks.air_lookups import ReferenceLookups
from sinks.backoff import backoff_delay
from sinks.client import MParticleSink
from sinks.errors import (
    AirCredentialsRejected,
    AuthenticationFailed,
    CredentialsRejected,
    DeliveryError,
    NotSent,
)
from sinks.options import Pacing, RequestLimits, Retries
from sinks.report import DeliveryReport, RefusalReason, Refused, SinkObserver

__all__ = [
    "AIR_PACING",
    "AirClient",
    "AirCredentialsRejected",
    "AirOutcome",
    "AirResult",
    "AuthenticationFailed",
    "CredentialsRejected",
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
