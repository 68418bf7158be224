"""The stream app's exceptions, beneath `mappers.errors.AirmpError` (the tree is drawn
there). Each is raised by one module and importable from it as before (`streams.kafka`,
`streams.edges.base`, `streams.edges.producer`, `streams.stopping`)."""

from __future__ import annotations

from mappers.errors import AirmpError


class BrokerError(AirmpError):
    """The broker cannot be used; the message is one line naming what to check.

    `retriable`: the broker answered with an error that may pass (Kafka's own flag)."""

    def __init__(self, message: str, *, retriable: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable


class KafkaUnavailable(AirmpError):
    """Kafka did not take the message in time: answer 429 and let the caller retry."""


class TooLarge(AirmpError):
    """A body over AIRMP_MAX_MESSAGE_BYTES: every edge answers 413 (`EdgeView.post`)."""


class Rebalancing(AirmpError):
    """The partitions are being revoked: leave the work in hand, uncompleted."""
