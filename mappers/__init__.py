"""The mapping engine: Eagle Eye AIR event notifications -> mParticle S2S batches.

Pure code (no Kafka, HTTP or files). What it emits, event by event, is docs/mapping.md
(generated); decisions where AIR's data leaves a question open are in
docs/mapping-decisions.md.
"""

from mappers.errors import AirmpError, MissingOperation
from mappers.options import MappingOptions
from mappers.pos import void_lookup
from mappers.process import Outcome, process
from mappers.reading import Notification, Rejection, RejectReason, parse
from mappers.registry import FAMILIES, REGISTRY, family_of
from mappers.runner import Mapper
from mappers.state import PROFILE_ATTRIBUTES, WalletState

__all__ = [
    "FAMILIES",
    "PROFILE_ATTRIBUTES",
    "REGISTRY",
    "AirmpError",
    "Mapper",
    "MappingOptions",
    "MissingOperation",
    "Notification",
    "Outcome",
    "RejectReason",
    "Rejection",
    "WalletState",
    "family_of",
    "parse",
    "process",
    "void_lookup",
]
