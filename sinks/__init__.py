"""Delivery to mParticle's S2S Events API over HTTP: `MParticleSink` and what it takes and
returns. No Faust and no settings here (`MParticleSink.from_settings` reads them by name)."""

from sinks.client import AuthenticationFailed, DeliveryError, MParticleSink
from sinks.options import Pacing, RequestLimits, Retries
from sinks.report import DeliveryReport, RefusalReason, Refused, SinkObserver

__all__ = [
    "AuthenticationFailed",
    "DeliveryError",
    "DeliveryReport",
    "MParticleSink",
    "Pacing",
    "RefusalReason",
    "Refused",
    "RequestLimits",
    "Retries",
    "SinkObserver",
]
